"""``python -m layers ARGS`` for the tests, without paying Python's start-up each time.

:func:`run_cli` forks the test process — which has already imported :mod:`layers.cli` and
the libraries under it — and runs ``layers.cli.main(ARGS)`` in the child: a real process of
its own (its own standard streams, exit code, environment and working folder; the parent's
pooled database connections are dropped at fork, :mod:`layers.store.postgis._url`), as
``python -m layers`` runs it, at ~0.05 s instead of ~2 CPU-seconds of imports a call. The
module entry point itself (``layers/__main__.py``) is run for real by ``test_cli.py``.

``REAL_CLI=1`` in the environment makes every call a real ``python -m layers`` subprocess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

import layers.cli  # noqa: F401 - imported once here, inherited by every child
import layers.importer  # noqa: F401
import layers.register  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
_REAL = os.environ.get("REAL_CLI") == "1"


def _child(args: list[str], stdin: int, out: int, err: int,
           env: Mapping[str, str] | None, cwd: Path | str | None) -> None:  # pragma: no cover
    """In the forked child: the standard streams onto the files, then the CLI; never returns."""
    code = 1
    try:
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        from layers.cli import main

        code = main(args)
    except SystemExit as exc:  # argparse: exit 2 with its usage message
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what Python prints for an uncaught exception, exit 1
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # nothing left to tell
                stream.flush()
        os._exit(code)


def run_cli(*args: object, input: str | None = None, env: Mapping[str, str] | None = None,
            cwd: Path | str | None = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m layers ARGS`` (text in and out), as :func:`subprocess.run` returns it."""
    argv = [str(a) for a in args]
    if _REAL:
        return subprocess.run([sys.executable, "-m", "layers", *argv], cwd=cwd, input=input,
                              env=None if env is None else dict(env), capture_output=True,
                              text=True, timeout=timeout, check=False)
    started = Started(argv, env, cwd, input=input)
    out, err = started.communicate(timeout)
    return subprocess.CompletedProcess(started.args, started.returncode, out, err)


def _wait(pid: int, timeout: float, argv: Sequence[str]) -> int:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(["python", "-m", "layers", *argv], timeout)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class Started:
    """A forked ``python -m layers ARGS`` running in the background; ``communicate()`` as
    :class:`subprocess.Popen` has it (text)."""

    def __init__(self, argv: list[str], env: Mapping[str, str] | None,
                 cwd: Path | str | None, input: str | None = None) -> None:
        self.args = ["python", "-m", "layers", *argv]
        self.returncode: int | None = None
        self._files = [tempfile.TemporaryFile() for _ in range(3)]  # noqa: SIM115
        self._files[0].write((input or "").encode("utf-8"))
        self._files[0].flush()
        self._files[0].seek(0)
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            _child(argv, *(f.fileno() for f in self._files), env, cwd)

    def communicate(self, timeout: float = 120) -> tuple[str, str]:
        if self.returncode is None:
            self.returncode = _wait(self.pid, timeout, self.args[3:])
        out, err = self._files[1:]
        texts = []
        for f in (out, err):
            f.seek(0)
            texts.append(f.read().decode("utf-8", "replace"))
        for f in self._files:
            f.close()
        return texts[0], texts[1]

    def wait(self, timeout: float = 120) -> int:
        self.communicate(timeout)
        assert self.returncode is not None
        return self.returncode


def start_cli(*args: object, env: Mapping[str, str] | None = None,
              cwd: Path | str | None = ROOT) -> Started | subprocess.Popen:
    """``python -m layers ARGS`` started, not waited for: a forked process of its own, as
    :func:`run_cli` runs it (several at once are several processes writing together)."""
    argv = [str(a) for a in args]
    if _REAL:
        return subprocess.Popen([sys.executable, "-m", "layers", *argv], cwd=cwd,
                                env=None if env is None else dict(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Started(argv, env, cwd)
