"""The data page's words: what the library said (:class:`layers.validate.Said`) in the user's
language, a file's check report grouped by kind of problem (field and problem, how many, the
file's own line numbers: "第 3、7、9 行"), and why a file cannot be read, in plain words.

Server paths never appear: the report names the user's own file (``shown``) wherever the
library named the temporary copy (``source``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from dashboard.i18n import MESSAGES, t
from layers.validate import Problem, Said, ValidationReport

#: Row numbers listed per kind of problem; the rest are counted ("第 2、3 … 行 等").
ROWS_SHOWN = 12
#: Distinct values quoted per kind of problem.
VALUES_SHOWN = 3
_ORDER = {"error": 0, "repaired": 1, "warning": 2, "info": 3}
_FIELD_ARGS = ("column", "field", "own", "parent")
_NUMBER_ARGS = ("area", "tolerance", "minimum", "km", "limit", "n", "m")


def display_name(client_name: str, limit: int = 80) -> str:
    """The client's file name for messages: its last part, without control characters,
    cut to ``limit`` characters (it is shown as text, never used as a path)."""
    name = Path(client_name.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:limit] or "upload"


def layer_label(name: str, lang: str) -> str:
    """A layer's name as staff say it (``care_points`` → 一老一小服务点)."""
    return _label("data_layer_", name, lang)


def field_label(name: str | None, lang: str) -> str:
    """A contract column as staff say it (``community_code`` → 所属社区编码)."""
    return "" if name is None else _label("data_field_", name, lang)


def _label(prefix: str, name: str, lang: str) -> str:
    key = prefix + str(name)
    return t(key, lang) if key in MESSAGES else str(name)


def code_label(code: str, lang: str) -> str:
    """An enumeration code's label (kinds, renovation, roles), else the code."""
    for key in (f"kind_{code}", f"renovation_{code}", code):
        if key in MESSAGES:
            return t(key, lang)
    return code


def _number(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def _value(v: object, lang: str) -> str:
    """One row's value: text quoted (「…」 / '…'), numbers with thousands separators."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _number(v)
    return t("data_quote", lang).format(v=v)


def _join(items: Iterable[str], lang: str) -> str:
    return t("data_list_sep", lang).join(items)


def _arg(name: str, v: object, lang: str) -> str:  # noqa: PLR0911 - one case per kind of arg
    """One value of a message in the user's language."""
    if isinstance(v, Said):
        return say(v, lang)
    if name == "layer":
        return layer_label(str(v), lang)
    if name == "counts" and isinstance(v, dict):
        return _join((f"{layer_label(k, lang)} {_number(n)}" for k, n in v.items()), lang)
    if name == "layers":
        return _join((layer_label(x, lang) for x in v), lang)  # type: ignore[attr-defined]
    if name in _FIELD_ARGS:
        return field_label(str(v), lang)
    if name == "columns":
        return _join((field_label(c, lang) for c in str(v).split(", ")), lang)
    if name == "allowed":
        return _join((code_label(c, lang) for c in str(v).split(", ")), lang)
    if name == "role":
        return code_label(str(v), lang)
    if name == "pairs":
        pairs = (p.split("→", 1) for p in str(v).split(", "))
        return _join((f"{a}→{field_label(b, lang)}" for a, b in pairs), lang)
    if name == "change" and isinstance(v, float):
        return f"{v:.1%}"
    if name in _NUMBER_ARGS:
        return _number(v)
    return str(v)


class _Args(dict):
    def __missing__(self, key: str) -> str:
        return ""


def say(text: object, lang: str, values: Sequence[object] | None = None) -> str:
    """What the library said, in ``lang``: a :class:`Said` with a ``data_said_<key>``
    message is said from its key and values (``values``: the values of every row of one
    kind of problem, quoted and joined); anything else as it is."""
    if not isinstance(text, Said) or f"data_said_{text.key}" not in MESSAGES:
        return str(text)
    args = _Args({k: _arg(k, v, lang) for k, v in text.args.items() if k != "value"})
    if values is not None:
        shown = [_value(v, lang) for v in values[:VALUES_SHOWN]]
        args["value"] = _join(shown, lang) + (" …" if len(values) > VALUES_SHOWN else "")
    elif "value" in text.args:
        args["value"] = _value(text.args["value"], lang)
    return t(f"data_said_{text.key}", lang).format_map(args)


def _kind(p: Problem) -> tuple:
    return p.message.kind() if isinstance(p.message, Said) else (p.base_message,)


def groups(report: ValidationReport) -> list[list[Problem]]:
    """The report's problems by kind: (severity, layer, field, what is wrong, unit), however
    many rows and whatever value each row holds; errors first, then by first row."""
    by: dict[tuple, list[Problem]] = {}
    for p in report.problems:
        by.setdefault((p.severity, p.layer, p.field, _kind(p), p.unit), []).append(p)

    def order(g: list[Problem]) -> tuple[int, int]:
        rows = [p.row for p in g if p.row is not None]
        return _ORDER.get(g[0].severity, 9), min(rows) if rows else 0

    return sorted(by.values(), key=order)


def where(group: list[Problem], lang: str, of_file: bool) -> str:
    """The rows of one kind of problem as the file numbers them: "第 3、7、9 行"."""
    rows = sorted({p.row for p in group if p.row is not None})
    if not rows:
        return t("data_at_whole" if of_file else "data_at_layer", lang)
    unit = group[0].unit
    listed = _join((str(r) for r in rows[:ROWS_SHOWN]), lang)
    text = t(f"data_at_{unit}{'s' if len(rows) > 1 else ''}", lang).format(rows=listed)
    more = len(rows) > ROWS_SHOWN or any(p.row is None for p in group)
    return t("data_at_more", lang).format(rows=text) if more else text


def _values(group: list[Problem]) -> list[object] | None:
    """The distinct values of a kind of problem's rows, when its message quotes them."""
    said = [p.message for p in group if isinstance(p.message, Said)]
    if not said or "value" not in said[0].args:
        return None
    return list(dict.fromkeys(s.args["value"] for s in said))


def report_table(report: ValidationReport, lang: str, source: str, shown: str
                 ) -> pd.DataFrame:
    """One line per kind of problem, headers in ``lang``: the file (the user's own name,
    never ``source``, the server's copy) or the stored layer, severity, field, problem, how
    many rows, where."""
    lines = []
    for g in groups(report):
        first = g[0]
        of_file = first.layer == source
        problem = say(first.message, lang, _values(g)).replace(source, shown)
        lines.append({
            t("data_col_source", lang): shown if of_file else layer_label(first.layer, lang),
            t("data_col_severity", lang): t(f"data_sev_{first.severity}", lang),
            t("data_col_field", lang): field_label(first.field, lang),
            t("data_col_problem", lang): problem,
            t("data_col_count", lang): sum(p.count for p in g),
            t("data_col_where", lang): where(g, lang, of_file),
        })
    cols = [t(f"data_col_{c}", lang) for c in ("source", "severity", "field", "problem",
                                              "count", "where")]
    return pd.DataFrame(lines, columns=cols)


def unreadable(exc: Exception, lang: str, shown: str) -> str:
    """Why a file cannot be read, in plain words naming the user's file (the reader's own
    message, with its server path, goes to the log only)."""
    reason = getattr(exc, "reason", None)
    values = dict(getattr(exc, "values", {}) or {})
    key = f"data_unreadable_{reason}"
    if reason is None or key not in MESSAGES:
        key = "data_unreadable_osm" if type(exc).__name__ == "OsmError" else \
            "data_unreadable_other"
    args = _Args({k: _arg(k, v, lang) for k, v in values.items()})
    args["name"] = shown
    return t(key, lang).format_map(args)
