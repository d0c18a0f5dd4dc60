"""The tables of a PostGIS store's schema and the triggers that keep its versions.

One schema per store holds:

``store_meta`` (key, value)
    The metadata.
``<layer>`` (``fid`` bigserial, the contract's columns, ``geom`` geometry(Geometry, 4326))
    One table per layer, a GiST index on ``geom`` and b-tree indexes on the keys and
    references rows are looked up by.
``change_log``
    The append-only log of row edits (triggers refuse UPDATE, DELETE and TRUNCATE).
``layer_versions`` (layer, epoch, version, rows)
    The change feed: statement-level triggers on every layer table (and on ``store_meta``
    and ``change_log``) count each change and the rows, whoever makes it (the app, the
    CLI, QGIS, psql); a table made anew gets a new epoch.
``row_changes`` (seq, layer, fid)
    Which rows each change touched (the same triggers, through transition tables): what a
    page catches up from instead of reading a layer whole.

Every trigger function names the schema's tables with the schema, so a client whose
``search_path`` differs still keeps the versions.
"""

from __future__ import annotations

import secrets

from ...schema import LAYERS
from .._ddl import append_only_sql
from .._rows import LOOKUP_COLUMNS
from .._values import q
from ..base import CHANGE_LOG, CHANGE_LOG_COLUMNS, META_TABLE, ROW_CHANGES, ROW_ID

VERSIONS = "layer_versions"
#: The geometry column of every layer table.
GEOMETRY = "geom"
#: The token name of the metadata table (as the GeoPackage backend names it).
META_KEY = "meta"
#: Layers whose table is named otherwise: the live tickets (:mod:`layers.tickets`) are the
#: schema's ``tickets`` table, so the ``tickets`` layer (material to import) is this one.
_RENAMED = {"tickets": "tickets_layer"}
_LAYER_OF = {v: k for k, v in _RENAMED.items()}


def table_of(layer: str) -> str:
    """The table holding ``layer``."""
    return _RENAMED.get(layer, layer)


def layer_of(table: str) -> str | None:
    """The layer a table holds (None: not a layer's table)."""
    name = _LAYER_OF.get(table, table)
    if name in LAYERS and table_of(name) == table:
        return name
    return None


def service_ddl(schema: str) -> list[str]:
    """Statements making the schema's own tables and trigger functions (idempotent)."""
    s = q(schema)
    log_cols = ", ".join(f"{q(c)} {'timestamp(3) NOT NULL' if c == 'when' else 'text'}"
                         for c in CHANGE_LOG_COLUMNS)
    out = [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE IF NOT EXISTS {s}.{q(META_TABLE)} (key text PRIMARY KEY, value text)",
        f"CREATE TABLE IF NOT EXISTS {s}.{q(VERSIONS)} (layer text PRIMARY KEY, epoch text NOT "
        "NULL, version bigint NOT NULL DEFAULT 0, rows bigint NOT NULL DEFAULT 0, changed_at "
        "timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))",
        f"CREATE TABLE IF NOT EXISTS {s}.{q(ROW_CHANGES)} (seq bigserial PRIMARY KEY, layer "
        "text NOT NULL, fid bigint NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {q(ROW_CHANGES + '_layer_seq')} ON {s}.{q(ROW_CHANGES)} "
        "(layer, seq)",
        f"CREATE TABLE IF NOT EXISTS {s}.{q(CHANGE_LOG)} ({q(ROW_ID)} bigserial PRIMARY KEY, "
        f"{log_cols})",
        *(f"CREATE INDEX IF NOT EXISTS {q(f'{CHANGE_LOG}_{c}')} ON {s}.{q(CHANGE_LOG)} ({q(c)})"
          for c in ("person_id", "target_code")),
        *_functions(schema),
    ]
    out += [*append_only_sql(CHANGE_LOG, f"{CHANGE_LOG} is append-only: entries are never "
                             "changed or deleted")]
    out += counted_triggers(schema, META_TABLE, rows=False)
    out += counted_triggers(schema, CHANGE_LOG, rows=True)
    out += [register_sql(schema, META_TABLE, META_KEY), register_sql(schema, CHANGE_LOG)]
    return out


def _functions(schema: str) -> list[str]:
    s = q(schema)
    bump = (f"UPDATE {s}.{q(VERSIONS)} SET version = version + 1, changed_at = now() AT TIME "
            "ZONE 'UTC'{rows} WHERE layer = TG_ARGV[0]")
    return [
        # statement-level, with transition tables: rows changed and counted, once per statement
        f"CREATE OR REPLACE FUNCTION {s}.wg_rows_inserted() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN INSERT INTO {s}.{q(ROW_CHANGES)} (layer, fid) SELECT TG_ARGV[0], fid "
        f"FROM new_rows ORDER BY fid; "
        + bump.format(rows=", rows = rows + (SELECT count(*) FROM new_rows)")
        + "; RETURN NULL; END $$",
        f"CREATE OR REPLACE FUNCTION {s}.wg_rows_deleted() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN INSERT INTO {s}.{q(ROW_CHANGES)} (layer, fid) SELECT TG_ARGV[0], fid "
        f"FROM old_rows ORDER BY fid; "
        + bump.format(rows=", rows = rows - (SELECT count(*) FROM old_rows)")
        + "; RETURN NULL; END $$",
        f"CREATE OR REPLACE FUNCTION {s}.wg_rows_updated() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN INSERT INTO {s}.{q(ROW_CHANGES)} (layer, fid) SELECT TG_ARGV[0], fid FROM "
        "(SELECT fid FROM old_rows UNION SELECT fid FROM new_rows) c ORDER BY fid; "
        + bump.format(rows="") + "; RETURN NULL; END $$",
        # a table whose rows are not tracked (meta, change log): only counted
        f"CREATE OR REPLACE FUNCTION {s}.wg_counted() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN " + bump.format(rows="") + "; RETURN NULL; END $$",
        f"CREATE OR REPLACE FUNCTION {s}.wg_counted_rows() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN IF TG_OP = 'INSERT' THEN "
        + bump.format(rows=", rows = rows + (SELECT count(*) FROM new_rows)")
        + "; END IF; RETURN NULL; END $$",
        # TRUNCATE: the rows are gone, the tracking starts again under a new epoch
        f"CREATE OR REPLACE FUNCTION {s}.wg_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN UPDATE {s}.{q(VERSIONS)} SET version = version + 1, rows = 0, changed_at = "
        "now() AT TIME ZONE 'UTC', epoch = "
        f"md5(random()::text || clock_timestamp()::text) WHERE layer = TG_ARGV[0]; "
        f"DELETE FROM {s}.{q(ROW_CHANGES)} WHERE layer = TG_ARGV[0]; RETURN NULL; END $$",
        f"COMMENT ON SCHEMA {s} IS 'a store of 网格化治理地图 (layers.store.postgis): layers, "
        "change log, accounts, tickets'",
    ]


def tracked_triggers(schema: str, layer: str) -> list[str]:
    """Triggers recording every change of ``layer``'s rows (made after a bulk load)."""
    s, t, lit = q(schema), q(table_of(layer)), _lit(layer)
    return [
        f"CREATE TRIGGER wg_ins AFTER INSERT ON {s}.{t} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {s}.wg_rows_inserted({lit})",
        f"CREATE TRIGGER wg_del AFTER DELETE ON {s}.{t} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {s}.wg_rows_deleted({lit})",
        f"CREATE TRIGGER wg_upd AFTER UPDATE ON {s}.{t} REFERENCING OLD TABLE AS old_rows "
        f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {s}.wg_rows_updated({lit})",
        f"CREATE TRIGGER wg_trunc AFTER TRUNCATE ON {s}.{t} FOR EACH STATEMENT EXECUTE "
        f"FUNCTION {s}.wg_truncated({lit})",
    ]


def counted_triggers(schema: str, table: str, *, rows: bool, key: str | None = None
                     ) -> list[str]:
    """Triggers counting every change of ``table`` (``rows``: inserted rows too), idempotent."""
    s, t, lit = q(schema), q(table), _lit(key or (META_KEY if table == META_TABLE else table))
    out = [f"DROP TRIGGER IF EXISTS wg_count ON {s}.{t}",
           f"DROP TRIGGER IF EXISTS wg_count_rows ON {s}.{t}"]
    if rows:
        out.append(f"CREATE TRIGGER wg_count_rows AFTER INSERT ON {s}.{t} REFERENCING NEW "
                   f"TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "
                   f"{s}.wg_counted_rows({lit})")
    else:
        out.append(f"CREATE TRIGGER wg_count AFTER INSERT OR UPDATE OR DELETE ON {s}.{t} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {s}.wg_counted({lit})")
    return out


def register_sql(schema: str, table: str, key: str | None = None) -> str:
    """A version row for ``table`` (kept when it exists)."""
    return (f"INSERT INTO {q(schema)}.{q(VERSIONS)} (layer, epoch) VALUES "
            f"({_lit(key or table)}, {_lit(secrets.token_hex(8))}) ON CONFLICT (layer) DO NOTHING")


def layer_table_sql(schema: str, name: str, columns: dict[str, str], geometry: bool
                    ) -> list[str]:
    """DROP and CREATE layer ``name`` with ``columns`` (name → type) and its geometry."""
    s, t = q(schema), q(table_of(name))
    cols = [f"{q(ROW_ID)} bigserial PRIMARY KEY",
            *(f"{q(c)} {typ}" for c, typ in columns.items())]
    if geometry:
        cols.append(f"{q(GEOMETRY)} geometry(Geometry, 4326)")
    return [f"DROP TABLE IF EXISTS {s}.{t}", f"CREATE TABLE {s}.{t} ({', '.join(cols)})"]


def layer_index_sql(schema: str, name: str, columns: dict[str, str], geometry: bool
                    ) -> list[str]:
    """Indexes of a loaded layer: GiST on the geometry, b-trees on lookup columns."""
    s, tn = q(schema), table_of(name)
    t = q(tn)
    out = [f"CREATE INDEX {q(f'{tn}_{GEOMETRY}_gist')} ON {s}.{t} USING gist ({q(GEOMETRY)})"
           ] if geometry else []
    out += [f"CREATE INDEX {q(f'{tn}_{c}_idx')} ON {s}.{t} ({q(c)})"
            for c in columns if (name, c) in LOOKUP_COLUMNS]
    out.append(f"ANALYZE {s}.{t}")
    return out


def version_reset_sql(schema: str, name: str, rows: int) -> list[str]:
    """A layer made anew: a new epoch, its row count, no tracked changes left."""
    s = q(schema)
    return [f"DELETE FROM {s}.{q(ROW_CHANGES)} WHERE layer = {_lit(name)}",
            f"INSERT INTO {s}.{q(VERSIONS)} (layer, epoch, version, rows) VALUES ({_lit(name)}, "
            f"{_lit(secrets.token_hex(8))}, 1, {int(rows)}) ON CONFLICT (layer) DO UPDATE SET "
            "epoch = excluded.epoch, version = layer_versions.version + 1, rows = excluded.rows, "
            "changed_at = now() AT TIME ZONE 'UTC'"]


def drop_layer_sql(schema: str, name: str) -> list[str]:
    s = q(schema)
    return [f"DROP TABLE IF EXISTS {s}.{q(table_of(name))}",
            f"DELETE FROM {s}.{q(ROW_CHANGES)} WHERE layer = {_lit(name)}",
            f"DELETE FROM {s}.{q(VERSIONS)} WHERE layer = {_lit(name)}"]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def contract_columns(name: str, frame_columns: list[str], dtypes: dict[str, object]
                     ) -> dict[str, str]:
    """Column → type of layer ``name``: the frame's columns in its order (the contract's
    fields by their kind, the others by their dtype, kept as the GeoPackage keeps them), then
    contract fields the frame lacks."""
    from ._copy import pg_type

    kinds = {f.name: f.kind for f in LAYERS[name].fields}
    cols = {c: pg_type(kinds.get(c), dtypes[c]) for c in frame_columns if c != "geometry"}
    for f, k in kinds.items():
        cols.setdefault(f, pg_type(k, None))
    return cols
