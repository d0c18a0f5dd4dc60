"""Spreadsheet exports (CSV and Excel) that cannot carry formulas.

Every table the product lets users download goes through this module. Text from users (ticket
text, names of grids, buildings and people, notes) could otherwise start a formula when the
file is opened in Excel or WPS (CSV / formula injection, e.g. ``=HYPERLINK(…)`` or
``=cmd|' /C calc'!A0``).

Following the OWASP CSV-injection guidance, a text cell whose first character — or first
character after leading whitespace — is one of ``= + - @``, a tab or a carriage return gets a
single quote ``'`` in front (:func:`safe_text`); the reader sees the text as it was, with the
quote. Numbers, dates and missing values are left alone (``-3`` stays a number). Column names
are treated the same way. openpyxl makes a formula of any text starting with ``=``; after the
quote none does, so workbooks hold text as text. Characters a workbook cannot hold (control
characters, which make openpyxl fail) are dropped from Excel cells.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping

import pandas as pd

#: Characters that make a spreadsheet cell a formula (or a DDE call) when they start it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Excel's limits: sheet-name length and characters a sheet name cannot contain.
SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
# Control characters openpyxl refuses in a cell (it raises IllegalCharacterError).
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Characters Windows refuses in a file name (and the path separators).
_FILE_NAME_BAD = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def needs_quote(value: str) -> bool:
    """True when a text would be read as a formula by a spreadsheet program."""
    return value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_STARTS)


def safe_text(value: object) -> object:
    """``value`` with a leading ``'`` when it is text that could start a formula; any other
    value unchanged."""
    if isinstance(value, str) and needs_quote(value):
        return "'" + value
    return value


def _safe_column(s: pd.Series) -> pd.Series:
    """One column with dangerous text quoted; numeric, boolean and date columns untouched."""
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)
            or isinstance(s.dtype, pd.CategoricalDtype)):
        return s
    values = s.astype(object)
    bad = values.map(lambda v: isinstance(v, str) and needs_quote(v)).to_numpy(bool)
    if not bad.any():
        return s
    values = values.copy()
    values[bad] = "'" + values[bad]
    return values


def safe_cells(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` in which every text cell (and column name) that could start a formula
    is quoted with ``'``; numbers, dates and missing values are unchanged.

    Parameters
    ----------
    df
        Any table about to be written to CSV or Excel. It is not modified.

    Returns
    -------
    pandas.DataFrame
        The same shape, index and column order.
    """
    out = df.copy()
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        safe = _safe_column(col)
        if safe is not col:
            out.isetitem(i, safe.to_numpy())
    out.columns = [safe_text(c) for c in df.columns]
    return out


def _excel_text(df: pd.DataFrame) -> pd.DataFrame:
    """Drop the control characters a workbook cannot hold from text cells."""
    out = df.copy()
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if pd.api.types.is_object_dtype(col):
            out.isetitem(i, col.map(
                lambda v: _ILLEGAL_XML.sub("", v) if isinstance(v, str) else v).to_numpy())
    return out


def sheet_name(title: str, taken: set[str] | None = None) -> str:
    """A valid, unique Excel sheet name for ``title`` (at most 31 characters, no ``[]:*?/\\``)."""
    base = _SHEET_NAME_BAD.sub("_", str(title)).strip("'")[:SHEET_NAME_MAX] or "Sheet"
    name, k = base, 1
    while taken is not None and name.lower() in {t.lower() for t in taken}:
        k += 1
        suffix = f" ({k})"
        name = base[:SHEET_NAME_MAX - len(suffix)] + suffix
    return name


def _fit_widths(sheet, limit: int = 40) -> None:  # noqa: ANN001 - an openpyxl worksheet
    """Column widths from the first 200 rows (CJK characters count about double)."""
    for col in sheet.columns:
        width = max(len(str(c.value if c.value is not None else "")) for c in col[:200])
        sheet.column_dimensions[col[0].column_letter].width = min(limit, width * 1.6 + 2)


def write_excel(sheets: Mapping[str, pd.DataFrame], *, fit_widths: bool = False) -> bytes:
    """An ``.xlsx`` workbook with one sheet per table, text stored as text.

    Parameters
    ----------
    sheets
        Sheet title → table (written without its index: reset it first to keep it). Titles
        are made valid sheet names (:func:`sheet_name`).
    fit_widths
        Size the columns to their content (for tables people read, not for large data).

    Returns
    -------
    bytes
        The workbook file.
    """
    buf = io.BytesIO()
    taken: set[str] = set()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        for title, df in sheets.items():
            name = sheet_name(title, taken)
            taken.add(name)
            safe_cells(_excel_text(df)).to_excel(xl, sheet_name=name, index=False)
            if fit_widths:
                _fit_widths(xl.sheets[name])
    return buf.getvalue()


def write_csv(tables: pd.DataFrame | Mapping[str, pd.DataFrame]) -> bytes:
    """CSV bytes, UTF-8 with BOM (so Excel in China opens them right), text made safe.

    Parameters
    ----------
    tables
        One table, or title → table: then each table is a section headed ``# title`` and
        followed by an empty line.

    Returns
    -------
    bytes
        The CSV file.
    """
    out = io.StringIO()
    if isinstance(tables, pd.DataFrame):
        safe_cells(tables).to_csv(out, index=False)
    else:
        for title, df in tables.items():
            out.write(f"# {title}\n")
            safe_cells(df).to_csv(out, index=False)
            out.write("\n")
    return out.getvalue().encode("utf-8-sig")


def csv_file_name(title: str, taken: set[str] | None = None) -> str:
    """A plain, unique ``<title>.csv`` name inside an archive: no folders (``/ \\``), no
    characters Windows refuses in a file name, at most 60 characters before ``.csv``."""
    base = _FILE_NAME_BAD.sub("_", str(title)).strip(" .")[:60] or "table"
    name, k = f"{base}.csv", 1
    while taken is not None and name.lower() in {n.lower() for n in taken}:
        k += 1
        name = f"{base} ({k}).csv"
    return name



def write_csv_zip(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """A ZIP archive of one CSV per table — each a file of its own that Excel or WPS opens
    as one sheet (no ``#`` section lines between tables).

    Parameters
    ----------
    tables
        Title → table; the title names the file (:func:`csv_file_name`).

    Returns
    -------
    bytes
        The archive: each member as :func:`write_csv` writes one table (UTF-8 with BOM, text
        made safe), the names stored as UTF-8.
    """
    buf = io.BytesIO()
    taken: set[str] = set()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for title, df in tables.items():
            name = csv_file_name(title, taken)
            taken.add(name)
            zf.writestr(name, write_csv(df))
    return buf.getvalue()


__all__ = ["FORMULA_STARTS", "csv_file_name", "needs_quote", "safe_cells", "safe_text",
           "sheet_name", "write_csv", "write_csv_zip", "write_excel"]
