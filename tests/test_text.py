"""Data is text (rule 4): md() shows a name exactly, never as Markdown nor as a link."""

from __future__ import annotations

import re

import pytest

from dashboard.text import md

HOSTILE = [
    "丰瑞社区 http://evil.example/x?a=1",
    "见 WWW.evil.cn 或 www.evil.cn",
    "举报请发 a@b.com",
    "![x](http://host/t.png) :red[红] $x$ **粗** <b>b</b>",
]


def _shown(source: str) -> str:
    """What a CommonMark renderer shows of ``source``: escapes undone (the word joiner is
    invisible)."""
    return re.sub(r"\\(.)", r"\1", source).replace("\u2060", "")


@pytest.mark.parametrize("text", HOSTILE)
def test_md_shows_the_text_exactly(text):
    assert _shown(md(text)) == text


@pytest.mark.parametrize("text", HOSTILE[:3])
def test_md_leaves_nothing_gfm_would_autolink(text):
    visible = re.sub(r"\\(.)", r"\1", md(text))  # what GFM's autolink literal scans
    for pattern in (r"[a-z]+://", r"(?i)www\.", r"\w@\w"):
        assert not re.search(pattern, visible), (pattern, visible)


def test_md_of_missing_values_is_empty():
    assert md(None) == "" and md(float("nan")) == ""
