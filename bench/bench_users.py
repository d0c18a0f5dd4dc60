"""Many users against one server (issue 15): latency at N concurrent users, and what limits it.

Usage::

    python bench/bench_users.py                                   # N = 1, 10, 30; 60 s each
    python bench/bench_users.py --users 1,10 --seconds 30 --app-root /tmp/before \\
        --json bench/out/users_before.json
    python bench/bench_users.py --client full --users 1,10        # every user draws the map

One ``streamlit run DIR/dashboard/app.py`` shows a private copy of the town demo. For each N,
N users join (N browser contexts of **one** Chromium: one browser process, a renderer process
per user) and each repeats, for ``--seconds``, what a street-office clerk does:

    click a grid on the map → pick a community in the sidebar → open 工单 → open 地图总览

with a think time of ``--think`` s (× 0.5–1.5, random) between actions. Each action is timed
in the page as ``bench_pages.py`` does (until its signal holds and the page is quiet; the page
polls every ``--poll-ms``). A click that is lost (the app's run ends without the panel) is
repeated on another grid and counted as "re-clicked"; an action that fails makes the user open
the app again (a new session), as a person would.

Clients: the users' browsers run on the same cores as the server. With ``--client full`` each
Chromium page draws every map (4,000 SVG paths per town map before issue 15): at 10 users the
browsers alone take more than a core and the figures say more about the client than the server.
The default ``--client thin`` replaces only the map component by a stub that speaks the same
component protocol (ready, height, the value a click sends) and receives the same map, but draws
nothing: the server does exactly the same work and sends the same bytes, and a "click" sends
the value the component would send for a grid of the community shown. What a user waits for
with a drawn map is measured by ``bench_pages.py``.

Reported per N: the median and 90th percentile per action, the share of it until the last
WebSocket message (server and transfer), actions per minute, failures; the server process's
CPU (100 % = one core; one Python process runs Python code on at most one core at a time: the
GIL) and RSS, read from ``/proc`` every second; memory per connected user (RSS growth while the
N users were connected ÷ N); and the CPU of the browser side and of the whole machine (other
work on a shared machine shows there). Chromium runs at ``nice 10`` (``--browser-nice``) so
that the server under test is served first. No more users join while the machine has less
than ``--min-free-gb`` of memory available.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pages as bp  # noqa: E402 - the server, the store copy and the measuring page

TICK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ACTIONS = ("open", "click_grid", "filter", "tickets_page", "map_page")
ACTION_LABELS = {"open": "join (goto /) → map", "click_grid": "click grid → panel",
                 "filter": "community → map", "tickets_page": "工单 page → map",
                 "map_page": "地图总览 page → map"}


# --------------------------------------------------------------------------------------------
# /proc


def proc_ticks(pid: int) -> int | None:
    """User + system CPU ticks of a process (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (bytes) and thread count of a process."""
    out = {"rss": 0, "threads": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
    except OSError:
        pass
    return out


def descendants(root: int, exclude: int) -> list[int]:
    """Processes below ``root`` (this script: Playwright's driver, Chromium), except
    ``exclude`` (the server) and its children."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for kid in children.get(todo.pop(), []):
            if kid != exclude:
                out.append(kid)
                todo.append(kid)
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


@dataclass
class Usage:
    """CPU (% of one core) and memory over one phase, sampled every second."""

    server_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    machine_cpu: list[float] = field(default_factory=list)
    server_rss: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


class Sampler:
    """Reads the server's and the browser side's CPU and memory from /proc."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.cores = os.cpu_count() or 1
        self._last: tuple[float, int, dict[int, int], tuple[int, int]] | None = None

    def _read(self) -> tuple[float, int, dict[int, int], tuple[int, int]]:
        client = {p: t for p in descendants(os.getpid(), self.server_pid)
                  if (t := proc_ticks(p)) is not None}
        client[os.getpid()] = proc_ticks(os.getpid()) or 0
        return time.perf_counter(), proc_ticks(self.server_pid) or 0, client, machine_ticks()

    def sample(self, into: Usage) -> None:
        now = self._read()
        st = proc_status(self.server_pid)
        into.server_rss.append(st["rss"])
        into.threads.append(st["threads"])
        if self._last is not None:
            t0, s0, c0, (b0, a0) = self._last
            t1, s1, c1, (b1, a1) = now
            dt = max(t1 - t0, 1e-6)
            into.server_cpu.append(100 * (s1 - s0) / TICK / dt)
            into.client_cpu.append(100 * sum(v - c0.get(p, 0) for p, v in c1.items()) / TICK / dt)
            into.machine_cpu.append(100 * self.cores * (b1 - b0) / max(a1 - a0, 1))
        self._last = now

    async def run(self, into: Usage, stop: asyncio.Event, every: float = 1.0) -> None:
        self._last = None
        while not stop.is_set():
            self.sample(into)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        self.sample(into)


# --------------------------------------------------------------------------------------------
# the users


@dataclass
class Event:
    """One action of one user."""

    user: int
    action: str
    at: float  # seconds since the phase started
    sample: bp.Sample


@dataclass
class Phase:
    """N users for a fixed time: what they waited for and what the server used."""

    users: int
    seconds: float
    events: list[Event] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    rss_before: int = 0
    rss_connected: int = 0
    joined_s: float = 0.0
    started: int = 0  # users who joined (fewer than ``users`` when memory ran short)
    stop_at: float = float("inf")  # time.perf_counter() when the loops stop
    notes: list[str] = field(default_factory=list)


@dataclass
class Town:
    """What the users pick from: communities, grids by community ("" = all)."""

    communities: list[str]
    grids: dict[str, list[str]]
    thin: bool

    @classmethod
    def read(cls, store: Path, thin: bool) -> Town:
        rows = bp.store_rows(store, "SELECT code, community_code FROM grids ORDER BY code")
        grids: dict[str, list[str]] = {"": [g for g, _ in rows]}
        for g, c in rows:
            grids.setdefault(c, []).append(g)
        comms = [c for (c,) in bp.store_rows(store, "SELECT code FROM communities ORDER BY code")]
        return cls(comms, grids, thin)


async def new_context(browser: Any, thin: bool) -> Any:
    """A user's browser context (the map component stubbed out for a thin client)."""
    ctx = await browser.new_context(viewport=bp.VIEWPORT)
    if thin:
        await bp.use_thin_client(ctx)
    return ctx


class User:
    """One simulated clerk: a browser context on the app and the loop it repeats."""

    def __init__(self, n: int, tab: bp.Tab, town: Town, think: float, seed: int) -> None:
        self.n, self.tab, self.town, self.think = n, tab, town, think
        self.rng = random.Random(seed)
        self.community: str | None = None
        #: grids this session clicked: not clicked again (the app ignores a click on the grid
        #: clicked last in the session even after the selection was cleared)
        self.clicked: set[str] = set()

    async def join(self, phase: Phase, t0: float, timeout_ms: int) -> bool:
        """Open the app (a new session) and wait for the map; untimed settling after. False
        when that failed (recorded)."""
        at = time.perf_counter() - t0
        self.clicked.clear()  # a new session
        try:
            sample = await self.tab.open("/", timeout_ms)
            await self.tab.settle(quiet_ms=1000, pause_s=0.5, timeout_ms=timeout_ms)
        except Exception as exc:  # noqa: BLE001 - a user who cannot get in is a figure
            sample = bp.Sample(None, None, fail=type(exc).__name__)
        phase.events.append(Event(self.n, "open", at, sample))
        return sample.fail is None

    async def loop(self, phase: Phase, t0: float, timeout_ms: int) -> None:
        """Repeat the clerk's round until ``phase.stop_at`` (an action under way is
        finished)."""
        steps = (("click_grid", self._click), ("filter", self._filter),
                 ("tickets_page", lambda: self.tab.go("tickets", timeout_ms)),
                 ("map_page", lambda: self.tab.go("", timeout_ms)))
        while time.perf_counter() < phase.stop_at:
            for action, step in steps:
                if time.perf_counter() >= phase.stop_at:
                    return
                at = time.perf_counter() - t0
                try:
                    sample = await step()
                except Exception as exc:  # noqa: BLE001 - a user's error is a figure
                    sample = bp.Sample(None, None, fail=type(exc).__name__)
                phase.events.append(Event(self.n, action, at, sample))
                if sample.fail:  # start over, as a user would (a pause if that fails too)
                    if not await self.join(phase, t0, timeout_ms):
                        await asyncio.sleep(5)
                    break
                await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))

    async def _click(self) -> bp.Sample:
        candidates = None
        if self.town.thin:  # no map drawn: "click" a grid of the community shown
            candidates = list(self.town.grids.get(self.community or "", self.town.grids[""]))
            self.rng.shuffle(candidates)
        sample, code = await self.tab.click_feature(("g",), exclude=tuple(self.clicked),
                                                    candidates=candidates)
        self.clicked.update(c for c in (code,) if c)
        return sample

    async def _filter(self) -> bp.Sample:
        choices = [c for c in self.town.communities if c != self.community]
        self.community = self.rng.choice(choices)
        return await self.tab.pick_community(self.community)


def mem_available_gb() -> float:
    """MemAvailable of the machine, GB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1e6
    return float("inf")


async def run_phase(browser: Any, url: str, labels: dict[str, str], n: int,
                    args: argparse.Namespace, sampler: Sampler, town: Town) -> Phase:
    """N users join (staggered by 0.5 s; none while the machine has less than
    ``--min-free-gb`` available), then loop for ``args.seconds`` (stopped early if memory runs
    short)."""
    phase = Phase(n, args.seconds)
    phase.rss_before = proc_status(sampler.server_pid)["rss"]
    stop = asyncio.Event()
    watch = asyncio.create_task(sampler.run(phase.usage, stop))
    contexts: list[Any] = []
    users: list[User] = []
    t0 = time.perf_counter()
    timeout_ms = int(args.timeout * 1000)

    async def one(i: int) -> None:
        await asyncio.sleep(0.5 * i)
        if (free := mem_available_gb()) < args.min_free_gb:
            phase.notes.append(f"user {i} not started: {free:.1f} GB available")
            return
        ctx = await new_context(browser, town.thin)
        contexts.append(ctx)
        tab = await bp.Tab.new(ctx, url, labels)
        tab.poll_ms = args.poll_ms
        tab.patience = 3.0  # a loaded server may take seconds to start the click's run
        user = User(i, tab, town, args.think, seed=1000 * n + i)
        users.append(user)
        if not await user.join(phase, t0, timeout_ms):
            phase.notes.append(f"user {i} failed to join (tries again in the loop)")

    await asyncio.gather(*(one(i) for i in range(n)))
    phase.started = len(users)
    phase.joined_s = time.perf_counter() - t0
    phase.rss_connected = proc_status(sampler.server_pid)["rss"]
    loop_t0 = time.perf_counter()
    phase.stop_at = loop_t0 + args.seconds
    guard = asyncio.create_task(_memory_guard(phase, args.min_free_gb / 2))
    await asyncio.gather(*(u.loop(phase, t0, timeout_ms) for u in users))
    guard.cancel()
    phase.seconds = round(time.perf_counter() - loop_t0, 1)  # with the last actions finished
    stop.set()
    await watch
    for ctx in contexts:
        await ctx.close()
    return phase


async def _memory_guard(phase: Phase, min_gb: float) -> None:
    """End the phase early when the machine runs short of memory."""
    while time.perf_counter() < phase.stop_at:
        if (free := mem_available_gb()) < min_gb:
            phase.notes.append(f"stopped early: {free:.1f} GB available")
            phase.stop_at = time.perf_counter()
            return
        await asyncio.sleep(1)


# --------------------------------------------------------------------------------------------
# the report


def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``values``."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def phase_summary(p: Phase) -> dict[str, Any]:
    """Latency per action; server CPU and memory; throughput."""
    actions: dict[str, Any] = {}
    for a in ACTIONS:
        evs = [e for e in p.events if e.action == a]
        ok = [e.sample.seconds for e in evs if e.sample.fail is None and e.sample.seconds]
        msg = [e.sample.last_message for e in evs
               if e.sample.fail is None and e.sample.last_message is not None]
        actions[a] = {"n": len(evs), "ok": len(ok), "median_s": pct(ok, 0.5),
                      "p90_s": pct(ok, 0.9), "max_s": max(ok) if ok else None,
                      "last_message_median_s": pct(msg, 0.5),
                      "fails": [e.sample.fail for e in evs if e.sample.fail],
                      "retried": sum(e.sample.retries > 0 for e in evs)}
    u = p.usage
    timed = [e for e in p.events if e.action != "open" and e.sample.fail is None]
    peak = max(u.server_rss, default=0)
    end = u.server_rss[-1] if u.server_rss else 0  # the users still connected
    done = [e for e in p.events if e.sample.fail is None]
    cpu_s = (_mean(u.server_cpu) or 0) / 100 * (p.joined_s + p.seconds)
    return {"users": p.users, "started": p.started, "notes": p.notes,
            # the server's CPU time per action it completed (joins included): what one core
            # (one process: the GIL) allows, whatever the clients cost
            "server_cpu_s_per_action": round(cpu_s / len(done), 3) if done else None,
            "seconds": p.seconds, "joined_s": round(p.joined_s, 1),
            "actions": actions, "actions_per_min": round(60 * len(timed) / p.seconds, 1),
            "server_cpu_mean": _mean(u.server_cpu), "server_cpu_max": max(u.server_cpu,
                                                                          default=None),
            "client_cpu_mean": _mean(u.client_cpu), "machine_cpu_mean": _mean(u.machine_cpu),
            "rss_before": p.rss_before, "rss_connected": p.rss_connected, "rss_end": end,
            "rss_peak": peak, "threads_max": max(u.threads, default=0),
            "mb_per_user": round((end - p.rss_before) / max(p.started, 1) / 1e6, 1)}


def _mean(v: list[float]) -> float | None:
    return round(statistics.fmean(v), 1) if v else None


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def tables(summaries: list[dict[str, Any]]) -> str:
    """Latency per action and resources per N, as Markdown tables."""
    head = "| users | " + " | ".join(ACTION_LABELS[a] for a in ACTIONS) + " | actions/min |"
    lines = ["Latency, median / p90 in s (n; failed):", "", head,
             "|" + "---|" * (len(ACTIONS) + 2)]
    for s in summaries:
        cells = []
        for a in ACTIONS:
            x = s["actions"][a]
            extra = f"; {len(x['fails'])} failed" if x["fails"] else ""
            extra += f"; {x['retried']} re-clicked" if x["retried"] else ""
            cells.append(f"{_s(x['median_s'])} / {_s(x['p90_s'])} ({x['n']}{extra})")
        lines.append(f"| {_who(s)} | " + " | ".join(cells) + f" | {s['actions_per_min']} |")
    lines += ["", "Of which until the last WebSocket message before the signal (the server's "
              "run and the transfer; the rest is the browser drawing), median in s:", "",
              "| users | " + " | ".join(ACTION_LABELS[a] for a in ACTIONS) + " |",
              "|" + "---|" * (len(ACTIONS) + 1)]
    for s in summaries:
        lines.append(f"| {_who(s)} | " + " | ".join(
            _s(s["actions"][a]["last_message_median_s"]) for a in ACTIONS) + " |")
    lines += ["", "Resources (CPU: 100 % = one core; the machine has "
              f"{os.cpu_count()} cores = {100 * (os.cpu_count() or 1)} %):", "",
              "| users | server CPU mean / max | server RSS before → joined → end (peak) | "
              "per user: (end − before) ÷ N | server threads | browsers + driver CPU | "
              "whole machine CPU |",
              "|---|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(
            f"| {_who(s)} | {s['server_cpu_mean']} % / {_pct(s['server_cpu_max'])} | "
            f"{s['rss_before'] / 1e6:,.0f} → {s['rss_connected'] / 1e6:,.0f} → "
            f"{s['rss_end'] / 1e6:,.0f} ({s['rss_peak'] / 1e6:,.0f}) MB | {s['mb_per_user']} MB | "
            f"{s['threads_max']} | "
            f"{s['client_cpu_mean']} % | {s['machine_cpu_mean']} % |")
    return "\n".join(lines)


def limits(s: dict[str, Any]) -> str:
    """What the resources say about one phase, in one line."""
    cores = os.cpu_count() or 1
    server, machine = s["server_cpu_mean"] or 0, s["machine_cpu_mean"] or 0
    where = ("the server process is near its one-core ceiling (GIL): one more process would "
             "help" if (s["server_cpu_max"] or 0) >= 90 and server >= 70 else
             "the server process is not CPU-bound (well under one core)")
    busy = (f"the machine was saturated ({machine:.0f} % of {100 * cores} %): the latencies "
            f"include waiting for a core" if machine >= 90 * cores else
            f"the machine had spare CPU ({machine:.0f} % of {100 * cores} %)")
    notes = "".join(f"; {n}" for n in s["notes"])
    per = s["server_cpu_s_per_action"]
    ceiling = (f"; {per:.2f} CPU-s of the server per action: one core serves at most "
               f"{60 / per:.0f} actions/min" if per else "")
    return (f"{_who(s)} users: {where}; {busy}; browsers used {s['client_cpu_mean']} %; "
            f"{s['mb_per_user']} MB of server memory per connected user{ceiling}{notes}")


def _who(s: dict[str, Any]) -> str:
    """The number of users (``k of N`` when memory stopped some from joining)."""
    return str(s["users"]) if s["started"] == s["users"] else f"{s['started']} of {s['users']}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f} %"


# --------------------------------------------------------------------------------------------
# main


def nice_chromium(workdir: Path, nice: int) -> str:
    """A wrapper that starts Chromium at ``nice`` (its renderers inherit it)."""
    if nice <= 0:
        return bp.CHROMIUM
    wrapper = workdir / "chromium-nice"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {bp.CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


async def bench(args: argparse.Namespace, store: Path, workdir: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    labels = bp.app_labels(args.app_root)
    town = Town.read(store, args.client == "thin")
    out: dict[str, Any] = {"app_root": str(args.app_root), "app": bp.git_describe(args.app_root),
                           "label": args.label, "when": time.strftime("%Y-%m-%d %H:%M"),
                           "machine": bp.machine(), "think_s": args.think,
                           "poll_ms": args.poll_ms, "browser_nice": args.browser_nice,
                           "client": args.client,
                           "phases": []}
    with bp.streamlit_server(args.app_root, store, workdir) as server:
        sampler = Sampler(server.pid)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=nice_chromium(workdir, args.browser_nice),
                args=bp.CHROMIUM_ARGS)
            await _warm_up(browser, server.url, labels, town)
            out["rss_warm"] = proc_status(server.pid)["rss"]
            for n in args.users:
                print(f"  {n} user(s) for {args.seconds:.0f} s …", flush=True)
                try:
                    phase = await run_phase(browser, server.url, labels, n, args, sampler,
                                            town)
                except Exception as exc:  # noqa: BLE001 - report, go on with the next N
                    print(f"  {n} users failed: {exc!r}"[:500], flush=True)
                    out.setdefault("failed_phases", []).append({"users": n, "error": repr(exc)})
                    continue
                summary = phase_summary(phase)
                out["phases"].append({**summary, "events": [
                    {"user": e.user, "action": e.action, "at": round(e.at, 2),
                     **asdict(e.sample)} for e in phase.events]})
                if args.json:  # after every phase: a later failure keeps what was measured
                    write_json(args.json, out)
                print(tables([summary]).split("\n\n")[1].splitlines()[-1], flush=True)
                await asyncio.sleep(args.pause)
            await browser.close()
    out["machine"]["loadavg_end"] = os.getloadavg()
    return out


async def _warm_up(browser: Any, url: str, labels: dict[str, str], town: Town) -> None:
    """One untimed round (the store loaded, the page caches filled)."""
    ctx = await new_context(browser, town.thin)
    tab = await bp.Tab.new(ctx, url, labels)
    await tab.open("/", timeout_ms=300_000)
    await tab.settle()
    await tab.click_feature(("g",), candidates=town.grids[""] if town.thin else None)
    await tab.go("tickets")
    await tab.go("")
    await ctx.close()


def write_json(path: Path, out: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client", choices=("thin", "full"), default="thin",
                    help="thin (default): the map component is a stub that receives the map "
                         "but draws nothing, so N browsers do not take the server's cores; "
                         "full: Chromium draws every map as a user's does")
    ap.add_argument("--users", default="1,10,30",
                    help="numbers of concurrent users, one phase each (default 1,10,30)")
    ap.add_argument("--seconds", type=float, default=60, help="duration of each phase")
    ap.add_argument("--think", type=float, default=1.0,
                    help="think time between a user's actions, s (× 0.5–1.5)")
    ap.add_argument("--app-root", type=Path, default=bp.ROOT,
                    help="the checkout whose dashboard/app.py is run (default: this one)")
    ap.add_argument("--store", default="town",
                    help="town (the app's demo, copied; default) or a store path (copied)")
    ap.add_argument("--poll-ms", type=int, default=100,
                    help="how often each page checks for its signal (time resolution)")
    ap.add_argument("--timeout", type=float, default=120, help="per action, s")
    ap.add_argument("--browser-nice", type=int, default=10,
                    help="nice level of Chromium (0: none)")
    ap.add_argument("--pause", type=float, default=5, help="s between phases")
    ap.add_argument("--min-free-gb", type=float, default=3,
                    help="start no more users below this much available memory (and stop a "
                         "phase below half of it)")
    ap.add_argument("--label", default="", help="before / after: written into the JSON")
    ap.add_argument("--json", type=Path, help="write the figures and every action here")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = ap.parse_args(argv)
    args.users = [int(n) for n in args.users.split(",")]
    args.app_root = args.app_root.resolve()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-users-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        store = bp.prepare_store(args.store, args.app_root, workdir)
        print(f"app {args.app_root} ({bp.git_describe(args.app_root)}), store copy {store}; "
              f"users {args.users}, {args.seconds:.0f} s each, think {args.think} s",
              flush=True)
        out = asyncio.run(bench(args, store, workdir))
    print()
    print(tables(out["phases"]))
    print()
    for s in out["phases"]:
        print(limits(s))
    if args.json:
        write_json(args.json, out)
        print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
