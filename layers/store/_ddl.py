"""DDL that differs between the backends' SQL dialects (written once, used by every module
that makes service tables)."""

from __future__ import annotations

from ._values import q


def append_only_sql(table: str, message: str, schema: str | None = None) -> tuple[str, ...]:
    """PostgreSQL statements that make ``table`` (of ``schema``, default the first of the
    search path) refuse every UPDATE, DELETE and TRUNCATE (a trigger raising ``message``),
    idempotent."""
    prefix = "" if schema is None else q(schema) + "."
    fn = prefix + q(f"{table}_append_only")
    text = message.replace("'", "''")
    return (
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{text}'; END $$",
        f"DROP TRIGGER IF EXISTS {q(table + '_no_change')} ON {prefix}{q(table)}",
        f"CREATE TRIGGER {q(table + '_no_change')} BEFORE UPDATE OR DELETE ON {prefix}"
        f"{q(table)} FOR EACH ROW EXECUTE FUNCTION {fn}()",
        f"DROP TRIGGER IF EXISTS {q(table + '_no_truncate')} ON {prefix}{q(table)}",
        f"CREATE TRIGGER {q(table + '_no_truncate')} BEFORE TRUNCATE ON {prefix}{q(table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
    )
