"""The GeoPackage file itself: staging files that replace it atomically, its mode and owner
kept, layers written with pyogrio, the service tables carried over a whole-store write."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import stat
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyogrio

from ...errors import StoreError
from ...schema import LAYERS
from .._values import q as _q
from ..base import META_TABLE, SCHEMA_VERSION, SERVICE_TABLES

#: Suffixes SQLite adds beside a GeoPackage being written.
SIDECARS = ("", "-journal", "-wal", "-shm")


def create_staging(target: Path) -> tuple[Path, int]:
    """Create ``.{stem}.XXXXXXXX.tmp.gpkg`` beside ``target`` exclusively; return it and the
    mode a new file gets here (0666 less the umask)."""
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp.gpkg")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise StoreError(f"{target.parent}: cannot create a staging file")  # pragma: no cover


def copy_mode(target: Path, tmp: Path, fresh_mode: int) -> None:
    """Give ``tmp`` the mode (and owner) of ``target``, or ``fresh_mode`` for a new store."""
    try:
        st = target.stat()
    except FileNotFoundError:
        os.chmod(tmp, fresh_mode)
        return
    own = tmp.stat()
    if (own.st_uid, own.st_gid) != (st.st_uid, st.st_gid):
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))


def write_layer(path: Path, name: str, df: pd.DataFrame) -> None:
    s = LAYERS[name]
    if s.geometry is None:
        pyogrio.write_dataframe(pd.DataFrame(df), path, layer=name, driver="GPKG")
        return
    geometry_type = s.geometry[0] if len(s.geometry) == 1 else "Unknown"
    if len(s.geometry) == 2 and set(s.geometry) == {"Polygon", "MultiPolygon"}:
        geometry_type = "MultiPolygon" if (df.geom_type == "MultiPolygon").any() else "Polygon"
    pyogrio.write_dataframe(
        df,
        path,
        layer=name,
        driver="GPKG",
        geometry_type=geometry_type,
        promote_to_multi=False,
        spatial_index=True,
    )


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` is an SQLite database, asked of SQLite itself: never ``open()`` a
    database file — closing any descriptor of it drops this process's POSIX locks, those of
    live SQLite connections included."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True)) as con:
            con.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            return False
        raise StoreError(f"{path}: damaged SQLite file ({exc})") from exc
    return True


def carry_service_tables(source: Path, target: Path) -> None:
    """Copy :data:`SERVICE_TABLES` of the store ``source`` into the freshly written ``target``:
    schema, rows, indexes, triggers and their ``gpkg_contents`` / ``gpkg_ogr_contents`` rows,
    in one transaction. A ``source`` that is not an SQLite database has none.

    Raises
    ------
    StoreError
        ``source`` is an SQLite database whose service tables cannot be read.
    """
    if not is_sqlite(source):
        return
    con = sqlite3.connect(target.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS old", (source.resolve().as_uri() + "?mode=ro",))
        objects = con.execute(
            "SELECT type, name, sql FROM old.sqlite_master WHERE tbl_name IN "
            f"({', '.join('?' * len(SERVICE_TABLES))}) AND sql IS NOT NULL ORDER BY rowid",
            SERVICE_TABLES).fetchall()
        con.execute("BEGIN IMMEDIATE")
        for kind, name, sql in objects:
            if kind == "table":
                con.execute(sql)
                _copy_rows(con, name)
        for kind, _, sql in objects:  # indexes and triggers once the rows are in
            if kind != "table":
                con.execute(sql)
        con.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{source}: its change log and accounts cannot be read ({exc}); "
                         "nothing was written") from exc
    finally:
        con.close()


#: ``gpkg_contents`` columns (GeoPackage 1.3 § 1.1.3), copied by name.
_CONTENTS_COLUMNS = ("table_name, data_type, identifier, description, last_change, min_x, "
                     "min_y, max_x, max_y, srs_id")


def _copy_rows(con: sqlite3.Connection, name: str) -> None:
    """The rows of table ``name`` from the attached ``old`` database, and its GeoPackage
    registration where it had one (the change log's; the auth tables have none)."""
    con.execute(f"INSERT INTO main.{_q(name)} SELECT * FROM old.{_q(name)}")

    def both_have(table: str) -> bool:
        return all(con.execute(f"SELECT 1 FROM {db}.sqlite_master WHERE name = ?",
                               (table,)).fetchone() for db in ("main", "old"))

    if both_have("gpkg_contents"):
        con.execute(f"INSERT INTO main.gpkg_contents ({_CONTENTS_COLUMNS}) SELECT "
                    f"{_CONTENTS_COLUMNS} FROM old.gpkg_contents WHERE table_name = ?", (name,))
    if both_have("gpkg_ogr_contents"):
        con.execute("INSERT INTO main.gpkg_ogr_contents (table_name, feature_count) SELECT "
                    "table_name, feature_count FROM old.gpkg_ogr_contents WHERE table_name = ?",
                    (name,))


def write_meta(path: Path, meta: Mapping[str, str]) -> None:
    m = {**meta, "schema_version": SCHEMA_VERSION}
    df = pd.DataFrame({"key": list(m), "value": [str(v) for v in m.values()]})
    pyogrio.write_dataframe(df, path, layer=META_TABLE, driver="GPKG")
