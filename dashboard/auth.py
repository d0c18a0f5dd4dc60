"""Who is using this session: the login gate in front of every page.

- A store with at least one account always requires login (username, password, 登录); the
  login lives in this session's server-side state only (no cookie, nothing in the URL) and
  expires after ``Settings.session_hours``; a disabled account is logged out on its next click.
- A store without accounts is served openly only when it is the labelled-fictional demo (as
  the operator :meth:`~layers.auth.Principal.operator` named 演示访客); a real store without
  accounts shows how to create the first administrator instead of its data.
- ``/wall?token=…`` opens the wall screen for a kiosk account's revocable token.
- Sites with an identity provider may configure Streamlit's OIDC (``[auth]`` in
  ``.streamlit/secrets.toml``): a signed-in user whose e-mail is an account's name gets that
  account's role and scope.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import shlex
from collections.abc import Sequence

import streamlit as st

from dashboard import data as appdata
from dashboard.i18n import t
from dashboard.text import md
from layers import clock
from layers.auth import Principal
from layers.auth.accounts import Accounts, LockedOut, LoginFailed
from layers.layerset import is_fictional
from layers.settings import DEFAULT_SETTINGS

log = logging.getLogger(__name__)

_SESSION = "_auth_session"
_PRINCIPAL = "_principal"
#: The name the open fictional demo records as ``by``.
DEMO_VISITOR = "演示访客"


def principal() -> Principal:
    """This run's principal, set by :func:`gate` (``app.py`` runs it before every page); a page
    rendered on its own (tests) runs the gate itself, so it is never open by mistake."""
    p = st.session_state.get(_PRINCIPAL)
    if isinstance(p, Principal):
        return p
    from dashboard.state import lang, store_key  # state imports this module

    return gate(store_key(), lang())


def audit(key: str, action: str, target: str = "", detail: str = "") -> None:
    """Append an audit entry for this session's principal to the store of ``key`` (a store
    key: :func:`dashboard.data.store_key`); a failure is logged, never shown: the user's
    action already happened."""
    try:
        appdata.accounts(key).audit(principal().name, action, target, detail)
    except Exception:  # pragma: no cover - a broken audit table must not break the page
        log.exception("audit entry %s %s failed", action, target)


def gate(key: str, lang: str, url_paths: Sequence[str] = ()) -> Principal:
    """The principal of this run on the store of ``key``, or stop the page at the login form
    / set-up notice.

    The login form answers at every page's address (``url_paths``), so the page asked for —
    ``/people?sel=…`` from a shared link — is the one shown after logging in."""
    st.session_state.pop(_PRINCIPAL, None)  # never last run's principal
    p = _resolve(key, lang)
    if p is None:
        form = functools.partial(login_form, appdata.accounts(key), key, lang)
        st.navigation([st.Page(form, title=t("auth_login_title", lang), url_path=u or "login",
                               default=i == 0) for i, u in enumerate(url_paths or ("",))],
                      position="hidden").run()
        st.stop()
    st.session_state[_PRINCIPAL] = p
    return p


def _resolve(key: str, lang: str) -> Principal | None:
    accts = appdata.accounts(key)
    token = st.query_params.get("token")
    if token:
        kiosk = accts.by_token(token) if len(token) <= 128 else None
        if kiosk is not None:
            return kiosk
        st.error(t("auth_bad_token", lang))
        st.stop()
    if not accts.exists():
        if _fictional(key):
            return Principal.operator(DEMO_VISITOR)
        _first_admin_notice(key, lang)
        st.stop()
    return _session_principal(accts, key, lang) or _oidc_principal(accts, key)


def _fictional(key: str) -> bool:
    return is_fictional(appdata.open_key(key).meta())


def _session_principal(accts: Accounts, key: str, lang: str) -> Principal | None:
    """The logged-in account of this session, re-read (a disable takes effect at once)."""
    s = st.session_state.get(_SESSION)
    if not isinstance(s, dict) or s.get("store") != key:
        return None  # never a login of another store
    started = dt.datetime.fromisoformat(s["at"])
    if clock.now() - started > dt.timedelta(hours=DEFAULT_SETTINGS.session_hours):
        del st.session_state[_SESSION]
        st.info(t("auth_expired", lang))
        return None
    p = accts.principal(s["name"])
    if p is None:
        del st.session_state[_SESSION]
    return p


def _oidc_principal(accts: Accounts, key: str) -> Principal | None:
    """An OIDC sign-in (``st.login``) whose e-mail names an enabled account."""
    if not _oidc_configured():
        return None
    user = st.user
    email = user.get("email") if user.get("is_logged_in") else None
    if not isinstance(email, str):
        return None
    p = accts.principal(email)
    if p is not None and st.session_state.get(_SESSION, {}).get("name") != email:
        st.session_state[_SESSION] = {"name": email, "store": key,
                                      "at": clock.now().isoformat()}
        accts.audit(email, "login", detail="oidc")
    return p


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file: no OIDC
        return False


def login_form(accts: Accounts, key: str, lang: str) -> None:
    """The login form: username, password and a button 登录."""
    _, mid, _ = st.columns([1, 2, 1])
    with mid:
        st.title(t("app_title", lang))
        st.subheader(t("auth_login_title", lang))
        with st.form("login", clear_on_submit=False, enter_to_submit=True):
            name = st.text_input(t("auth_user", lang), max_chars=64, key="login_user")
            password = st.text_input(t("auth_password", lang), type="password",
                                     max_chars=256, key="login_password")
            sent = st.form_submit_button(t("auth_login", lang), type="primary")
        if sent:
            _try_login(accts, key, lang, name.strip(), password)
        if _oidc_configured():
            st.button(t("auth_oidc", lang), on_click=st.login)


def _try_login(accts: Accounts, key: str, lang: str, name: str, password: str) -> None:
    try:
        p = accts.authenticate(name, password)
    except LockedOut:
        st.error(t("auth_locked", lang).format(minutes=int(DEFAULT_SETTINGS.lockout_minutes)))
        return
    except LoginFailed:
        st.error(t("auth_failed", lang))
        return
    st.session_state.pop("login_password", None)
    st.session_state[_SESSION] = {"name": p.name, "store": key,
                                  "at": clock.now().isoformat()}
    st.rerun()


def logout(key: str) -> None:
    s = st.session_state.pop(_SESSION, None)
    if isinstance(s, dict):
        appdata.accounts(key).audit(s["name"], "logout")
    if _oidc_configured() and st.user.get("is_logged_in"):
        st.logout()


def sidebar_account(key: str, p: Principal, lang: str) -> None:
    """Who is logged in, their role and scope, and 退出登录."""
    if p.name == DEMO_VISITOR and not appdata.accounts(key).exists():
        st.sidebar.caption(t("auth_demo_open", lang))
        return
    scope = ", ".join(sorted(p.communities | p.grids))
    st.sidebar.markdown(f"**{md(p.name)}** · {t('role_' + p.role, lang)}"
                        + (f"  \n{md(scope)}" if scope else ""))
    if p.role != "kiosk":
        st.sidebar.button(t("auth_logout", lang), on_click=logout, args=(key,),
                          key="logout")


def _first_admin_notice(key: str, lang: str) -> None:
    st.title(t("app_title", lang))
    st.warning(t("auth_no_accounts", lang))
    st.code(f"python -m layers users add {shlex.quote(appdata.shown_name(key))} "
            "--name admin --role admin --password-file PASSWORD.txt", language="bash")
    st.caption(t("auth_no_accounts_help", lang))
