"""Security, tried in a real browser as an intranet visitor would (issue: close the holes).

- Stored script and Markdown: a store in which every name, every ticket text, note and ``by``
  carries HTML, an ``<iframe srcdoc>``, a ``<meta refresh>``, a Markdown image and a
  ``javascript:`` link is shown on every page; no element from the payload, no dialog and no
  request to another host appears, and the payload is visible as text.
- Upload names: the multipart ``filename`` of a real upload is rewritten to an absolute path
  and to ``../../…``; nothing is written there, the store is untouched, the temporary copy is
  gone.
- URL numbers: ``/wall?refresh=`` huge or absurd and ``?data=`` with 300 characters or ``%00``
  show plain pages, no traceback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from browserkit import import_file_input, shot, streamlit_server
from conftest import copy_store

from layers.auth import Principal
from layers.store import open_store
from layers.tickets import TicketStore

OUTSIDE = "198.51.100.7"  # TEST-NET-2: never routed; a request to it is recorded and goes nowhere
PAYLOADS = (
    '<img src=x onerror="alert(1)" class="pwn">',
    "<iframe class=\"pwn\" srcdoc=\"<script>parent.document.title='PWNED'</script>\"></iframe>",
    f"![x](http://{OUTSIDE}/t.png)",
    "[点我](javascript:alert(1))",
    f'<meta http-equiv="refresh" content="0;url=http://{OUTSIDE}/">',
    ":red[红] $x^2$ **粗** <b class='pwn'>b</b>",
)


def _hostile(i: int) -> str:
    return f"恶意{i} {PAYLOADS[i % len(PAYLOADS)]}"


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory, demo):
    """The demo town with every name replaced by a payload, and tickets filed and moved with
    payloads as text, ``by`` and note."""
    path = tmp_path_factory.mktemp("hostile") / "town.gpkg"
    layers = {}
    for name in ("towns", "communities", "grids", "buildings", "people", "care_points",
                 "parking"):
        df = demo[name].copy()
        df["name"] = [_hostile(i) for i in range(len(df))]
        layers[name] = df
    open_store(path).write(demo.replace(**layers).replace(tickets=demo.tickets.iloc[:0]))
    ts = TicketStore.for_store(path)
    b = demo.buildings.iloc[3]
    p = b.geometry.representative_point()
    for i, payload in enumerate(PAYLOADS):
        tid = ts.add("sanitation", p.x, p.y, f"工单 {payload}", building_code=b.code,
                     principal=Principal.operator(f"人{i}<b class='pwn'>"))
        ts.move(tid, "registered", principal=Principal.operator(payload[:60]), note=payload)
    return path


def _watch(page) -> dict[str, list[str]]:
    """Record dialogs and every request that would leave the machine (a listener, not a
    route: routing every request would also switch the browser's cache off)."""
    seen: dict[str, list[str]] = {"dialogs": [], "foreign": []}

    def dialog(d) -> None:
        seen["dialogs"].append(d.message)
        d.dismiss()

    def request(r) -> None:
        host = urlparse(r.url).hostname
        if r.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in (
                "127.0.0.1", "localhost"):
            seen["foreign"].append(r.url)

    page.on("dialog", dialog)
    page.on("request", request)
    return seen


_PAYLOAD_ELEMENTS = """() => [...document.querySelectorAll(
  '.pwn, a[href^="javascript:" i], meta[http-equiv="refresh" i], img[src*="198.51.100.7"], ' +
  'iframe[srcdoc*="PWNED"]')].map(e => e.outerHTML.slice(0, 120))"""


def _assert_inert(page, seen, where: str) -> None:
    page.wait_for_timeout(1200)  # let late scripts, images and components act
    found = []
    for frame in page.frames:
        try:
            found += frame.evaluate(_PAYLOAD_ELEMENTS)
        except Exception:  # noqa: BLE001 - a frame that navigated away while we looked
            continue
    assert found == [], f"{where}: payload became markup: {found[:3]}"
    assert seen["dialogs"] == [], f"{where}: dialogs {seen['dialogs']}"
    assert seen["foreign"] == [], f"{where}: requests left the machine {seen['foreign'][:3]}"
    assert page.title() != "PWNED"
    assert urlparse(page.url).hostname == "127.0.0.1"


def _visit(browser, url: str, name: str, ready: str, *, width: int = 1500,
           height: int = 1100):
    page = browser.new_page(viewport={"width": width, "height": height})
    seen = _watch(page)
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(ready, exact=False).first.wait_for(timeout=90_000)
    return page, seen


def test_payloads_stay_text_on_every_page(hostile_store, browser, demo):
    grid = demo.grids.code.iloc[3]
    building = demo.buildings.code.iloc[3]
    with streamlit_server(hostile_store) as server:
        pages = [
            (f"/?sel={grid}", "map-grid", "网格哨兵"),
            (f"/?sel={building}", "map-building", "楼栋党员"),
            (f"/?q={quote('恶意')}", "map-search", "搜索结果"),
            ("/coverage", "coverage", "问题清单"),
            ("/reach", "reach", "生活圈"),
            ("/tickets", "tickets", "哨兵一键下单"),
            ("/data", "data", "数据管理"),
            ("/wall", "wall", "未办结工单"),
            ("/wall?rotate=1&refresh=5", "wall-rotate", "未办结工单"),
        ]
        for path, name, ready in pages:
            page, seen = _visit(browser, server + path, name, ready)
            _assert_inert(page, seen, path)
            if path.startswith("/?sel="):  # the name is shown, as text
                assert page.get_by_text("恶意", exact=False).count() >= 1
            shot(page, f"security-{name}")
            page.close()
        # a ticket's detail: text, history notes and ``by`` are shown as text
        page, seen = _visit(browser, server + "/tickets", "ticket-detail", "哨兵一键下单")
        page.get_by_role("tab", name="工单列表").click()
        table = page.locator('[data-testid="stDataFrame"]:visible').first
        table.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        box = table.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selector
        page.locator('[data-testid="stText"]', has_text="工单 ").first.wait_for(
            timeout=30_000)
        _assert_inert(page, seen, "ticket detail")
        shot(page, "security-ticket-detail")
        page.close()


def _store_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _upload_as(page, server: str, file: Path, client_name: str) -> None:
    """Upload ``file`` through the data page, the multipart ``filename`` the browser sends
    rewritten to ``client_name`` (what a hand-made request can do). The body is rebuilt with
    the file's bytes: Playwright does not hand the file part's content to a route."""
    def rename(route) -> None:
        ctype = route.request.headers["content-type"]
        boundary = ctype.split("boundary=", 1)[1].encode()
        name = client_name.encode()
        body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name
                + b'"; filename="' + name + b'"\r\nContent-Type: application/octet-stream'
                + b"\r\n\r\n" + file.read_bytes() + b"\r\n--" + boundary + b"--\r\n")
        route.continue_(post_data=body)

    page.route("**/_stcore/upload_file/**", rename)
    page.goto(f"{server}/data?layer=care_points", wait_until="domcontentloaded")
    import_file_input(page).set_input_files(str(file))


def test_upload_name_is_never_a_path(browser, demo, demo_file, tmp_path):
    import pandas as pd
    import shapely

    store = tmp_path / "srv" / "town.gpkg"
    store.parent.mkdir()
    copy_store(demo_file, store)
    before = _store_digest(store)
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:2])
    csv = tmp_path / "托育点.csv"
    pd.DataFrame({"编码": ["UP1", "UP2"], "名称": ["托育园一", "托育园二"],
                  "类型": ["nursery", "nursery"], "容量": [30, 40],
                  "经度": shapely.get_x(pts), "纬度": shapely.get_y(pts)}).to_csv(csv,
                                                                               index=False)
    escape_to = tmp_path / "escaped"
    escape_to.mkdir()
    # a GeoPackage named as the server's own store: it used to replace the store unchecked
    other = tmp_path / "other.gpkg"
    copy_store(demo_file, other)
    attempts = [
        (csv, str(escape_to / "abs.csv"), "检查通过"),
        (csv, "../" * 12 + str(escape_to / "rel.csv").lstrip("/"), "检查通过"),
        (other, str(store), "数据管理"),
        (csv, "evil.sh", None),  # refused by Streamlit's type check, or by the page
    ]
    with streamlit_server(store) as server:
        for file, client_name, expected in attempts:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            _upload_as(page, server, file, client_name)
            if expected:
                page.get_by_text(expected, exact=False).first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)
            assert page.get_by_text("检查通过").count() == (expected == "检查通过")
            text = page.inner_text("body")
            assert "/tmp/" not in text and str(tmp_path) not in text  # no server paths
            page.close()
    assert list(escape_to.iterdir()) == []
    assert _store_digest(store) == before  # nothing confirmed, nothing written
    leftovers = [p for p in Path("/tmp").glob("wangge-upload-*")]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("query", [
    "/wall?refresh=2147484", "/wall?refresh=1" + "0" * 400, "/wall?refresh=-5",
    "/wall?refresh=abc", "/wall?at=" + "9" * 500,
])
def test_wall_url_numbers_are_clamped(server_plain, browser, query):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    sent: list[str] = []
    page.add_init_script("""(() => { const s = WebSocket.prototype.send;
      WebSocket.prototype.send = function (d) { window.__sent = (window.__sent || 0) + 1;
        return s.call(this, d); }; })()""")
    page.goto(server_plain + query, wait_until="domcontentloaded")
    page.get_by_text("未办结工单").first.wait_for(timeout=90_000)
    page.wait_for_timeout(1000)
    n0 = page.evaluate("() => window.__sent || 0")
    page.wait_for_timeout(4000)
    n1 = page.evaluate("() => window.__sent || 0")
    assert n1 - n0 <= 2, f"{query}: {n1 - n0} messages in 4 s (a refresh loop)"
    body = page.inner_text("body")
    assert "Traceback" not in body and "Error" not in body
    del sent
    page.close()


@pytest.mark.parametrize("value", ["x" * 300, "a%00b", "..%2Fsecret", "%2Fetc%2Fpasswd"])
def test_bad_data_parameter_is_a_plain_message(server_plain, browser, value):
    page = browser.new_page()
    page.goto(f"{server_plain}/?data={value}", wait_until="domcontentloaded")
    page.get_by_text("找不到网址中指定的数据集").first.wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert "Traceback" not in body and "/" + "tmp" not in body
    page.close()


@pytest.fixture(scope="module")
def server_plain(tmp_path_factory, demo_file):
    store = tmp_path_factory.mktemp("plain") / "town.gpkg"
    copy_store(demo_file, store)
    with streamlit_server(store) as url:
        yield url


def test_damaged_tickets_database_is_a_visible_error(browser, demo_file, tmp_path):
    """A truncated tickets database: every page that reads tickets says so in plain words,
    no traceback, no server path, never an empty list."""
    store = tmp_path / "town.gpkg"
    copy_store(demo_file, store)
    db = store.with_name("town.tickets.sqlite")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    with streamlit_server(store) as server:
        for path in ("/", "/tickets", "/wall"):
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(server + path, wait_until="domcontentloaded")
            page.get_by_text("工单数据库已损坏或为空").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "Traceback" not in body and str(tmp_path) not in body
            assert ".py" not in body
            shot(page, f"security-damaged-tickets{path.replace('/', '-')}")
            page.close()
    db.write_bytes(b"")  # 0 bytes: an error too, not "no tickets"
    with streamlit_server(store) as server:
        page = browser.new_page()
        page.goto(server + "/tickets", wait_until="domcontentloaded")
        page.get_by_text("工单数据库已损坏或为空").first.wait_for(timeout=60_000)
        page.close()
    assert db.stat().st_size == 0  # reading never repaired or refilled it
