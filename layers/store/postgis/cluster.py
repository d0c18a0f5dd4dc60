"""A throwaway PostgreSQL + PostGIS cluster for tests and benchmarks (never for production):
``initdb`` in a temporary folder as the ``postgres`` user, ``pg_ctl`` on 127.0.0.1 and a Unix
socket in that folder, trust authentication for local connections only, stopped and removed
when done. Debian's ``postgresql-15-postgis-3`` provides the binaries (the test command
installs it); ``$WANGGE_PG_BIN`` points elsewhere.

Usage::

    with Cluster.start() as pg:
        url = pg.database("wangge")      # postgresql://postgres@127.0.0.1:PORT/wangge
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Where Debian puts the server's programs.
DEFAULT_BIN = Path("/usr/lib/postgresql/15/bin")


class ClusterError(RuntimeError):
    """The throwaway cluster could not be started (binaries missing, initdb failed …)."""


def pg_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``."""
    return Path(os.environ.get("WANGGE_PG_BIN") or DEFAULT_BIN)


def available() -> bool:
    """Whether a throwaway cluster can be started here (the binaries and PostGIS exist)."""
    lib = pg_bin().parent / "lib"
    return (pg_bin() / "initdb").exists() and any(lib.glob("postgis-3*.so"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as the ``postgres`` user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class Cluster:
    """A running throwaway cluster."""

    folder: Path
    port: int
    user: str = "postgres"

    @classmethod
    @contextlib.contextmanager
    def start(cls, folder: Path | None = None) -> Iterator[Cluster]:
        """Start a cluster (stopped and deleted when the block ends).

        Raises
        ------
        ClusterError
            The binaries are missing or the server did not start.
        """
        if not available():
            raise ClusterError(f"PostgreSQL/PostGIS binaries not found in {pg_bin()} (install "
                               "postgresql-15-postgis-3, or set WANGGE_PG_BIN)")
        own = folder is None
        root = Path(tempfile.mkdtemp(prefix="wangge-pg-")) if folder is None else folder
        os.chmod(root, 0o755)
        data = root / "data"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        cluster = cls(root, _free_port(), user)
        try:
            cluster._init(data)
            cluster._run(data)
            yield cluster
        finally:
            cluster._stop(data)
            if own:
                shutil.rmtree(root, ignore_errors=True)

    def _init(self, data: Path) -> None:
        out = subprocess.run(_as_postgres([str(pg_bin() / "initdb"), "-D", str(data), "-A",
                                           "trust", "-U", self.user, "-E", "UTF8",
                                           "--locale=C.UTF-8"]),
                             capture_output=True, text=True, check=False)
        if out.returncode:
            raise ClusterError(f"initdb failed: {out.stderr.strip()[-500:]}")

    def _run(self, data: Path) -> None:
        opts = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=256MB")
        out = subprocess.run(_as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(data), "-o", opts,
                                           "-l", str(self.folder / "server.log"), "-w", "-t",
                                           "60", "start"]),
                             capture_output=True, text=True, check=False)
        if out.returncode:
            log = (self.folder / "server.log")
            tail = log.read_text()[-800:] if log.exists() else out.stderr
            raise ClusterError(f"pg_ctl start failed: {tail}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run([str(pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(self.port)], capture_output=True, check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise ClusterError("the server did not accept connections within 30 s")

    def _stop(self, data: Path) -> None:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(data), "-m",
                                         "immediate", "-w", "stop"]),
                           capture_output=True, check=False)

    def url(self, database: str = "postgres") -> str:
        """A URL of ``database`` on this cluster."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """Create database ``name`` with PostGIS (if missing); its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as con:
            exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone()
            if not exists:
                con.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.url(name), autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url(name)
