"""The login gate through AppTest (the whole app, ``dashboard/app.py``): who gets in, what a
store without accounts shows, expiry, disable at once, the kiosk token. Real-browser checks per
role are in test_auth_browser.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import t
from layers.auth import Accounts
from layers.store import open_store

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PW = "correct horse 1"


def _app(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.title, *at.markdown, *at.caption, *at.error, *at.warning,
                               *at.info, *at.subheader)]
    parts += [str(m.value) for m in at.metric]
    return "\n".join(str(p) for p in parts)


def _login(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_user").input(name)
    at.text_input(key="login_password").input(password)
    return next(b for b in at.button if b.label == t("auth_login")).click().run()


@pytest.fixture
def secured(app_store) -> Path:
    accts = Accounts(app_store)
    accts.add("admin", "admin", password=PW, by="test")
    accts.add("shao", "sentinel", password=PW, grids=["500106110001001"], by="test")
    return app_store


def test_the_open_demo_needs_no_login(app_store):
    at = _app()
    assert not at.exception
    assert t("auth_demo_open") in [c.value for c in at.sidebar.caption]
    assert t("page_map") in [x.value for x in at.title]


def test_a_store_with_accounts_shows_only_the_login_form(secured):
    at = _app()
    assert not at.exception
    assert [b.label for b in at.button] == [t("auth_login")]
    assert {w.key for w in at.text_input} == {"login_user", "login_password"}
    assert "500106110001" not in _texts(at)  # nothing of the store before login
    at = _login(at, "admin", "wrong password")
    assert [e.value for e in at.error] == [t("auth_failed")]
    at = _login(at, "admin", PW)
    assert not at.exception and not at.error
    assert t("page_map") in [x.value for x in at.title]
    assert any("admin" in m.value for m in at.sidebar.markdown)
    assert Accounts(secured).audit_log(action="login")["user"].tolist() == ["admin"]


def test_a_real_store_without_accounts_shows_how_to_create_the_first_admin(app_store):
    open_store(app_store).transform(lambda _cur: {}, meta={"fictional": "false"})
    at = _app()
    assert not at.exception
    assert [w.value for w in at.warning] == [t("auth_no_accounts")]
    assert "users add" in at.code[0].value and "--role admin" in at.code[0].value
    assert not at.text_input and "500106110001" not in _texts(at)


def test_login_expires(secured, monkeypatch):
    at = _login(_app(), "shao", PW)
    assert t("page_map") in [x.value for x in at.title]
    monkeypatch.setenv("WANGGE_NOW", "2026-11-20T20:00:01")  # 8 h and a second later
    at.run()
    assert t("auth_expired") in [i.value for i in at.info]
    assert [b.label for b in at.button] == [t("auth_login")]


def test_a_disabled_account_is_logged_out_on_its_next_click(secured):
    at = _login(_app(), "shao", PW)
    assert t("page_map") in [x.value for x in at.title]
    Accounts(secured).disable("shao", by="admin")
    at.run()
    assert [b.label for b in at.button] == [t("auth_login")]


def test_kiosk_token_opens_the_wall_only_until_revoked(secured):
    token = Accounts(secured).add("hall", "kiosk", by="test")
    assert token
    at = _app(token=token)
    assert not at.exception and not at.text_input  # no login form
    assert not any(x.value == t("page_map") for x in at.title)  # the wall, not the map
    Accounts(secured).disable("hall", by="admin")
    at = _app(token=token)
    assert [e.value for e in at.error] == [t("auth_bad_token")]
    at = _app(token="x" * 43)
    assert [e.value for e in at.error] == [t("auth_bad_token")]


def test_a_sentinel_cannot_open_a_grid_outside_its_scope(secured):
    at = _login(_app(sel="500106110002001"), "shao", PW)
    assert not at.exception
    assert t("auth_out_of_scope") in [c.value for c in at.caption]
