"""Data is text: every name, code and free text that came from a file or a user passes through
here before it reaches an element that renders Markdown or HTML.

Streamlit renders Markdown in ``st.markdown``, ``st.caption``, ``st.subheader``, alert boxes,
metric labels and radio options; a name like ``![x](http://host/t.png)`` there makes the
browser fetch an outside URL, and ``:red[…]`` or ``$…$`` change what is shown. :func:`md`
backslash-escapes every ASCII punctuation character (CommonMark allows an escape before each
of them, so the text is shown exactly as it is) and folds line breaks. :func:`html` escapes text
for the few places that write HTML themselves (the wall screen's alert list).
"""

from __future__ import annotations

import html as _html
import re
import string

_MD_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
#: What GitHub-flavoured Markdown turns into a link without any Markdown syntax (a scheme's
#: ``://``, ``www.``, an e-mail's ``@``): a word joiner (U+2060, invisible, no line break) goes
#: inside each, so a name holding an address is shown, never offered as a link.
_AUTOLINK = re.compile(r"(?<=:)(?=\\/\\/)|(?<=www)(?=\\\.)|(?<=@)", re.IGNORECASE)
_WORD_JOINER = "\u2060"
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def md(value: object) -> str:
    """``value`` as Markdown source that renders as its text, on one line, never a link
    (a word joiner breaks what GFM would autolink: ``http://``, ``www.``, ``a@b``).

    ``None`` (and pandas' missing values) become an empty string.
    """
    if _missing(value):
        return ""
    text = _LINE_BREAKS.sub(" ", str(value))
    return _AUTOLINK.sub(_WORD_JOINER, _MD_SPECIAL.sub(r"\\\1", text))


def html(value: object) -> str:
    """``value`` escaped for an HTML text node or attribute (quotes included)."""
    if _missing(value):
        return ""
    return _html.escape(str(value), quote=True)


def _missing(value: object) -> bool:
    """None, NaN, NaT or pandas' NA (whose comparisons are themselves NA)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:
        return True


def percent(value: object, digits: int = 1) -> str:
    """A share (0.6842) as the app shows every percentage: ``68.4%``; unknown (None, NaN) as
    ``—``. The one percent format of every page (tiles, tables, the wall)."""
    if _missing(value):
        return "—"
    return f"{float(value):.{digits}%}"  # type: ignore[arg-type]  # a number by contract
