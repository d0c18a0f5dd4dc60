"""Login, roles, scope and audit (issue 14) in a real browser, one account per role.

A private copy of the demo store gets accounts made with the CLI (``python -m layers users
add``): admin, community (one community), sentinel (two grids), planner, leader, kiosk, and
one account that is locked out on purpose. One Streamlit server serves the module; every
user has a browser context of its own. A login lives in the Streamlit session only (no
cookie), so a ``goto`` starts a new, logged-out session: a test opens the page it wants,
logs in there and moves on through the sidebar.

- Login required: every page shows only the login form; a wrong password gets one plain
  message; the fifth wrong try locks the name (the right password is refused too); the audit
  log has the failures.
- The sidebar of each role offers its pages only; a page opened by URL that the role may
  not open is not shown.
- Scope is checked on what is *sent*: every WebSocket frame the browser receives is kept
  and searched (as text, ``\\uXXXX`` escapes decoded) for grid and building codes, ticket
  ids, people's full names and phone numbers that the account may not see.
- Writes and reveals carry the account's name (``tickets show``, ``audit --format json``).
- The kiosk token, an account disabled while its session is open, the audit page and an
  export, and the sentinel's ticket intake on a 390 px phone.
- Regressions for the product bugs these tests found: a scoped role's tickets page failing
  on its exports, ticket writes lost after the 审计 page, 'page not found' over the kiosk's
  wall.
"""

from __future__ import annotations

import html
import json
import os
import re
from urllib.parse import urlparse

import pytest
from browserkit import ARTIFACTS, shot, streamlit_server
from clikit import run_cli
from conftest import copy_store

from dashboard.i18n import MESSAGES, t
from layers.auth import Principal
from layers.auth.principal import HANDLER_MOVES
from layers.tickets import TicketStore, workflow

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

LOAD = 90_000  # a first page load for a scope (its data and analyses are read once)
PASSWORD = "grid-pass-2026"
COMMUNITY = "500106110004"  # 长居社区: the community worker's one community
SENTINEL_COMMUNITY = "500106110003"  # the sentinel's two grids are in 杨家坪社区
NAMES = {"admin": "admin01", "community": "comm01", "sentinel": "sentinel01",
         "planner": "planner01", "leader": "leader01", "kiosk": "kiosk01",
         "victim": "victim01"}
#: The pages (titles) each role's sidebar offers.
PAGE_KEYS = ("page_map", "page_coverage", "page_reach", "page_tickets", "page_people",
             "page_data", "page_audit", "page_wall")
NAV = {
    "admin": set(PAGE_KEYS),
    "community": {"page_map", "page_coverage", "page_reach", "page_tickets", "page_people"},
    "sentinel": {"page_map", "page_tickets", "page_people"},
    "planner": {"page_map", "page_coverage", "page_reach"},
    "leader": {"page_map", "page_coverage", "page_reach", "page_tickets", "page_wall"},
}
#: Pages each role may not open, tried by URL (their path, their title key).
FORBIDDEN = {
    "admin": [],
    "community": [("audit", "page_audit"), ("wall", "page_wall")],
    "sentinel": [("coverage", "page_coverage"), ("audit", "page_audit")],
    "planner": [("people", "page_people"), ("tickets", "page_tickets")],
    "leader": [("people", "page_people"), ("data", "page_data")],
}
#: A page each role may open, tried by URL in the session.
ALLOWED = {"admin": "page_people", "community": "page_reach", "sentinel": "page_people",
           "planner": "page_coverage", "leader": "page_wall"}
#: The plain messages of a page that failed.
ERRORS = ("err_generic", "err_tickets_damaged", "auth_denied")


# -- the store, its accounts, the server -------------------------------------------------------

def _cli(*args: str) -> str:
    """``python -m layers ARGS``; its standard output (fails the test on an error)."""
    r = run_cli(*args)
    assert r.returncode == 0, f"layers {' '.join(args)}: {r.stderr[-1500:]}"
    return r.stdout


def _audit(town, **filters: str) -> list[dict]:
    args = [f"--{k}={v}" for k, v in filters.items()]
    return json.loads(_cli("audit", str(town), "--format", "json", *args))


@pytest.fixture(scope="module")
def town(tmp_path_factory, demo_file):
    return copy_store(demo_file, tmp_path_factory.mktemp("auth-browser") / "town.gpkg")


@pytest.fixture(scope="module")
def picks(demo):
    """What the tests look for: the sentinel's two grids and codes outside them."""
    b, g = demo.buildings, demo.grids
    per_grid = b.groupby("grid_code").size()
    mine = [c for c in g.loc[g.community_code == SENTINEL_COMMUNITY, "code"]
            if per_grid.get(c, 0) >= 3][:2]
    other = g[~g.community_code.isin([SENTINEL_COMMUNITY])]
    out_grids = other["code"].iloc[::17].tolist()[:6]
    out_buildings = b.loc[b.grid_code.isin(other["code"]), "code"].iloc[::211].tolist()[:8]
    return {"grids": mine, "out_grids": out_grids, "out_buildings": out_buildings,
            "out_grid_names": g.set_index("code").loc[out_grids, "name"].tolist()}


@pytest.fixture(scope="module")
def accounts(town, picks, tmp_path_factory):
    """The accounts, made with the CLI (one after another); the
    kiosk's token is the last line of its output."""
    pw = tmp_path_factory.mktemp("auth-secrets") / "password.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    runs = {
        "admin": ["--role", "admin"], "victim": ["--role", "planner"],
        "community": ["--role", "community", "--communities", COMMUNITY],
        "sentinel": ["--role", "sentinel", "--grids", ",".join(picks["grids"])],
        "planner": ["--role", "planner"], "leader": ["--role", "leader"],
        "kiosk": ["--role", "kiosk"],
    }

    def add(role: str) -> str:
        extra = [] if role == "kiosk" else ["--password-file", str(pw)]
        return _cli("users", "add", str(town), "--name", NAMES[role], *runs[role], *extra)

    out = {role: add(role) for role in runs}
    token = out["kiosk"].strip().splitlines()[-1]
    assert len(token) >= 32 and NAMES["kiosk"] not in token
    return {"token": token}


@pytest.fixture(scope="module")
def server(town, accounts):
    del accounts  # made before the server starts (it would see them anyway: read per run)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(town) as url:
        yield url


# -- the browser side --------------------------------------------------------------------------

_SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


def _settle(page, quiet_ms: int = 400) -> None:
    """Wait until the script run and the reruns that components ask for are over."""
    for _ in range(20):
        page.wait_for_function(_SETTLED, timeout=LOAD)
        page.wait_for_timeout(quiet_ms)
        if page.evaluate(_SETTLED):
            return


def _context(browser, width: int = 1440, height: int = 900):
    return browser.new_context(viewport={"width": width, "height": height})


def _record(page) -> list[bytes]:
    """Every WebSocket frame the page receives, as bytes."""
    frames: list[bytes] = []

    def on_ws(ws) -> None:
        ws.on("framereceived", lambda f: frames.append(
            f if isinstance(f, bytes) else str(f).encode("utf-8")))

    page.on("websocket", on_ws)
    return frames


_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")


def _sent(frames: list[bytes]) -> str:
    """What the frames carry, as text: UTF-8, with JSON's ``\\uXXXX`` escapes (also doubly
    escaped, as a map's data inside a component's JSON) and HTML entities decoded."""
    text = b"\n".join(frames).decode("utf-8", "replace")
    return html.unescape(_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))


def _user_box(page, lang: str = "zh"):
    return page.locator(f'input[aria-label="{t("auth_user", lang)}"]')


def _login_form_shown(page, lang: str = "zh") -> None:
    _user_box(page, lang).wait_for(timeout=LOAD)
    _settle(page)


def _login(page, name: str, password: str = PASSWORD, lang: str = "zh") -> None:
    _login_form_shown(page, lang)
    _user_box(page, lang).fill(name)
    page.locator(f'input[aria-label="{t("auth_password", lang)}"]').fill(password)
    page.get_by_role("button", name=t("auth_login", lang), exact=True).click()
    page.wait_for_timeout(400)
    _settle(page)


def _open_as(ctx, server: str, path: str, role: str, ready: str | None = None):
    """A new page of ``ctx`` at ``path``, logged in as ``role`` there."""
    page = ctx.new_page()
    frames = _record(page)
    page.goto(server + path, wait_until="domcontentloaded")
    _login(page, NAMES[role])
    if ready:
        _heading(page, ready).wait_for(timeout=LOAD)
        _settle(page)
    return page, frames


_POP = """p => { history.pushState({}, '', p);
  window.dispatchEvent(new PopStateEvent('popstate', {state: {}})); }"""


def _visit(page, path: str) -> None:
    """Go to ``path`` by URL in this session (as the browser's back/forward buttons do: a
    ``goto`` would start a new, logged-out session)."""
    page.evaluate(_POP, path)
    page.wait_for_timeout(600)
    _settle(page)


def _heading(page, text: str):
    return page.locator("h1", has_text=text).first


def _nav_titles(page) -> set[str]:
    """The page titles the sidebar navigation offers (the icon's ligature name dropped)."""
    links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    return {link.strip().splitlines()[-1].strip() for link in links if link.strip()}


def _go(page, title: str) -> None:
    """Click a page in the sidebar navigation and wait for it to be drawn."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.wait_for_timeout(400)
    _settle(page)


def _shot(page, name: str) -> None:
    page.mouse.move(2, 2)  # no tooltip of whatever the last click left the pointer over
    shot(page, name)


def _body(page) -> str:
    return page.locator("body").inner_text()


def _no_error(page) -> None:
    """No page-failed message on the page."""
    said = _alerts(page)
    assert not [k for k in ERRORS if t(k) in said], said


def _alerts(page) -> str:
    return "\n".join(page.locator('[data-testid="stAlert"]:visible').all_inner_texts())


def _pick_row(page, row: int = 0) -> None:
    """Tick row ``row`` of the first visible table (its selector column)."""
    table = page.locator('[data-testid="stDataFrame"]:visible').first
    table.wait_for(timeout=30_000)
    page.wait_for_timeout(600)
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)
    page.wait_for_timeout(400)
    _settle(page)


# -- what the store holds, for searching the frames --------------------------------------------

def _phones(demo) -> set[str]:
    return set(demo.people["phone"].dropna().astype(str))


def _phones_in(text: str, phones: set[str]) -> set[str]:
    """The store's full phone numbers found in ``text`` (every 11-digit window of its digit
    runs: values may be packed without separators, as in Arrow buffers)."""
    found = set()
    for run in re.findall(r"\d{11,}", text):
        found |= {run[i:i + 11] for i in range(len(run) - 10)} & phones
    return found


_CJK = re.compile(r"[\u3400-\u9fff]+")


def _names(demo) -> set[str]:
    """People's full names that no other text of the store or of the interface contains
    (a name that is also a word of a label cannot tell a leak)."""
    other = [*(" ".join(map(str, demo[n]["name"].dropna())) for n in (
        "towns", "communities", "grids", "buildings", "care_points", "parking")),
        " ".join(map(str, demo.tickets["text"].dropna())),
        " ".join(v for m in MESSAGES.values() for v in m.values())]
    if "compound" in demo.buildings:
        other.append(" ".join(map(str, demo.buildings["compound"].dropna())))
    words = _substrings(" ".join(other))
    return {n for n in demo.people["name"].dropna().astype(str)
            if len(n) >= 2 and _CJK.fullmatch(n) and n not in words}


def _substrings(text: str) -> set[str]:
    """Every 2- to 4-character piece of the runs of Chinese characters in ``text``."""
    out: set[str] = set()
    for run in set(_CJK.findall(text)):
        for k in (2, 3, 4):
            out |= {run[i:i + k] for i in range(len(run) - k + 1)}
    return out


def _names_in(text: str, names: set[str]) -> set[str]:
    return names & _substrings(text)


# -- 1. login required -------------------------------------------------------------------------

def test_every_page_shows_only_the_login_form(browser, server, demo):
    ctx = _context(browser)
    comms = demo.communities["name"].tolist()
    for path in ("/", "/people", "/tickets", "/audit", "/wall"):
        page = ctx.new_page()
        frames = _record(page)
        page.goto(server + path, wait_until="domcontentloaded")
        _login_form_shown(page)
        text = _body(page)
        assert t("auth_login_title") in text
        assert "500106" not in text and not [c for c in comms if c in text], path
        for title in ("page_people", "page_tickets", "page_audit", "page_wall"):
            assert _heading(page, t(title)).count() == 0, (path, title)
        sent = _sent(frames)
        assert "500106" not in sent and not [c for c in comms if c in sent], path
        assert not _phones_in(sent, _phones(demo)), path
        if path == "/":
            shot(page, "auth-login-zh")
        page.close()
    page = ctx.new_page()
    page.goto(server + "/?lang=en", wait_until="domcontentloaded")
    _login_form_shown(page, "en")
    assert t("auth_password", "en") in _body(page)
    assert page.get_by_role("button", name=t("auth_login", "en"), exact=True).count() == 1
    shot(page, "auth-login-en")
    ctx.close()


def test_wrong_password_then_lock_out(browser, server, town):
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(server + "/", wait_until="domcontentloaded")
    victim = NAMES["victim"]
    for _ in range(4):
        _login(page, victim, "not-the-password")
        assert t("auth_failed") in _alerts(page)
        assert t("page_map") not in _body(page)
    _login(page, victim, "still-wrong")  # the fifth failure locks the name
    assert "锁定" in _alerts(page)
    _login(page, victim, PASSWORD)  # the right password, refused while locked
    alerts = _alerts(page)
    assert "锁定" in alerts and t("auth_failed") not in alerts
    assert _user_box(page).is_visible() and _heading(page, t("page_map")).count() == 0
    shot(page, "auth-locked")
    # an unknown name gets the very same plain message as a wrong password
    _login(page, "nobody-here", "whatever-1")
    assert t("auth_failed") in _alerts(page)
    ctx.close()

    failed = _audit(town, action="login_failed", user=victim)
    assert len(failed) >= 5 and {e["target"] for e in failed} == {victim}
    assert _audit(town, action="login_locked", user=victim)
    assert not _audit(town, action="login", user=victim)


# -- 2. what each role may open ----------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "community", "sentinel", "planner", "leader"])
def test_sidebar_offers_the_roles_pages_only(browser, server, role):
    ctx = _context(browser)
    page, _ = _open_as(ctx, server, "/", role, t("page_map"))
    _no_error(page)
    assert _nav_titles(page) == {t(k) for k in NAV[role]}
    for key in set(PAGE_KEYS) - NAV[role]:
        assert page.get_by_text(t(key), exact=True).count() == 0, key
    assert NAMES[role] in page.locator('[data-testid="stSidebar"]').inner_text()
    assert page.get_by_role("button", name=t("auth_logout"), exact=True).count() == 1
    _shot(page, f"auth-home-{role}")
    # a page the role may not open, by URL in the same session: not shown (Streamlit falls
    # back to the default page); an allowed one is, so the URL trick itself works
    for url_path, key in FORBIDDEN[role]:
        _visit(page, f"/{url_path}")
        _heading(page, t("page_map")).wait_for(timeout=LOAD)
        assert _heading(page, t(key)).count() == 0, url_path
        assert urlparse(page.url).path == "/", page.url
    _visit(page, "/" + ALLOWED[role].removeprefix("page_"))
    _heading(page, t(ALLOWED[role])).wait_for(timeout=LOAD)
    _no_error(page)
    ctx.close()


def test_login_lands_on_the_page_asked_for(browser, server):
    """A shared link (``/people?…``) shows that page after logging in, not the map."""
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(server + "/people?lang=zh", wait_until="domcontentloaded")
    _login(page, NAMES["community"])
    _heading(page, t("page_people")).wait_for(timeout=LOAD)
    assert urlparse(page.url).path == "/people", page.url
    ctx.close()


# -- 3. scope, on what is sent -----------------------------------------------------------------

def test_sentinel_is_sent_its_two_grids_only(browser, server, demo, picks):
    ctx = _context(browser)
    page, frames = _open_as(ctx, server, "/", "sentinel", t("page_map"))
    _no_error(page)
    _go(page, t("page_people"))
    _heading(page, t("page_people")).wait_for(timeout=LOAD)
    _settle(page)
    _no_error(page)
    _go(page, t("page_tickets"))
    _heading(page, t("page_tickets")).wait_for(timeout=LOAD)
    page.get_by_role("tab", name=t("tab_list"), exact=True).click()
    _settle(page)
    _no_error(page)
    sent = _sent(frames)
    ctx.close()

    for grid in picks["grids"]:  # the check can see codes: its own grids are there
        assert grid in sent
    assert [g for g in picks["out_grids"] if g in sent] == []
    assert [b for b in picks["out_buildings"] if b in sent] == []
    assert [n for n in picks["out_grid_names"] if n in sent] == []
    other_tickets = demo.tickets.loc[~demo.tickets.grid_code.isin(picks["grids"]), "id"]
    assert [i for i in other_tickets.iloc[::97] if i in sent] == []
    assert _phones_in(sent, _phones(demo)) == set()
    assert re.search(r"1\d\d\*{4}\d{4}", sent), "masked phones are shown to a sentinel"
    assert _names_in(sent, _names(demo)) == set()


def test_planner_is_sent_no_names_and_no_phones(browser, server, demo):
    ctx = _context(browser)
    page, frames = _open_as(ctx, server, "/", "planner", t("page_map"))
    _no_error(page)
    _go(page, t("page_coverage"))
    _heading(page, t("page_coverage")).wait_for(timeout=LOAD)
    _settle(page)
    _no_error(page)
    sent = _sent(frames)
    ctx.close()
    assert "500106" in sent  # the whole area is there
    assert _phones_in(sent, _phones(demo)) == set()
    assert not re.search(r"\d{3}\*{4}\d{4}", sent), "a masked phone was sent to a planner"
    assert _names_in(sent, _names(demo)) == set()


def test_out_of_scope_selection_and_other_data_sets(browser, server, picks):
    ctx = _context(browser)
    page, frames = _open_as(ctx, server, f"/?sel={picks['out_grids'][0]}", "sentinel",
                            t("page_map"))
    start = 0
    for i, sel in enumerate((picks["out_grids"][0], picks["out_buildings"][0])):
        if i:  # the next one by URL in the same session
            start = len(frames)
            _visit(page, f"/?sel={sel}")
        page.get_by_text(t("auth_out_of_scope"), exact=True).first.wait_for(timeout=LOAD)
        _no_error(page)
        sent = _sent(frames[start:])
        assert len(sent) > 1000, "no frames recorded"
        assert sel not in sent, "the selection outside scope was sent"
        assert [n for n in picks["out_grid_names"] if n in sent] == []
        # no detail: no name heading, no 户数 figure, no table of sentinels
        assert page.locator('[data-testid="stMetric"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
    page.close()
    for other in ("town", "..%2Ftown"):  # the store's own name, outside the data folder
        page = ctx.new_page()
        frames = _record(page)
        page.goto(f"{server}/?data={other}", wait_until="domcontentloaded")
        page.get_by_text(t("err_bad_data_param"), exact=False).first.wait_for(timeout=LOAD)
        _settle(page)
        text, sent = _body(page), _sent(frames)
        assert "Traceback" not in text and "500106" not in text and "500106" not in sent
        assert _user_box(page).count() == 0
        page.close()
    ctx.close()


# -- 4. writes and reveals carry the account ---------------------------------------------------

def _ticket(town, tid: str) -> dict:
    return json.loads(_cli("tickets", "show", str(town), tid, "--format", "json", "-q"))


def _detail_heading(page, tid: str):
    return page.locator('[data-testid="stHeading"]:visible', has_text=tid).first


def _wait_status(page, tid: str, status: str) -> None:
    _detail_heading(page, tid).filter(has_text=f"· {t('status_t_' + status)}").wait_for(
        timeout=30_000)


def _move_buttons(page) -> list[str]:
    return [b.strip() for b in
            page.locator('[data-testid="stFormSubmitButton"]:visible').all_inner_texts()]


def _phone_box(page):
    return page.locator(f'input[aria-label="{t("ppl_phone")}"]:visible').first


def _file_ticket(page, building) -> str:
    """哨兵一键下单 on the tickets page: a building chosen in the select box sets the location;
    the id the page reports."""
    picker = page.locator('[data-testid="stSelectbox"]:visible').filter(
        has_text=t("intake_building")).first
    picker.click()
    page.keyboard.type(building.code)
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    _settle(page)
    p = building.geometry.centroid  # the location the page takes from the building
    page.get_by_text(f"{t('location')}: {p.x:.6f}, {p.y:.6f}").first.wait_for(timeout=30_000)
    page.locator(f'textarea[aria-label="{t("tk_text")}"]:visible').fill("楼道灯不亮（登录测试）")
    page.get_by_role("button", name=t("submit_ticket"), exact=True).click()
    page.wait_for_timeout(400)
    _settle(page)
    done = page.locator('[data-testid="stAlert"]:visible', has_text=t("received_as")).first
    done.wait_for(timeout=30_000)
    return re.search(r"T\d{8,}", done.inner_text()).group(0)


def _community_building(demo):
    grids = demo.grids.loc[demo.grids.community_code == COMMUNITY, "code"]
    return demo.buildings[demo.buildings.grid_code.isin(grids)].iloc[0], set(grids)


def test_community_files_and_moves_a_ticket_and_reveals_a_phone(browser, server, town, demo):
    comm = NAMES["community"]
    building, grids = _community_building(demo)
    ctx = _context(browser)
    page, frames = _open_as(ctx, server, "/tickets", "community", t("page_tickets"))
    tid = _file_ticket(page, building)
    # move it: received → registered, from the ticket's detail in the list tab
    page.get_by_role("tab", name=t("tab_list"), exact=True).click()
    _wait_status(page, tid, "received")
    page.get_by_role("button", name=t("move_received_registered"), exact=True).click()
    page.wait_for_timeout(400)
    _settle(page)
    _wait_status(page, tid, "registered")
    _no_error(page)
    tk = _ticket(town, tid)
    assert tk["building_code"] == building.code and tk["grid_code"] in grids
    assert [(h["status"], h["by"]) for h in tk["history"]] == [
        ("received", comm), ("registered", comm)]
    moves = _audit(town, user=comm)
    assert {("ticket_received", tid), ("ticket_registered", tid)} <= {
        (e["action"], e["target"]) for e in moves}

    # 人员管理: masked phones; 显示完整电话 shows one number and is audited
    _go(page, t("page_people"))
    _heading(page, t("page_people")).wait_for(timeout=LOAD)
    _settle(page)
    listed = page.locator("[data-testid=stDataFrame] table").first.inner_text()
    assert "****" in listed and not _phones_in(listed, _phones(demo))
    _pick_row(page, 0)
    head = page.locator('[data-testid="stHeading"]:visible', has_text="（P").first
    head.wait_for(timeout=30_000)
    pid = re.search(r"（(P\d+)）", head.inner_text()).group(1)
    phone = demo.people.set_index("person_id").loc[pid, "phone"]
    assert "****" in _phone_box(page).input_value()
    assert phone not in _body(page)
    page.get_by_role("button", name=t("reveal_phone"), exact=True).click()
    page.wait_for_timeout(400)
    _settle(page)
    assert _phone_box(page).input_value() == phone
    _shot(page, "auth-community-reveal")
    sent = _sent(frames)
    ctx.close()
    assert _names_in(sent, _names(demo)), "full names are sent to a community worker: the " \
                                          "name check can see them"
    reveals = _audit(town, action="reveal_phone")
    assert [(e["user"], e["target"]) for e in reveals] == [(comm, pid)]


def test_sentinel_moves_as_a_handler_only_and_sees_masked_phones(browser, server, town, demo,
                                                                 picks):
    grid = picks["grids"][0]
    b = demo.buildings[demo.buildings.grid_code == grid].iloc[0]
    p = b.geometry.representative_point()
    ts = TicketStore.for_store(town)
    tid = ts.add("sanitation", p.x, p.y, "楼道堆物（哨兵测试）", building_code=b.code,
                 principal=Principal.operator("测试"))
    for status in workflow.path_to("in_progress")[1:]:
        ts.move(tid, status, principal=Principal.operator("测试"))
    ts.close()
    ctx = _context(browser)
    page, _ = _open_as(ctx, server, "/tickets", "sentinel", t("page_tickets"))
    page.get_by_role("tab", name=t("tab_list"), exact=True).click()
    box = page.locator(f'input[aria-label="{t("grid_filter")}"]:visible')
    box.fill(grid)
    box.press("Enter")
    page.wait_for_timeout(400)
    _settle(page)
    _pick_row(page, 0)
    _wait_status(page, tid, "in_progress")
    allowed = [t(f"move_{m.source}_{m.target}") for m in workflow.allowed_moves("in_progress")
               if (m.source, m.target) in HANDLER_MOVES]
    assert _move_buttons(page) == allowed == [t("move_in_progress_handled")]
    assert page.get_by_role("button", name=t("move_in_progress_closed_unresolved")).count() == 0
    page.get_by_role("button", name=t("move_in_progress_handled"), exact=True).click()
    page.wait_for_timeout(400)
    _settle(page)
    _wait_status(page, tid, "handled")
    shot(page, "auth-sentinel-handled")
    said = _alerts(page)
    _no_error(page)
    assert _move_buttons(page) == []  # verifying is the community's step
    assert page.get_by_text(t("ticket_not_yours")).count() >= 1
    hist = _ticket(town, tid)["history"]
    assert [(h["status"], h["by"]) for h in hist][-2:] == [("in_progress", "测试"),
                                                         ("handled", NAMES["sentinel"])], (
        hist, said)

    _go(page, t("page_people"))
    _heading(page, t("page_people")).wait_for(timeout=LOAD)
    _settle(page)
    listed = page.locator("[data-testid=stDataFrame] table").first.inner_text()
    assert "****" in listed and not _phones_in(listed, _phones(demo))
    _pick_row(page, 0)
    page.locator('[data-testid="stHeading"]:visible', has_text="（P").first.wait_for(
        timeout=30_000)
    assert page.get_by_role("button", name=t("reveal_phone")).count() == 0
    assert not _phones_in(_body(page), _phones(demo))
    ctx.close()
    assert not _audit(town, action="reveal_phone", user=NAMES["sentinel"])


# -- 5. the kiosk's token ----------------------------------------------------------------------

def test_kiosk_token_opens_the_wall_only_until_disabled(browser, server, town, accounts, demo):
    token = accounts["token"]
    wall = t("wall_title")
    ctx = _context(browser)
    page = ctx.new_page()
    frames = _record(page)
    page.goto(f"{server}/wall?token={token}", wait_until="domcontentloaded")
    _heading(page, wall).wait_for(timeout=LOAD)
    _settle(page)
    assert page.get_by_text(t("wall_open"), exact=True).count() >= 1
    assert page.locator('[data-testid="stSidebarNav"] a').count() == 0
    assert _user_box(page).count() == 0
    _no_error(page)
    _shot(page, "auth-home-kiosk")
    sent = _sent(frames)
    assert not _phones_in(sent, _phones(demo)) and not _names_in(sent, _names(demo))
    # another page by URL, with the token: not shown (the wall is the kiosk's only page)
    page.goto(f"{server}/people?token={token}", wait_until="domcontentloaded")
    _heading(page, wall).wait_for(timeout=LOAD)
    _settle(page)
    assert _heading(page, t("page_people")).count() == 0
    # no token, a wrong token: no wall
    page.goto(f"{server}/wall", wait_until="domcontentloaded")
    _login_form_shown(page)
    assert _heading(page, wall).count() == 0 and t("wall_open") not in _body(page)
    for bad in (token[:-2] + "xx",):
        page.goto(f"{server}/wall?token={bad}", wait_until="domcontentloaded")
        page.get_by_text(t("auth_bad_token")).first.wait_for(timeout=LOAD)
        _settle(page)
        assert _heading(page, wall).count() == 0 and "500106" not in _body(page)
    # disabled: the same link is refused on reload
    page.goto(f"{server}/wall?token={token}", wait_until="domcontentloaded")
    _heading(page, wall).wait_for(timeout=LOAD)
    _cli("users", "disable", str(town), "--name", NAMES["kiosk"])
    page.reload(wait_until="domcontentloaded")
    page.get_by_text(t("auth_bad_token")).first.wait_for(timeout=LOAD)
    _settle(page)
    assert _heading(page, wall).count() == 0 and t("wall_open") not in _body(page)
    ctx.close()


# -- 6. disable takes effect at once -----------------------------------------------------------

def test_disabling_the_leader_ends_its_open_session(browser, server, town):
    leader = NAMES["leader"]
    ctx = _context(browser)
    page, _ = _open_as(ctx, server, "/", "leader", t("page_map"))
    _cli("users", "disable", str(town), "--name", leader)
    page.locator('[data-testid="stSidebarNav"] a', has_text=t("page_coverage")).first.click()
    _login_form_shown(page)
    assert _heading(page, t("page_coverage")).count() == 0
    assert page.locator('[data-testid="stSidebarNav"] a').count() == 0
    page.reload(wait_until="domcontentloaded")
    _login(page, leader)  # and a new login is refused
    assert t("auth_failed") in _alerts(page)
    assert _heading(page, t("page_map")).count() == 0
    ctx.close()
    assert leader in [e["target"] for e in _audit(town, action="account_disable")]


# -- 7. a 390 px phone -------------------------------------------------------------------------

_OVERFLOW = """() => [document.documentElement.scrollWidth,
  ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"]')]
     .map(e => e.scrollWidth)]"""


def test_sentinel_intake_on_a_phone_has_no_sideways_scroll(browser, server):
    ctx = _context(browser, 390, 844)
    page, _ = _open_as(ctx, server, "/tickets", "sentinel", t("page_tickets"))
    page.get_by_role("tab", name=t("tab_intake"), exact=True).wait_for(timeout=LOAD)
    page.get_by_role("button", name=t("submit_ticket"), exact=True).wait_for(timeout=LOAD)
    _settle(page)
    _no_error(page)
    widths = page.evaluate(_OVERFLOW)
    _shot(page, "auth-sentinel-intake-390")
    page.get_by_role("button", name=t("submit_ticket"), exact=True).scroll_into_view_if_needed()
    widths += page.evaluate(_OVERFLOW)
    _shot(page, "auth-sentinel-intake-390-form")
    ctx.close()
    assert max(widths) <= 390 + 1, widths


# -- 8. the audit page -------------------------------------------------------------------------

def test_admin_audit_page_shows_logins_reveals_and_exports(browser, server, town):
    from dashboard.views.audit_page import action_label

    admin = NAMES["admin"]
    ctx = _context(browser)
    page, _ = _open_as(ctx, server, "/coverage", "admin", t("page_coverage"))
    _no_error(page)
    with page.expect_download(timeout=30_000) as dl:
        page.get_by_role("button", name=t("cov_download_zip"), exact=True).click()
    file_name = t("cov_file") + ".zip"  # one CSV per table (issue 16)
    assert dl.value.suggested_filename == file_name
    page.wait_for_timeout(400)
    _settle(page)
    exports = _audit(town, action="export", user=admin)
    assert [e["target"] for e in exports] == [file_name]
    # per user: (what must be listed, the user's entries in the log)
    wanted = {NAMES["community"]: {"login", "reveal_phone"}, admin: {"login", "export"},
              NAMES["victim"]: {"login_failed", "login_locked"}}
    counts = {who: len(_audit(town, user=who)) for who in wanted}

    _go(page, t("page_audit"))
    _heading(page, t("page_audit")).wait_for(timeout=LOAD)
    _settle(page)
    _no_error(page)
    _shot(page, "auth-audit")
    box = page.locator(f'input[aria-label="{t("audit_user")}"]:visible')
    for who, actions in wanted.items():
        box.fill(who)
        box.press("Enter")
        page.wait_for_timeout(300)
        _settle(page)
        _no_error(page)
        n = counts[who]
        page.get_by_text(t("audit_count").format(n=n), exact=True).wait_for(timeout=30_000)
        shown = page.locator("[data-testid=stDataFrame] table").first.inner_text()
        # actions by their label in the page's language (issue 16), not their codes
        assert who in shown and all(action_label(a, "zh") in shown for a in actions), (
            who, shown[:400])
        if who == NAMES["community"]:
            _shot(page, "auth-audit-community")
    ctx.close()


# -- regressions: product bugs these tests found (fixed in 16f077f) ---------------------------

@pytest.mark.parametrize("role", ["sentinel"])
def test_tickets_page_draws_without_error_for_a_scoped_role(browser, server, role):
    """The tickets page of a scoped role draws its KPI tab and exports: the Open311 export of
    a scoped ticket frame (rows not numbered 0…n-1) used to fail with 'array length N does not
    match index length M', shown as 页面出错了 under the tabs."""
    ctx = _context(browser)
    page, _ = _open_as(ctx, server, "/tickets", role, t("page_tickets"))
    try:
        _no_error(page)
    finally:
        ctx.close()


def test_ticket_writes_survive_the_audit_page(browser, server, town, demo):
    """The 审计 page opens a second ticket store in the server process; a ticket filed after
    it (and after another process used the database) is in the database.

    Regression test: ``TicketStore._check_file`` read the SQLite header with a plain
    ``open()``; closing that descriptor dropped the server's POSIX locks on the database, the
    next process to close it deleted the WAL under the server, and the server's later ticket
    writes were lost (invisible to every other process, then "disk I/O error")."""
    ctx = _context(browser)
    page, _ = _open_as(ctx, server, "/audit", "admin", t("page_audit"))  # the second store
    page.close()
    _ticket(town, demo.tickets["id"].iloc[0])  # a process opens and closes the database
    page, _ = _open_as(ctx, server, "/tickets", "community", t("page_tickets"))
    tid = _file_ticket(page, _community_building(demo)[0])
    ctx.close()
    assert [h["by"] for h in _ticket(town, tid)["history"]] == [NAMES["community"]]


def test_kiosk_wall_link_shows_no_page_not_found_dialog(browser, server, town, accounts):
    """The kiosk's own link ``/wall?token=…`` shows the wall without Streamlit's 'Page not
    found' dialog over it (the wall, the kiosk's only page, used to be its default page at
    ``/``, so ``/wall`` did not exist for it)."""
    kiosk = NAMES["kiosk"]
    token = accounts["token"]
    if any(a["name"] == kiosk and a["disabled"]
           for a in json.loads(_cli("users", "list", str(town), "--format", "json"))):
        # disabled by the kiosk test: enabling gives a new token, the old one stays revoked
        token = _cli("users", "enable", str(town), "--name", kiosk).strip().splitlines()[-1]
        assert token != accounts["token"]
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(f"{server}/wall?token={token}", wait_until="domcontentloaded")
    _heading(page, t("wall_title")).wait_for(timeout=LOAD)
    _settle(page)
    try:
        assert page.get_by_role("dialog").count() == 0, page.get_by_role("dialog").inner_text()
    finally:
        ctx.close()
