"""What the browser tests share: a Streamlit server on a free local port and Debian's
Chromium (never a browser Playwright downloads). Screenshots go to ``test-artifacts/`` (or
``$TEST_ARTIFACTS``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(store: Path, **env: str) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on a free local port showing ``store``; yields the
    base URL and stops the server afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run the test command `bash scripts/test.sh`")
    port = _free_port()
    # the server's log goes to a file (a pipe nobody reads would block a chatty server)
    log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the server stops
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "WANGGE_STORE": str(store), **env},
        stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        log_file.seek(0)
        pytest.fail("streamlit did not start: " + log_file.read().decode()[-2000:])
    try:
        yield url
    except BaseException:  # a failing test shows what the server logged
        log_file.seek(0)
        sys.stderr.write("--- streamlit server log (last 6000 characters) ---\n"
                         + log_file.read().decode(errors="replace")[-6000:] + "\n")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_timeout(300)  # a last animation frame (Leaflet's zoom takes 250 ms)
    page.screenshot(path=str(path), full_page=True)
    return path


def add_account(store: Path, name: str, role: str = "admin", password: str = "browser-pass-1",
                **scope: list[str]) -> str:
    """Create an account in ``store`` (the app then requires a login); returns the password."""
    from layers.auth import Accounts

    Accounts(store).add(name, role, password=password, by="test", **scope)
    return password


def login(page, name: str, password: str = "browser-pass-1", lang: str = "zh",
          timeout: int = 90_000) -> None:
    """Log in on the login form the page shows (the session is server-side: every
    ``page.goto`` is a new session and asks again), then wait for the page behind it."""
    from dashboard.i18n import t

    box = page.locator(f'input[aria-label="{t("auth_user", lang)}"]')
    box.wait_for(timeout=timeout)
    box.fill(name)
    page.locator(f'input[aria-label="{t("auth_password", lang)}"]').fill(password)
    page.get_by_role("button", name=t("auth_login", lang), exact=True).click()
    box.wait_for(state="detached", timeout=timeout)


def metric_tiles(page, labels: list[str], timeout: int = 90_000) -> dict[str, str]:
    """The ``st.metric`` tiles (label → value) once every one of ``labels`` is drawn: a
    loaded machine draws them one rerun apart, so wait on the page's state, not a pause."""
    page.wait_for_function(
        "want => { const got = [...document.querySelectorAll('[data-testid=stMetricLabel]')]"
        ".map(e => e.innerText.trim()); return want.every(w => got.includes(w)); }",
        arg=labels, timeout=timeout)
    values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
    names = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
    return dict(zip([s.strip() for s in names], [s.strip() for s in values], strict=True))


def import_file_input(page, lang: str = "zh", timeout: int = 90_000):
    """The data page's import uploader (``data_file``), once it is drawn. Not simply the
    page's first ``input[type=file]``: the 新建辖区 tab is rendered first, so under load its
    (hidden) uploader can be the only one on the page for a while, and a file given to it
    is never checked."""
    from dashboard.i18n import t

    label = page.get_by_text(t("data_file", lang), exact=True)
    box = page.locator("[data-testid=stFileUploader]").filter(has=label).locator(
        "input[type=file]")
    box.wait_for(state="attached", timeout=timeout)
    return box
