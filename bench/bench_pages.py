"""Browser benchmark (issue 15): what a user waits for, measured in Chromium.

Usage::

    python bench/bench_pages.py                                  # town demo, 5 runs
    python bench/bench_pages.py --store city --runs 3            # bench/out/city.gpkg (a copy)
    python bench/bench_pages.py --store city --start-only        # city: server starts only
    python bench/bench_pages.py --store city --edits-only        # city: views, then edits
    python bench/bench_pages.py --store PATH --figures city      # city figures on another store
    python bench/bench_pages.py --store city --postgis           # the copy in PostGIS (issue 23)
    python bench/bench_pages.py --store city --both              # GeoPackage, then PostGIS
    python bench/bench_pages.py --app-root /tmp/before --label before \\
        --json bench/out/pages_before_town.json                  # another checkout of the app

A real ``streamlit run DIR/dashboard/app.py`` (cwd ``DIR``, ``--app-root``) shows a private copy
of the store (``WANGGE_STORE``; for the city it is started ``--runs`` + 1 times: the first start
finds no snapshot beside the fresh copy, the later ones the snapshot the first made); Debian's Chromium (never a downloaded browser) drives it with
Playwright as a user would: sidebar links, clicks on the map, the sidebar's filter and search,
a move button on the tickets page. One untimed pass warms the server, then ``--runs`` timed
passes; each figure is the median (min–max) of the runs.

How a figure is taken: right before the action the page records a baseline (time, bytes, the
maps it shows); after the action it polls itself every 25 ms until the figure's **signal**
holds and nothing has changed for a quiet spell (no script run, no dimmed element, no WebSocket
message, the Leaflet map idle). Three times come back:

- **time** — from the action until the signal first held (and kept holding): the map drawn
  (a new Leaflet map object in the ``streamlit_folium`` iframe with features on it, not
  animating), the detail panel showing the code picked, the ticket's heading showing its new
  status, the search results listed;
- **settled** — until the last change seen (e.g. a second render of the map after the panel);
  for a pan or a zoom (no signal: the map moves in the browser at once) this is the figure;
- **last WS message** — when the last WebSocket message before the signal arrived: roughly the
  server's share (its script run and the transfer); the rest of *time* is the browser drawing.

Clicks that are lost (the click set a run going that ended quietly without the panel, or set
nothing going) are repeated on another grid and counted ("needed another click").

Bytes: **WS** = bytes of every WebSocket message the page received during the interaction
(``WebSocket`` wrapped by an init script: ``ArrayBuffer``/``Blob``/string sizes, so frames
Playwright's own events might miss are counted); **HTTP** = ``transferSize`` of the resources
the page and its component iframes fetched meanwhile (0 when served from the browser cache).
**SVG** = ``<svg> path`` elements in the map iframe; **features** = vector layers and markers on
the Leaflet map (``map._layers``: counts canvas-drawn features too), **buildings** = those
whose GeoJSON properties say ``k == "b"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # layers, when run as a script (the cluster, the copy)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-renderer-backgrounding", "--disable-background-timer-throttling"]
CITY = ROOT / "bench" / "out" / "city.gpkg"
VIEWPORT = {"width": 1500, "height": 1100}
STREET_ZOOM = 16  # the zoom at which a user expects to see buildings
PASSWORD = "bench-password-1"
#: the interface words the benchmark looks for, read from the app under test (its i18n)
LABEL_KEYS = ("community_filter", "search", "search_results", "tab_list", "auth_user",
              "auth_password", "auth_login")

# The page side: counts WebSocket bytes in every frame; in the top frame, inspects the
# streamlit_folium iframes' Leaflet maps and waits for a signal plus a quiet spell.
PAGE_JS = r"""
(() => {
  if (window.__bench) return;
  const B = window.__bench = {ws: {recv: 0, msgs: 0, sent: 0, sentMsgs: 0, lastAt: 0}, seq: 0,
                              base: null};
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}
  const enc = new TextEncoder();
  const size = d => typeof d === 'string' ? enc.encode(d).length
    : (d && (d.byteLength !== undefined ? d.byteLength : d.size)) || 0;
  const Native = window.WebSocket;
  if (Native) {
    class Counted extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', e => {
          B.ws.recv += size(e.data); B.ws.msgs += 1; B.ws.lastAt = performance.now(); });
      }
      send(d) { B.ws.sent += size(d); B.ws.sentMsgs += 1; return super.send(d); }
    }
    window.WebSocket = Counted;
  }
  if (window.top !== window) return;

  const FRAME = 'iframe[title="streamlit_folium.st_folium"]';
  const stale = el => !!el.closest('[data-stale="true"]');
  const frames = () => [...document.querySelectorAll(FRAME)].filter(f => {
    try { return !!f.contentWindow.document; } catch (e) { return false; } });

  function leafletMaps(w) {
    const found = [];
    let L; try { L = w.L; } catch (e) { return found; }
    if (!L || !L.Map) return found;
    for (const k of Object.keys(w)) {
      let v; try { v = w[k]; } catch (e) { continue; }
      if (v instanceof L.Map && !found.includes(v)) found.push(v);
    }
    return found;
  }

  function mapInfo(f, w, m) {
    if (!m.__benchId) m.__benchId = ++B.seq;
    let paths = 0, markers = 0, layers = 0; const kinds = {};
    for (const id in m._layers) {
      const l = m._layers[id];
      layers++;
      if (l instanceof w.L.Path) paths++; else if (l instanceof w.L.Marker) markers++;
      else continue;
      const p = l.feature && l.feature.properties, k = (p && p.k) || '?';
      kinds[k] = (kinds[k] || 0) + 1;
    }
    const r = f.getBoundingClientRect(), loaded = !!m._loaded;
    const c = loaded ? m.getCenter() : {lat: 0, lng: 0};
    return {id: m.__benchId, rev: 0, loaded, paths, markers, layers, kinds,
      svg: w.document.querySelectorAll('svg path').length,
      canvases: w.document.querySelectorAll('canvas').length,
      zoom: loaded ? m.getZoom() : null, lat: +c.lat.toFixed(6), lng: +c.lng.toFixed(6),
      idle: !m._animatingZoom && !(m._panAnim && m._panAnim._inProgress),
      shown: r.height > 50 && r.width > 50 && !stale(f)};
  }

  // a thin client's stand-in for the map component (STUB_HTML): what it was sent, not drawn
  function stubInfo(f, st) {
    if (!st.__benchId) st.__benchId = ++B.seq;
    const r = f.getBoundingClientRect();
    return {id: st.__benchId, rev: st.rev, loaded: st.renders > 0, paths: 0, markers: 0,
            layers: st.renders > 0 ? 1 : 0, kinds: {}, svg: 0, canvases: 0, zoom: null, lat: 0,
            lng: 0, idle: true, shown: r.height > 50 && r.width > 50 && !stale(f)};
  }

  B.maps = () => {
    const out = [];
    for (const f of frames()) {
      const w = f.contentWindow;
      if (w.__stub) { out.push(stubInfo(f, w.__stub)); continue; }
      for (const m of leafletMaps(w)) out.push(mapInfo(f, w, m));
    }
    return out;
  };
  // a thin client's "click": the value the map component sends for a clicked feature
  B.stubClick = (k, code) => {
    for (const f of frames()) {
      if (stale(f) || !f.contentWindow.__stub) continue;
      f.contentWindow.__stub.send({last_active_drawing: {type: 'Feature', geometry: null,
                                                         properties: {k, code}}});
      return true;
    }
    return false;
  };
  // drawn: shown, loaded, not animating, with something on it (a map's layers are added by
  // the same script that makes it; a tiled or canvas-only layer counts as one layer)
  const drawn = i => i.shown && i.loaded && i.layers > 0 && i.idle;
  const mapSig = i => JSON.stringify([i.id, i.rev, i.paths, i.markers, i.zoom, i.lat, i.lng]);

  function liveText(selector) {
    const root = document.querySelector(selector) || document.body, parts = [];
    for (const el of root.querySelectorAll('[data-testid="stElementContainer"]'))
      if (!stale(el)) parts.push(el.innerText);
    return parts.join('\n');
  }
  B.headings = () => [...document.querySelectorAll('[data-testid="stHeading"]')]
    .filter(h => !stale(h)).map(h => h.innerText.trim());

  function snap() {
    const app = document.querySelector('[data-testid="stApp"]');
    return {script: app ? app.getAttribute('data-test-script-state') : 'none',
            stale: document.querySelectorAll('[data-stale="true"]').length,
            maps: B.maps(), ws: {...B.ws}};
  }
  const sig = s => JSON.stringify([s.script, s.stale, s.ws.msgs,
    s.maps.map(m => [m.id, m.rev, m.paths, m.markers, m.svg, m.zoom, m.lat, m.lng, m.idle,
                     m.shown])]);

  function windows() { return [window, ...frames().map(f => f.contentWindow)]; }
  function httpMark() {
    for (const w of windows()) w.__benchHttp = w.performance.getEntriesByType('resource').length;
  }
  function httpBytes() {
    let n = B.base.t0 === 0 ? (performance.getEntriesByType('navigation')[0] || {}).transferSize
      || 0 : 0;
    for (const w of windows()) {
      const e = w.performance.getEntriesByType('resource');
      for (let i = w.__benchHttp || 0; i < e.length; i++) n += e[i].transferSize || 0;
    }
    return n;
  }

  B.arm = (fromNavigation) => {
    const s = snap();
    if (fromNavigation) for (const w of windows()) w.__benchHttp = 0; else httpMark();
    B.base = {t0: fromNavigation ? 0 : performance.now(),
              ws: fromNavigation ? {recv: 0, msgs: 0, sent: 0, sentMsgs: 0} : s.ws,
              ids: s.maps.map(m => m.id), sigs: s.maps.filter(drawn).map(mapSig)};
    return true;
  };

  const PRED = {
    newMap: s => s.maps.some(m => drawn(m) && !B.base.ids.includes(m.id)),
    anyMap: s => s.maps.some(drawn),
    mapChanged: s => s.maps.some(m => drawn(m) && !B.base.sigs.includes(mapSig(m))),
    text: (s, spec) => liveText(spec.where || '[data-testid="stMain"]').includes(spec.text),
    heading: (s, spec) => B.headings().some(h => h.startsWith(spec.prefix) && h !== spec.old),
    quiet: () => true,
  };

  B.wait = spec => new Promise(resolve => {
    const quiet = spec.quietMs ?? 600, timeout = spec.timeoutMs ?? 60000;
    const pred = PRED[spec.kind], t0 = B.base.t0, base = B.base.ws;
    let last = null, lastChange = performance.now(), since = null, active = false, msgAt = null;
    const finish = (s, fail) => {
      if (spec.kind === 'quiet') msgAt = s.ws.lastAt;
      const best = s.maps.filter(m => m.shown).sort((a, b) => b.paths - a.paths)[0] || null;
      resolve({fail, signal: since === null ? null : since - t0,
               lastMsg: msgAt !== null && msgAt > t0 ? msgAt - t0 : null,
               settled: Math.max(lastChange, since ?? 0) - t0,
               ws: s.ws.recv - base.recv, wsMsgs: s.ws.msgs - base.msgs,
               sent: s.ws.sent - base.sent, http: httpBytes(), map: best,
               remounted: s.maps.some(m => !B.base.ids.includes(m.id)), script: s.script});
    };
    const tick = () => {
      const now = performance.now(), s = snap(), g = sig(s);
      if (g !== last) { last = g; lastChange = now; }
      if (s.script !== 'notRunning' || s.ws.msgs !== base.msgs) active = true;
      if (pred(s, spec)) { if (since === null) { since = now; msgAt = B.ws.lastAt; } }
      else since = null;
      if (since !== null && s.script === 'notRunning' && now - lastChange >= quiet)
        return finish(s, null);
      if (spec.loginSel && s.script === 'notRunning' && document.querySelector(spec.loginSel))
        return finish(s, 'login');
      if (spec.giveUpMs && !active && now - t0 > spec.giveUpMs) return finish(s, 'nothing');
      // lost: the run the click set going is over (quiet for lostMs, and for at least as long
      // as it took: a loaded server is slow) without the signal, and the address does not
      // name the code either (the app took the click and is still on its way)
      if (spec.lostMs && active && since === null && s.script === 'notRunning'
          && now - lastChange >= Math.max(spec.lostMs, lastChange - t0)
          && !(spec.text && location.href.includes(spec.text))) return finish(s, 'lost');
      if (now - t0 > timeout) return finish(s, 'timeout');
      setTimeout(tick, spec.pollMs || 25);
    };
    tick();
  });

  // A point on the map where a click lands on a feature of one of `kinds` (GeoJSON
  // properties.k), found as Leaflet would: the SVG path under the point, or the topmost
  // interactive layer of the canvas under it. Page coordinates and the feature's code.
  function layerAt(w, m, el, cp, byPath) {
    if (!el) return null;
    if (el.tagName.toLowerCase() === 'path') return byPath.get(el) || null;
    if (el.tagName !== 'CANVAS') return null;
    const lp = m.containerPointToLayerPoint(cp);
    let hit = null;
    for (const id in m._layers) {
      const r = m._layers[id];
      if (!(r instanceof w.L.Canvas) || r._container !== el) continue;
      for (let o = r._drawFirst; o; o = o.next)
        if (o.layer.options.interactive && o.layer._containsPoint(lp)) hit = o.layer;
    }
    return hit;
  }
  const SPOTS = [[0.5, 0.5], [0.4, 0.5], [0.6, 0.5], [0.5, 0.4], [0.5, 0.6], [0.3, 0.3],
                 [0.7, 0.7]];
  B.target = (kinds, exclude) => {
    for (const f of frames()) {
      if (stale(f)) continue;
      const w = f.contentWindow, fr = f.getBoundingClientRect();
      for (const m of leafletMaps(w)) {
        if (!m._loaded) continue;
        const size = m.getSize(), cr = m.getContainer().getBoundingClientRect();
        const byPath = new Map(), cands = [];
        for (const id in m._layers) {
          const l = m._layers[id], p = l.feature && l.feature.properties;
          if (l._path) byPath.set(l._path, l);
          if (p && kinds.includes(p.k) && !exclude.includes(p.code) && l.getBounds)
            cands.push(l);
        }
        const mid = w.L.point(size.x / 2, size.y / 2);
        const far = l => m.latLngToContainerPoint(l.getBounds().getCenter()).distanceTo(mid);
        cands.sort((a, b) => far(a) - far(b));
        for (const l of cands.slice(0, 400)) {
          const b = l.getBounds();
          for (const [fx, fy] of SPOTS) {
            const cp = m.latLngToContainerPoint(w.L.latLng(
              b.getSouth() + (b.getNorth() - b.getSouth()) * fy,
              b.getWest() + (b.getEast() - b.getWest()) * fx));
            if (cp.x < 60 || cp.y < 100 || cp.x > size.x - 80 || cp.y > size.y - 140) continue;
            const x = fr.left + cr.left + cp.x, y = fr.top + cr.top + cp.y;
            if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) continue;
            if (document.elementFromPoint(x, y) !== f) continue;
            const el = w.document.elementFromPoint(cr.left + cp.x, cr.top + cp.y);
            if (layerAt(w, m, el, cp, byPath) === l)
              return {x, y, code: l.feature.properties.code, kind: l.feature.properties.k};
          }
        }
      }
    }
    return null;
  };
  // zoom the shown map to `z` around its centre (as several turns of the mouse wheel would)
  B.setZoom = z => {
    for (const f of frames()) {
      if (stale(f)) continue;
      for (const m of leafletMaps(f.contentWindow)) { m.setZoom(z); return m.getZoom(); }
    }
    return null;
  };
  // the middle of the shown map and its zoom-in button, in page coordinates
  B.mapBox = () => {
    for (const f of frames()) {
      if (stale(f)) continue;
      const r = f.getBoundingClientRect();
      const zin = f.contentWindow.document.querySelector('.leaflet-control-zoom-in');
      const z = zin ? zin.getBoundingClientRect() : null;
      return {x: r.left + r.width / 2, y: r.top + r.height / 2,
              zx: z ? r.left + z.left + z.width / 2 : null,
              zy: z ? r.top + z.top + z.height / 2 : null};
    }
    return null;
  };
})();
"""


#: What a thin client gets instead of the streamlit_folium component: the same component
#: protocol (ready, frame height, value), but the map it is sent is only hashed, never drawn.
STUB_HTML = """<!doctype html><html><body style="margin:0;height:600px">map (not drawn)<script>
(() => {
  const send = (type, data) => parent.postMessage(
    Object.assign({isStreamlitMessage: true, type: type}, data), "*");
  const hash = s => { let h = s.length; for (let i = 0; i < s.length; i += 97)
    h = (h * 31 + s.charCodeAt(i)) | 0; return h; };
  const st = window.__stub = {renders: 0, rev: 0, last: null,
    send: v => send("streamlit:setComponentValue", {value: v, dataType: "json"})};
  window.addEventListener("message", e => {
    if (!e.data || e.data.type !== "streamlit:render") return;
    const a = e.data.args || {}, h = hash(String(a.script || "") + (a.feature_group || ""));
    st.renders += 1;
    if (h !== st.last) { st.last = h; st.rev += 1; }
    send("streamlit:setFrameHeight", {height: a.height || 600});
  });
  send("streamlit:componentReady", {apiVersion: 1});
})();
</script></body></html>"""
STUB_ROUTE = "**/component/streamlit_folium.st_folium/**"


async def use_thin_client(context: Any) -> None:
    """Serve :data:`STUB_HTML` for the map component in ``context``'s pages (a thin client:
    the server does the same work and sends the same bytes, the browser draws no map)."""

    async def handle(route: Any) -> None:
        if "index.html" in route.request.url:
            await route.fulfill(status=200, content_type="text/html", body=STUB_HTML)
        else:
            await route.continue_()

    await context.route(STUB_ROUTE, handle)


# --------------------------------------------------------------------------------------------
# results


@dataclass
class Sample:
    """One timed interaction, as the page measured it."""

    seconds: float | None  # until the signal held (None: never, see ``fail``)
    settled: float | None  # until the last change seen
    #: until the last WebSocket message received before the signal: roughly the server's share
    #: (its run and the transfer); the rest of ``seconds`` is the browser drawing
    last_message: float | None = None
    ws_bytes: int = 0
    ws_msgs: int = 0
    http_bytes: int = 0
    svg_paths: int | None = None
    features: int | None = None
    buildings: int | None = None
    zoom: int | None = None
    remounted: bool = False
    retries: int = 0  # clicks lost before this one (tried again elsewhere)
    #: "timeout"; "nothing" (no run, no message: the click did nothing); "lost" (a run, then
    #: quiet, without the signal); "no target"
    fail: str | None = None
    note: str = ""

    @classmethod
    def from_page(cls, r: dict, note: str = "") -> Sample:
        """From what ``__bench.wait`` resolved with."""
        m = r.get("map") or {}
        sec = r.get("signal")
        return cls(seconds=None if sec is None or r.get("fail") else sec / 1000,
                   settled=r["settled"] / 1000, ws_bytes=int(r["ws"]),
                   last_message=None if r.get("lastMsg") is None else r["lastMsg"] / 1000,
                   ws_msgs=int(r["wsMsgs"]), http_bytes=int(r["http"]),
                   svg_paths=m.get("svg"), features=(m["paths"] + m["markers"]) if m else None,
                   buildings=(m.get("kinds") or {}).get("b", 0) if m else None,
                   zoom=m.get("zoom"), remounted=bool(r.get("remounted")), fail=r.get("fail"),
                   note=note)


@dataclass
class Figure:
    """A figure of the report: its samples (one per run) and the issue's target."""

    key: str
    label: str
    target: str = ""
    primary: str = "seconds"  # "seconds" (until the signal) or "settled" (pan, zoom)
    timeout_s: float | None = None
    samples: list[Sample] = field(default_factory=list)

    def times(self) -> list[float]:
        return [getattr(s, self.primary) for s in self.samples
                if s.fail is None and getattr(s, self.primary) is not None]

    def summary(self) -> dict[str, Any]:
        """Median and range of the time; medians of the other columns; failures counted."""
        ok = [s for s in self.samples if s.fail is None]
        times = self.times()

        def med(name: str) -> float | None:
            vals = [getattr(s, name) for s in ok if getattr(s, name) is not None]
            return statistics.median(vals) if vals else None

        return {"n": len(self.samples), "ok": len(ok),
                "median_s": statistics.median(times) if times else None,
                "min_s": min(times) if times else None, "max_s": max(times) if times else None,
                "settled_s": med("settled"), "last_message_s": med("last_message"),
                "ws_bytes": med("ws_bytes"),
                "http_bytes": med("http_bytes"), "svg_paths": med("svg_paths"),
                "features": med("features"), "buildings": med("buildings"),
                "remounted": sum(s.remounted for s in ok),
                "retried": sum(s.retries > 0 for s in self.samples),
                "fails": [s.fail for s in self.samples if s.fail],
                "notes": sorted({s.note for s in self.samples if s.note})}


class Report:
    """The figures of one benchmark run, in the order they were first measured."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.facts: dict[str, Any] = {}

    def figure(self, key: str, label: str, target: str = "", **kw: Any) -> Figure:
        if key not in self.figures:
            self.figures[key] = Figure(key, label, target, **kw)
        return self.figures[key]

    def add(self, fig: Figure, sample: Sample, record: bool = True) -> Sample:
        if record:
            fig.samples.append(sample)
        return sample


# --------------------------------------------------------------------------------------------
# the store, the app's words, the server


def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e9


def tickets_db(store: Path) -> Path:
    """The ticket database beside a store (``layers.tickets.db_path_for``)."""
    return store.with_name(store.stem + ".tickets.sqlite")


def run_in_app(app_root: Path, code: str, *args: str) -> str:
    """Run Python ``code`` with the app under test's own packages (cwd ``app_root``)."""
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=app_root, check=True,
                         capture_output=True, text=True)
    return out.stdout


def prepare_store(which: str, app_root: Path, workdir: Path) -> Path:
    """A private copy of the store to show (the app may write: tickets, audit): ``town`` is
    the app's shipped demo with its ticket history seeded by the app's own code, ``city``
    ``bench/out/city.gpkg``, else a path."""
    source = {"town": app_root / "geodata" / "demo_town.gpkg", "city": CITY}.get(which,
                                                                                Path(which))
    if not source.exists():
        sys.exit(f"no store at {source} (city: python -m layers demo --scale city "
                 f"--out {CITY})")
    need = (source.stat().st_size + (tickets_db(source).stat().st_size
                                     if tickets_db(source).exists() else 0)) / 1e9
    if free_gb(workdir) < need + 2:
        sys.exit(f"not enough disk space in {workdir} for a {need:.1f} GB copy")
    target = workdir / source.name
    shutil.copyfile(source, target)
    if which != "town" and tickets_db(source).exists():
        shutil.copyfile(tickets_db(source), tickets_db(target))
    else:
        run_in_app(app_root, "import sys; from layers.tickets import TicketStore; "
                   "TicketStore.for_store(sys.argv[1], seed=True).close()",
                   str(target))
    return target


def app_labels(app_root: Path) -> dict[str, str]:
    """The Chinese interface words the benchmark clicks on, from the app under test."""
    code = ("import json, sys; from dashboard.i18n import t; "
            "print(json.dumps({k: t(k, 'zh') for k in sys.argv[1:]}))")
    return json.loads(run_in_app(app_root, code, *LABEL_KEYS))


def add_account(app_root: Path, store: Path) -> tuple[str, str]:
    """An administrator in ``store`` (when the app asks for a login), with the app's code."""
    run_in_app(app_root, "import sys; from layers.auth import Accounts; "
               "Accounts(sys.argv[1]).add('bench', 'admin', password=sys.argv[2], by='bench')",
               str(store), PASSWORD)
    return "bench", PASSWORD


def store_rows(store: Path | str, sql: str) -> list[tuple]:
    """Plain attribute rows of a GeoPackage (it is SQLite), read-only, or of a PostGIS store
    (its schema ``wangge``; booleans compared as ``= 1`` become ``= true``)."""
    if str(store).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(store).split("?")[0], autocommit=True) as con:
            con.execute("SET search_path = wangge, public")
            return con.execute(sql.replace("is_party_member = 1", "is_party_member")).fetchall()
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
        return con.execute(sql).fetchall()


def to_postgis(store: Path, app_root: Path, url: str) -> str:
    """``store`` copied into the PostGIS database ``url`` with the app's own ``copy``."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "layers", "copy", str(store), url, "-q"],
                   cwd=app_root, check=True)
    print(f"copied to PostGIS in {time.perf_counter() - t0:.0f} s", flush=True)
    return url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``streamlit run``: its URL, process and when it was started."""

    url: str
    proc: subprocess.Popen
    started: float  # time.perf_counter() when the process was started
    healthy: float  # … when /_stcore/health first answered
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextmanager
def streamlit_server(app_root: Path, store: Path, log_dir: Path,
                     timeout: float = 180) -> Iterator[Server]:
    """``streamlit run APP_ROOT/dashboard/app.py`` (cwd ``app_root``, so its
    ``.streamlit/config.toml`` applies) on a free port, showing ``store``; no file watcher
    (others may be editing the tree)."""
    port = _free_port()
    log = log_dir / f"streamlit-{port}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app_root / "dashboard" / "app.py"),
             "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=app_root, env={**os.environ, "WANGGE_STORE": str(store)},
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        healthy = _wait_healthy(url, proc, started + timeout, log)
        yield Server(url, proc, started, healthy, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, deadline: float, log: Path) -> float:
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("streamlit did not start: " + log.read_text(errors="replace")[-2000:])


def git_describe(app_root: Path) -> str:
    """The app's commit, with ``+dirty`` when its tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(app_root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(app_root), "status", "--porcelain",
                                "--untracked-files=no", "--", "dashboard", "layers"],
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


# --------------------------------------------------------------------------------------------
# one browser tab on the app


class Tab:
    """A page of the app in a browser context: opens addresses, performs a user's actions
    and measures them (:data:`PAGE_JS` is installed in every frame)."""

    def __init__(self, page: Any, url: str, labels: dict[str, str],
                 login: Callable[[], tuple[str, str]] | None = None) -> None:
        self.page, self.url, self.labels = page, url, labels
        self._login = login
        #: how often the page checks for the signal while waiting (ms): the time resolution
        self.poll_ms = 25
        #: × the time a click is given to set anything going (5 s) before it counts as lost
        self.patience = 1.0
        self.credentials: tuple[str, str] | None = None

    @classmethod
    async def new(cls, context: Any, url: str, labels: dict[str, str],
                  login: Callable[[], tuple[str, str]] | None = None) -> Tab:
        await context.add_init_script(PAGE_JS)
        return cls(await context.new_page(), url, labels, login)

    # -- waiting -------------------------------------------------------------------------------

    async def arm(self, from_navigation: bool = False) -> None:
        await self.page.evaluate("f => window.__bench.arm(f)", from_navigation)

    async def wait(self, kind: str, note: str = "", **spec: Any) -> Sample:
        """Wait (in the page) for ``kind``'s signal and a quiet spell; the measurement."""
        spec = {"kind": kind, "pollMs": self.poll_ms, **spec}
        budget = spec.get("timeoutMs", 60_000) / 1000 + 30
        r = await asyncio.wait_for(self.page.evaluate("s => window.__bench.wait(s)", spec),
                                   budget)
        return Sample.from_page(r, note)

    async def measure(self, action: Callable[[], Awaitable[Any]], kind: str,
                      note: str = "", **spec: Any) -> Sample:
        """Arm, act, wait: one timed interaction."""
        await self.arm()
        await action()
        return await self.wait(kind, note, **spec)

    async def settle(self, quiet_ms: int = 1500, pause_s: float = 1.0,
                     timeout_ms: int = 180_000) -> None:
        """Untimed: let every run and render finish (the map component renders twice and is
        not ready for clicks right after its first drawing)."""
        await self.arm()
        await self.wait("quiet", quietMs=quiet_ms, timeoutMs=timeout_ms)
        await asyncio.sleep(pause_s)

    # -- opening pages -------------------------------------------------------------------------

    async def open(self, path: str = "/", timeout_ms: int = 120_000) -> Sample:
        """A new session at ``path`` (``goto``): from navigation start to the map drawn (after
        the login, from the login button, when the store asks for one)."""
        await self.page.goto(self.url + path, wait_until="domcontentloaded", timeout=timeout_ms)
        await self.arm(from_navigation=True)
        login = f'input[aria-label="{self.labels["auth_user"]}"]'
        r = await self.wait("anyMap", timeoutMs=timeout_ms, quietMs=400, loginSel=login)
        return await self._log_in(timeout_ms) if r.fail == "login" else r

    async def _log_in(self, timeout_ms: int) -> Sample:
        if self.credentials is None:
            if self._login is None:
                raise RuntimeError("the store asks for a login and no account was given")
            self.credentials = self._login()
        name, password = self.credentials
        await self.page.locator(f'input[aria-label="{self.labels["auth_user"]}"]').fill(name)
        await self.page.locator(
            f'input[aria-label="{self.labels["auth_password"]}"]').fill(password)
        button = self.page.get_by_role("button", name=self.labels["auth_login"], exact=True)
        return await self.measure(button.click, "anyMap", note="from the login button",
                                  timeoutMs=timeout_ms)

    async def go(self, url_path: str, timeout_ms: int = 120_000) -> Sample:
        """Click the sidebar link to ``url_path`` ("" = the first page): until its map is
        drawn."""
        link = self.page.locator(f'[data-testid="stSidebarNav"] a[href="{self.url}/{url_path}"]')
        return await self.measure(link.first.click, "newMap", timeoutMs=timeout_ms)

    # -- on the map ----------------------------------------------------------------------------

    async def _aim(self, kinds: tuple[str, ...], exclude: list[str],
                   candidates: list[str] | None) -> dict | None:
        """Where to click: a feature on the drawn map, or (a thin client, no map drawn) the
        first of ``candidates`` not excluded, "clicked" through the component protocol."""
        if candidates is None:
            return await self.page.evaluate("a => window.__bench.target(a[0], a[1])",
                                            [list(kinds), exclude])
        code = next((c for c in candidates if c not in exclude), None)
        return None if code is None else {"code": code, "kind": kinds[0], "stub": True}

    async def _click(self, hit: dict) -> None:
        if hit.get("stub"):
            await self.page.evaluate("h => window.__bench.stubClick(h.kind, h.code)", hit)
        else:
            await self.page.mouse.click(hit["x"], hit["y"])

    async def click_feature(self, kinds: tuple[str, ...] = ("g",), exclude: tuple[str, ...] = (),
                            tries: int = 3, timeout_ms: int = 60_000,
                            candidates: list[str] | None = None) -> tuple[Sample, str | None]:
        """Click a grid (or another kind) on the map: until the detail panel shows its code
        (a thin client "clicks" one of ``candidates``).
        A click that sets nothing going within 5 s, or whose run ends without the panel
        (the map remounted and dropped it), is tried again (and counted in the note)."""
        lost: list[str] = []
        tried = list(exclude)
        for _ in range(tries):
            hit = await self._aim(kinds, tried, candidates)
            if hit is None:
                return Sample(None, None, fail="no target"), None
            s = await self.measure(lambda h=hit: self._click(h), "text",
                                   text=hit["code"], timeoutMs=timeout_ms,
                                   giveUpMs=int(5000 * self.patience), lostMs=3000)
            if s.fail not in ("nothing", "lost"):
                s.retries = len(lost)
                return s, hit["code"]
            lost.append(s.fail)
            tried.append(hit["code"])
            await self.settle(quiet_ms=1000, pause_s=1.0)
        return Sample(None, None, fail="lost", retries=len(lost)), None

    async def pan(self, dx: int = 300, dy: int = 150, quiet_ms: int = 1500) -> Sample:
        """Drag the map by (dx, dy) px: from the release until the map is updated (any rerun
        it causes drawn)."""
        box = await self.page.evaluate("() => window.__bench.mapBox()")
        if box is None:
            return Sample(None, None, fail="no map")
        mouse = self.page.mouse
        await mouse.move(box["x"], box["y"])
        await mouse.down()
        await mouse.move(box["x"] - dx, box["y"] - dy, steps=8)
        await self.arm()
        await mouse.up()
        return await self.wait("quiet", quietMs=quiet_ms)

    async def zoom_to(self, level: int, quiet_ms: int = 1500) -> Sample:
        """Zoom the map to ``level`` around its centre (``map.setZoom``, as the mouse wheel
        would): until the map is updated."""
        return await self.measure(lambda: self.page.evaluate("z => window.__bench.setZoom(z)",
                                                             level), "quiet", quietMs=quiet_ms)

    async def zoom_in(self, quiet_ms: int = 1500) -> Sample:
        """The map's + button: until the map is updated."""
        box = await self.page.evaluate("() => window.__bench.mapBox()")
        if box is None or box["zx"] is None:
            return Sample(None, None, fail="no zoom button")
        return await self.measure(lambda: self.page.mouse.click(box["zx"], box["zy"]), "quiet",
                                  quietMs=quiet_ms)

    # -- the sidebar ---------------------------------------------------------------------------

    async def pick_community(self, code: str, timeout_ms: int = 60_000) -> Sample:
        """Choose a community in the sidebar filter: until the map is drawn anew (a new map,
        or the shown one with other features or another view)."""
        box = self.page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
            has_text=self.labels["community_filter"]).first
        await box.click()
        await self.page.keyboard.type(code)
        await asyncio.sleep(0.3)
        return await self.measure(lambda: self.page.keyboard.press("Enter"), "mapChanged",
                                  timeoutMs=timeout_ms)

    async def search(self, query: str) -> Sample:
        """Type in the sidebar search and press Enter: until the results are listed."""
        box = self.page.locator(f'[data-testid="stSidebar"] input[aria-label='
                                f'"{self.labels["search"]}"]')
        await box.fill(query)
        return await self.measure(lambda: box.press("Enter"), "text",
                                  where='[data-testid="stSidebar"]',
                                  text=self.labels["search_results"])

    async def pick_result(self, code: str) -> Sample:
        """Pick the search result naming ``code``: until the detail panel shows it."""
        option = self.page.locator('[data-testid="stSidebar"] [data-testid="stRadio"] label',
                                   has_text=code).first
        return await self.measure(option.click, "text", text=code)

    # -- tickets -------------------------------------------------------------------------------

    async def open_ticket(self, row: int = 0) -> str | None:
        """On the tickets page: the list tab, tick row ``row``; the heading of its detail."""
        tab = self.page.get_by_role("tab", name=self.labels["tab_list"], exact=True)
        if await tab.count():
            await tab.first.click()
            await self.settle(quiet_ms=800, pause_s=0.3)
        table = self.page.locator('[data-testid="stDataFrame"]:visible').first
        await table.wait_for(timeout=30_000)
        bbox = await table.bounding_box()
        await self.page.mouse.click(bbox["x"] + 18, bbox["y"] + 35 + 17 + 35 * row)
        await self.settle(quiet_ms=800, pause_s=0.3)
        for h in await self.page.evaluate("() => window.__bench.headings()"):
            if re.match(r"^T\S+ · ", h):
                return h
        return None

    async def move_ticket(self, heading: str) -> Sample:
        """Press the ticket's first move button: until its heading shows the new status."""
        button = self.page.locator('[data-testid="stFormSubmitButton"]:visible button').first
        if not await button.count():
            return Sample(None, None, fail="no move button")
        tid = heading.split(" · ")[0]
        return await self.measure(button.click, "heading", prefix=f"{tid} ·", old=heading,
                                  note=(await button.inner_text()).strip())


# --------------------------------------------------------------------------------------------
# the town: every page with a map, and the interactions


PAGES = (("", "page_map", "地图总览 page → map drawn"), ("coverage", "page_coverage",
         "覆盖分析 page → map drawn"), ("reach", "page_reach", "服务覆盖 page → map drawn"),
         ("tickets", "page_tickets", "工单 page → map drawn"))


async def attempt(action: Awaitable[Any]) -> Any:
    """Run one interaction; an exception (a locator not found, a page that did not load)
    becomes a failed sample instead of ending the benchmark."""
    try:
        return await action
    except Exception as exc:  # noqa: BLE001 - every failure is a figure
        return Sample(None, None, fail=type(exc).__name__,
                      note=(str(exc).splitlines() or [""])[0][:160])


async def town_pass(tab: Tab, rep: Report, run: int, picks: dict[str, list]) -> None:
    """One pass over the town figures (recorded unless ``run`` is 0, the warm-up)."""
    rec = run > 0
    fig = rep.figure("open", "new session (goto /) → map drawn", "≤ 1.5 s")
    rep.add(fig, await attempt(tab.open("/")), rec)
    await attempt(tab.settle())
    for url_path, key, label in PAGES[1:] + PAGES[:1]:
        rep.add(rep.figure(key, label, "≤ 1.5 s"), await attempt(tab.go(url_path)), rec)
        await attempt(tab.settle(quiet_ms=800, pause_s=0.5))
    await attempt(tab.settle(pause_s=2.0))
    clicked = await attempt(tab.click_feature(("g",), tries=4))
    sample, code = clicked if isinstance(clicked, tuple) else (clicked, None)
    rep.add(rep.figure("click_grid", "click a grid on the map → detail panel shows its code",
                       "≤ 0.5 s"), sample, rec)
    communities = picks["communities"]
    await attempt(_fresh(tab, "/"))
    rep.add(rep.figure("filter", "sidebar community filter → map drawn anew", "≤ 0.8 s"),
            await attempt(tab.pick_community(communities[run % len(communities)])), rec)
    await _search_pass(tab, rep, run, picks, code)
    await _ticket_pass(tab, rep, run)


async def _fresh(tab: Tab, path: str) -> None:
    """Untimed: a new session at ``path``, settled."""
    await tab.open(path)
    await tab.settle()


async def _search_pass(tab: Tab, rep: Report, run: int, picks: dict[str, list],
                       clicked: str | None) -> None:
    rec = run > 0
    grids = [g for g in picks["grids"] if g[0] != clicked]
    code, name = grids[(run * 7) % len(grids)]
    await attempt(_fresh(tab, "/"))
    rep.add(rep.figure("search_query", "sidebar search: Enter → results listed", ""),
            await attempt(tab.search(name)), rec)
    await attempt(tab.settle(quiet_ms=800, pause_s=0.3))
    rep.add(rep.figure("search_pick", "search result picked → detail panel shows its code",
                       "≤ 0.8 s"), await attempt(tab.pick_result(code)), rec)


async def _ticket_pass(tab: Tab, rep: Report, run: int) -> None:
    fig = rep.figure("ticket_move", "ticket move button → its new status shown", "≤ 0.5 s")
    await attempt(_fresh(tab, "/tickets"))
    for row in range(4):  # a ticket at its final status has no move buttons: the next one
        heading = await attempt(tab.open_ticket(row))
        if isinstance(heading, str):
            sample = await attempt(tab.move_ticket(heading))
            if sample.fail != "no move button":
                rep.add(fig, sample, run > 0)
                return
    rep.add(fig, Sample(None, None, fail="no ticket to move"), run > 0)


def town_picks(store: Path) -> dict[str, list]:
    """Communities (codes) to filter by and grids (code, name) to search for, in a fixed
    order so that before and after pick the same ones."""
    comms = [c for (c,) in store_rows(store, "SELECT code FROM communities ORDER BY code")]
    grids = store_rows(store, "SELECT code, name FROM grids ORDER BY code")
    return {"communities": comms[1:] + comms[:1], "grids": grids}


# --------------------------------------------------------------------------------------------
# the city: opening the store, the first view, pan and zoom, a community


async def city_pass(tab: Tab, rep: Report, run: int) -> None:
    """One pass over the city figures that can be repeated (the warm-up is run 0)."""
    rec = run > 0
    first = rep.add(rep.figure("city_first_view", "first map view (new session, warm server)",
                               "≤ 2 s, ≤ 2 MB"), await attempt(tab.open("/")), rec)
    await attempt(tab.settle())
    rep.add(rep.figure("city_pan", "pan (drag 300×150 px) → map updated", "≤ 1 s, ≤ 2 MB",
                       primary="settled"), await attempt(tab.pan()), rec)
    await attempt(tab.settle(quiet_ms=800, pause_s=0.3))
    zoomed = rep.add(rep.figure("city_zoom", "zoom in (+ button) → map updated",
                                "≤ 1 s, ≤ 2 MB", primary="settled"),
                     await attempt(tab.zoom_in()), rec)
    await attempt(tab.settle(quiet_ms=800, pause_s=0.3))
    street = rep.add(rep.figure("city_street", f"zoom to street level ({STREET_ZOOM}) → map "
                                "updated", "buildings shown", primary="settled"),
                     await attempt(tab.zoom_to(STREET_ZOOM)), rec)
    if rec:
        for name, s in (("overview", first), ("zoomed_in", zoomed), ("street", street)):
            rep.facts.setdefault(f"buildings_drawn_{name}", []).append(
                {"zoom": s.zoom, "buildings": s.buildings, "svg_paths": s.svg_paths,
                 "features": s.features})


async def city_start(browser: Any, server: Server, labels: dict[str, str], rep: Report,
                     login: Callable[[], tuple[str, str]], key: str = "city_start",
                     label: str = "server start → first page with its map drawn") -> None:
    """The first visit after the server started: the time to open the city store."""
    ctx = await browser.new_context(viewport=VIEWPORT)
    tab = await Tab.new(ctx, server.url, labels, login)
    t0 = time.perf_counter()
    sample = await attempt(tab.open("/", timeout_ms=300_000))
    if sample.seconds is not None:
        sample.note = (f"process start → health {server.healthy - server.started:.1f} s; "
                       f"page opened {t0 - server.started:.1f} s after the start, its map "
                       f"drawn {sample.seconds:.1f} s later")
        sample.seconds += t0 - server.started
    rep.add(rep.figure(key, label, "≤ 5 s"), sample)
    rep.facts[f"{key}_server_start_to_health_s"] = round(server.healthy - server.started, 2)
    await ctx.close()


def wait_for_snapshot(store: Path, timeout_s: float = 300) -> float | None:
    """Seconds until the app's snapshot beside ``store`` (``<stem>.snapshot/``: a file per
    layer and the coverage) is complete and no file is being written; None when the app
    under test keeps none (an older checkout)."""
    if str(store).startswith("postgresql://"):
        from layers.store import open_store

        folder = open_store(str(store)).cache_dir()
        layers = len(open_store(str(store)).layer_names())
    else:
        folder = store.with_name(store.stem + ".snapshot")
        layers = len(store_rows(store, "SELECT table_name FROM gpkg_contents WHERE table_name "
                                       "NOT IN ('store_meta', 'change_log')"))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if folder.is_dir():
            names = [p.name for p in folder.iterdir()]
            done = sum(n.endswith(".arrow") for n in names)
            if done >= layers and any(n.startswith("coverage.") for n in names) and \
                    not any(n.endswith(".tmp") for n in names):
                return time.perf_counter() - t0
        time.sleep(0.5)
    return None


async def city_after_edit(tab: Tab, rep: Report, store: Path, app_root: Path,
                          runs: int) -> None:
    """A new session right after another process changed the store: a ticket filed (the map's
    open tickets change, nothing of the layers) and a sentinel assigned (the assignments and
    so the coverage change). The same open without an edit is ``city_first_view``."""
    grids = list(zip([g for (g,) in store_rows(store, "SELECT code FROM grids ORDER BY code "
                                                     "DESC LIMIT 50")],
                     [p for (p,) in store_rows(store, "SELECT person_id FROM people WHERE "
                                                     "is_party_member = 1 LIMIT 50")],
                     strict=True))
    lonlat = store_rows(store, "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface("
                               "geom)) FROM grids ORDER BY fid LIMIT 1")[0] \
        if str(store).startswith("postgresql://") else store_rows(
            store, "SELECT (minx + maxx) / 2, (miny + maxy) / 2 FROM rtree_grids_geom LIMIT 1")[0]
    edits = {
        "city_edit_ticket": ("a ticket filed by another process → new session, map drawn",
                             lambda i: ["tickets", "add", str(store), "--category",
                                        "sanitation", "--lon", str(lonlat[0]), "--lat",
                                        str(lonlat[1]), "--text", f"bench {i}"]),
        "city_edit_assign": ("a sentinel assigned by another process → new session, map drawn",
                             lambda i: ["assign", str(store), "--person", grids[i][1],
                                        "--role", "grid_sentinel", "--target", grids[i][0],
                                        "--by", "bench"]),
    }
    for key, (label, args) in edits.items():
        fig = rep.figure(key, label, "≤ 1 s more than city_first_view")
        for i in range(runs):
            subprocess.run([sys.executable, "-m", "layers", *args(i)], cwd=app_root,
                           check=True, capture_output=True)
            rep.add(fig, await attempt(tab.open("/")))
            await attempt(tab.settle())
async def city_community(tab: Tab, rep: Report, codes: list[str], runs: int,
                         timeout_s: float) -> None:
    """Choosing communities in the sidebar filter, each with a time limit; stops after the
    first timeout (the server is then still busy with it)."""
    fig = rep.figure("city_community", "sidebar community filter → map drawn",
                     "≤ 2 s", timeout_s=timeout_s)
    for code in codes[:runs]:
        await attempt(_fresh(tab, "/"))
        sample = await attempt(tab.pick_community(code, timeout_ms=int(timeout_s * 1000)))
        rep.add(fig, sample)
        if sample.fail:
            break


# --------------------------------------------------------------------------------------------
# printing


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    if n >= 1e6:
        return f"{n / 1e6:.2f} MB"
    return f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n:.0f} B"


def fmt_time(fig: Figure) -> str:
    s = fig.summary()
    if s["median_s"] is None:
        fails = s["fails"]
        if "timeout" in fails and fig.timeout_s:
            return f"> {fig.timeout_s:.0f} s (timeout)"
        return "failed: " + ", ".join(sorted(set(fails))) if fails else "—"
    text = f"{s['median_s']:.2f} s"
    if s["ok"] > 1:
        text += f" ({s['min_s']:.2f}–{s['max_s']:.2f})"
    if s["fails"]:
        text += f" + {len(s['fails'])} failed ({', '.join(sorted(set(s['fails'])))})"
    return text


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def table(rep: Report) -> str:
    """The figures as a Markdown table (also printed)."""
    head = ("| figure | target | time: median (min–max) | last WS message | settled | "
            "WS received | HTTP | SVG paths | features (buildings) | map remounted | n |")
    lines = [head, "|" + "---|" * 11]
    for fig in rep.figures.values():
        s = fig.summary()
        feats = (f"{_num(s['features'])} ({_num(s['buildings'])})"
                 if s["features"] is not None else "—")
        settled = "—" if s["settled_s"] is None else f"{s['settled_s']:.2f} s"
        msg = "—" if s["last_message_s"] is None else f"{s['last_message_s']:.2f} s"
        lines.append(f"| {fig.label} | {fig.target} | {fmt_time(fig)} | {msg} | {settled} | "
                     f"{fmt_bytes(s['ws_bytes'])} | {fmt_bytes(s['http_bytes'])} | "
                     f"{_num(s['svg_paths'])} | {feats} | {s['remounted']}/{s['ok']} | "
                     f"{s['n']} |")
    notes = [f"- {fig.label}: " + "; ".join(_notes(fig.summary()))
             for fig in rep.figures.values() if _notes(fig.summary())]
    return "\n".join(lines + (["", *notes] if notes else []))


def _notes(s: dict[str, Any]) -> list[str]:
    out = list(s["notes"])
    if s["retried"]:
        out.append(f"{s['retried']} of {s['n']} runs needed another click: the first one set "
                   f"a run going that ended without the panel (or did nothing)")
    return out


def to_json(rep: Report, meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "facts": rep.facts,
            "figures": {k: {"label": f.label, "target": f.target, "primary": f.primary,
                            "summary": f.summary(), "samples": [asdict(s) for s in f.samples]}
                        for k, f in rep.figures.items()}}


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "loadavg": os.getloadavg(),
            "chromium": subprocess.run([CHROMIUM, "--version"], capture_output=True,
                                       text=True).stdout.strip()}


# --------------------------------------------------------------------------------------------
# main


async def bench(args: argparse.Namespace, store: Path, workdir: Path) -> tuple[Report, dict]:
    """Start the server on ``store``, open Chromium, run the passes."""
    from playwright.async_api import async_playwright

    labels = app_labels(args.app_root)
    rep = Report()
    meta: dict[str, Any] = {"label": args.label, "store": args.store, "runs": args.runs,
                            "figures": args.figures,
                            "app_root": str(args.app_root), "app": git_describe(args.app_root),
                            "when": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()}
    login = lambda: add_account(args.app_root, store)  # noqa: E731 - only when asked for
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if args.figures == "city":  # the copy was never opened: no snapshot beside it yet
            with streamlit_server(args.app_root, store, workdir) as server:
                await city_start(browser, server, labels, rep, login, "city_start_first",
                                 "first server start on a store never opened (no snapshot)")
                done = wait_for_snapshot(store)
                rep.facts["snapshot_complete_after_first_page_s"] = done and round(done, 1)
            for _ in range(0 if args.edits_only else args.runs - 1):  # restarts; the last
                # one serves the passes
                with streamlit_server(args.app_root, store, workdir) as server:
                    await city_start(browser, server, labels, rep, login)
        with streamlit_server(args.app_root, store, workdir) as server:
            meta["server_pid"] = server.pid
            if args.figures == "city":
                await city_start(browser, server, labels, rep, login)
            if not args.start_only:
                ctx = await browser.new_context(viewport=VIEWPORT)
                tab = await Tab.new(ctx, server.url, labels, login)
                await _passes(args, tab, rep, store)
        await browser.close()
    meta["machine"]["loadavg_end"] = os.getloadavg()
    return rep, meta


async def _passes(args: argparse.Namespace, tab: Tab, rep: Report, store: Path) -> None:
    if args.figures == "city":
        for run in range(args.runs + 1):
            await city_pass(tab, rep, run)
            print(f"  city pass {run}/{args.runs} done", flush=True)
        codes = [c for (c,) in store_rows(store, "SELECT code FROM communities ORDER BY code")]
        picks = [codes[(i * 2654435761) % len(codes)] for i in range(1, args.runs + 1)]
        if not args.edits_only:
            await city_community(tab, rep, picks, args.runs, args.community_timeout)
        await city_after_edit(tab, rep, store, args.app_root, args.runs)
        return
    picks = town_picks(store)
    for run in range(args.runs + 1):
        await town_pass(tab, rep, run, picks)
        print(f"  pass {run}/{args.runs} done" + (" (warm-up)" if run == 0 else ""),
              flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="town",
                    help="town (the app's demo, copied), city (bench/out/city.gpkg, copied) "
                         "or a store path (copied)")
    ap.add_argument("--runs", type=int, default=5, help="timed passes (after one warm-up)")
    ap.add_argument("--label", default="", help="before / after: written into the JSON")
    ap.add_argument("--json", type=Path, help="write the figures and every sample here")
    ap.add_argument("--app-root", type=Path, default=ROOT,
                    help="the checkout whose dashboard/app.py is run (default: this one)")
    ap.add_argument("--figures", choices=("town", "city"),
                    help="which set of figures (default: city for --store city, else town)")
    ap.add_argument("--community-timeout", type=float, default=60,
                    help="city: seconds to wait for a community's map")
    ap.add_argument("--start-only", action="store_true",
                    help="city: only the server starts (the first without the snapshot, "
                         "then --runs with it)")
    ap.add_argument("--edits-only", action="store_true",
                    help="city: one restart, the map passes and the edits by another process "
                         "(no community picks, no further restarts)")
    ap.add_argument("--postgis", action="store_true",
                    help="show the store from PostGIS: a throwaway cluster started here, the "
                         "copy made with `python -m layers copy`")
    ap.add_argument("--both", action="store_true",
                    help="the GeoPackage copy, then the same data in PostGIS, in one run; "
                         "the figures side by side at the end (issue 23)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the private copy of the store is made")
    args = ap.parse_args(argv)
    args.app_root = args.app_root.resolve()
    args.figures = args.figures or ("city" if args.store == "city" else "town")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit("Debian's chromium is needed (apt-get install chromium fonts-noto-cjk)")
    backends = ["gpkg", "postgis"] if args.both else ["postgis" if args.postgis else "gpkg"]
    reports: dict[str, Report] = {}
    for backend in backends:
        rep, meta = _run(args, backend)
        reports[backend] = rep
        print(f"\n## {backend}\n")
        print(table(rep))
        for name, value in rep.facts.items():
            print(f"{name}: {json.dumps(value, ensure_ascii=False)}")
        if args.json:
            out = args.json if len(backends) == 1 else args.json.with_name(
                f"{args.json.stem}_{backend}{args.json.suffix}")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(to_json(rep, meta), ensure_ascii=False, indent=1))
            print(f"\nwritten: {out}")
    if len(reports) > 1:
        print("\n## side by side (median of the runs)\n")
        print(side_by_side(reports))


def _run(args: argparse.Namespace, backend: str) -> tuple[Report, dict]:
    """One pass of the benchmark over a private copy of the store on ``backend``."""
    with tempfile.TemporaryDirectory(prefix="bench-pages-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        store = prepare_store(args.store, args.app_root, workdir)
        with ExitStack() as stack:
            if backend == "postgis":
                from layers.store.postgis.cluster import Cluster

                os.environ.setdefault("WANGGE_CACHE_DIR", str(workdir / "cache"))
                pg = stack.enter_context(Cluster.start())
                store = to_postgis(store, args.app_root, pg.database("bench"))  # type: ignore[assignment]
            print(f"[{backend}] app {args.app_root} ({git_describe(args.app_root)}), store copy "
                  f"{store}, {args.runs} runs + 1 warm-up", flush=True)
            rep, meta = asyncio.run(bench(args, store, workdir))
            meta["backend"] = backend
    return rep, meta


def side_by_side(reports: dict[str, Report]) -> str:
    """Each figure's median time on every backend, one row a figure."""
    names = list(reports)
    lines = ["| figure | target | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
    first = reports[names[0]]
    for key, fig in first.figures.items():
        cells = [fmt_time(r.figures[key]) if key in r.figures else "—"
                 for r in reports.values()]
        lines.append(f"| {fig.label} | {fig.target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
