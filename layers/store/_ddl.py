"""DDL that differs between the backends' SQL dialects (written once, used by every module
that makes service tables)."""

from __future__ import annotations

from ._values import q


def append_only_sql(table: str, message: str) -> tuple[str, ...]:
    """PostgreSQL statements that make ``table`` refuse every UPDATE and DELETE (a trigger
    raising ``message``), idempotent."""
    fn = q(f"{table}_append_only")
    text = message.replace("'", "''")
    return (
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{text}'; END $$",
        f"DROP TRIGGER IF EXISTS {q(table + '_no_change')} ON {q(table)}",
        f"CREATE TRIGGER {q(table + '_no_change')} BEFORE UPDATE OR DELETE ON {q(table)} "
        f"FOR EACH ROW EXECUTE FUNCTION {fn}()",
        f"DROP TRIGGER IF EXISTS {q(table + '_no_truncate')} ON {q(table)}",
        f"CREATE TRIGGER {q(table + '_no_truncate')} BEFORE TRUNCATE ON {q(table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
    )
