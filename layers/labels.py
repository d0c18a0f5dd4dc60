"""The one catalogue of enumeration labels: every code of the layer contract's enumerations
with its Chinese label (what the dashboard shows), its English label and the synonyms real
files use.

The library stores and emits codes (:mod:`layers.schema`); the dashboard's catalogue
(``dashboard/i18n.py``) takes its ``kind_*``, ``renovation_*``, role and ticket-status labels
from here, and every reader of data (the importer, :func:`layers.validate.validate`) accepts a
code, its Chinese or English label or a synonym through :func:`normalise`, so a file written
with the labels staff see (日间照料中心, 已改造, 网格哨兵, 是/否) is read as the codes.

Matching ignores case, surrounding and inner white space and full-width forms (Unicode NFKC),
so ``Kindergarten``, `` 幼儿园 `` and ``幼儿园`` are the same.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from . import schema
from .errors import SchemaError

__all__ = [
    "ENUMERATIONS",
    "FALSE_WORDS",
    "FIELD_ENUMERATIONS",
    "TRUE_WORDS",
    "Label",
    "enumeration",
    "label",
    "match_key",
    "normalise",
    "normalise_bool",
    "normalise_series",
]


@dataclass(frozen=True)
class Label:
    """One code of an enumeration.

    Attributes
    ----------
    code
        The stored value (``schema`` choices).
    zh, en
        The labels shown in Chinese and English.
    synonyms
        Other words files use for it (Chinese, English, OSM tag values …).
    """

    code: str
    zh: str
    en: str
    synonyms: tuple[str, ...] = ()


def _table(*rows: tuple[str, str, str, tuple[str, ...]]) -> tuple[Label, ...]:
    return tuple(Label(*row) for row in rows)


#: Every enumeration of the layer contract, by name; the order is the schema's.
ENUMERATIONS: dict[str, tuple[Label, ...]] = {
    "community_kind": _table(
        ("社区", "社区", "Urban community",
         ("community", "urban community", "居委会", "居民委员会", "社区居委会", "街道社区")),
        ("村", "村", "Village",
         ("village", "行政村", "村委会", "村民委员会")),
    ),
    "renovation": _table(
        ("not_planned", "未列入改造", "Not planned",
         ("未改造", "未计划", "暂未列入", "不改造", "无改造计划", "not planned")),
        ("planned", "计划改造", "Planned",
         ("已列入改造计划", "列入改造计划", "拟改造", "待改造", "已列入计划")),
        ("in_progress", "改造中", "In progress",
         ("正在改造", "改造施工中", "施工中", "在改", "in progress", "ongoing")),
        ("completed", "已改造", "Completed",
         ("已完成改造", "改造完成", "完成改造", "已完成", "完成", "done")),
    ),
    "role": _table(
        ("grid_sentinel", "网格哨兵", "Grid sentinel",
         ("哨兵", "网格员", "网格长", "专职网格员", "兼职网格员", "sentinel", "grid worker")),
        ("building_member", "楼栋党员", "Building party member",
         ("楼栋长", "楼长", "楼栋党员", "红色管家", "单元长", "building member",
          "building steward")),
    ),
    "care_kind": _table(
        ("elder_day_care", "日间照料中心", "Elder day care",
         ("日间照料", "老年人日间照料中心", "社区日间照料中心", "日照中心", "养老服务中心",
          "社区养老服务中心", "养老中心", "养老院", "敬老院", "护理院", "nursing home",
          "nursing_home", "day care")),
        ("elder_station", "养老服务站", "Elder care station",
         ("养老站", "社区养老服务站", "居家养老服务站", "养老服务点", "为老服务站",
          "elder station", "social_facility")),
        ("elder_canteen", "老年食堂", "Elder canteen",
         ("长者食堂", "长者饭堂", "老年助餐点", "助餐点", "老年餐桌", "elder canteen")),
        ("nursery", "托育园", "Nursery",
         ("托育机构", "托育中心", "托育点", "托儿所", "婴幼儿照护服务机构", "childcare",
          "child care")),
        ("kindergarten", "幼儿园", "Kindergarten", ("幼稚园",)),
        ("after_school", "课后托管", "After-school care",
         ("课后服务", "托管班", "四点半课堂", "午托", "红领巾暑期课堂", "after school",
          "after-school")),
    ),
    "parking_kind": _table(
        ("lot", "停车场", "Car park",
         ("公共停车场", "地面停车场", "停车库", "车库", "地下停车场", "parking lot",
          "car park", "surface", "multi-storey", "underground")),
        ("street", "路边停车", "Street parking",
         ("路边停车位", "路侧停车", "路内停车", "道路停车", "street parking", "on_street",
          "street_side", "lane")),
        ("shared_staggered", "错时共享停车", "Staggered shared parking",
         ("错时停车", "错峰停车", "共享停车", "错时共享", "shared parking")),
        ("converted_wasteland", "荒改停", "Idle land turned parking",
         ("荒地改停车场", "闲置地改停车场", "荒改停车场", "闲置地块停车场")),
    ),
    "road_kind": _table(
        ("primary", "主干道", "Main road",
         ("主干路", "主路", "快速路", "main road", "trunk", "motorway", "primary_link",
          "trunk_link")),
        ("secondary", "次干道", "Secondary road",
         ("次干路", "支路", "secondary road", "tertiary", "secondary_link", "tertiary_link")),
        ("residential", "小区道路", "Residential street",
         ("小区路", "街巷", "巷道", "居住区道路", "residential street", "living_street",
          "service", "unclassified")),
        ("village", "村道", "Village road", ("乡道", "村路", "机耕道", "village road", "track")),
        ("path", "步行道", "Footpath",
         ("人行道", "步道", "绿道", "小路", "footpath", "footway", "pedestrian", "steps",
          "cycleway", "bridleway")),
    ),
    "ticket_status": _table(
        ("received", "受理", "Received", ("已受理", "新建")),
        ("registered", "立案", "Registered", ("已立案",)),
        ("dispatched", "派遣", "Dispatched", ("已派遣", "已派单", "派单")),
        ("in_progress", "处置中", "In progress", ("处理中", "办理中", "正在处理")),
        ("handled", "已反馈", "Handled", ("已处置", "处置完成", "已办理")),
        ("verified", "已核查", "Verified", ("核查通过", "已核实")),
        ("closed", "结案", "Closed", ("已结案", "办结", "已办结")),
        ("returned", "退回重办", "Returned", ("退回", "已退回", "重办")),
        ("closed_unresolved", "结案（未解决）", "Closed unresolved",
         ("未解决结案", "结案(未解决)", "不予立案")),
    ),
}

#: The enumeration behind each enumerated column of the layer contract.
FIELD_ENUMERATIONS: dict[tuple[str, str], str] = {
    ("communities", "kind"): "community_kind",
    ("buildings", "renovation"): "renovation",
    ("assignments", "role"): "role",
    ("care_points", "kind"): "care_kind",
    ("parking", "kind"): "parking_kind",
    ("roads", "kind"): "road_kind",
    ("tickets", "status"): "ticket_status",
}

#: Words read as true / false in boolean columns (党员 是/否, 电梯 有/无 …), compared after
#: :func:`match_key` (lower case, NFKC).
TRUE_WORDS = frozenset({"true", "t", "1", "1.0", "yes", "y", "是", "有", "对", "√", "✓",
                        "✔", "党员", "中共党员", "预备党员", "中共预备党员", "已加装"})
FALSE_WORDS = frozenset({"false", "f", "0", "0.0", "no", "n", "否", "无", "没有", "不是",
                         "×", "✗", "✘", "群众", "非党员", "共青团员", "团员", "未加装"})

_SPACE = re.compile(r"\s+")


def match_key(value: object) -> str:
    """How a value is compared: NFKC (full-width → half-width), no white space, lower case."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(value))).lower()


def enumeration(choices: Iterable[str]) -> tuple[Label, ...]:
    """The labels of the enumeration whose codes are ``choices`` (a schema tuple such as
    :data:`layers.schema.CARE_KINDS`).

    Raises
    ------
    SchemaError
        For choices that are not one of the contract's enumerations.
    """
    wanted = tuple(choices)
    for table in ENUMERATIONS.values():
        if tuple(lab.code for lab in table) == wanted:
            return table
    raise SchemaError(f"no label catalogue for the choices {wanted!r}")


@cache
def _lookup(choices: tuple[str, ...]) -> dict[str, str]:
    """Every accepted spelling (keyed by :func:`match_key`) → code, for one enumeration."""
    out: dict[str, str] = {}
    for lab in enumeration(choices):
        for word in (lab.code, lab.zh, lab.en, *lab.synonyms):
            k = match_key(word)
            if out.setdefault(k, lab.code) != lab.code:
                raise SchemaError(f"{word!r} is a synonym of two codes")  # pragma: no cover
    return out


def normalise(field_choices: Iterable[str], value: object) -> str | None:
    """The code ``value`` stands for in the enumeration ``field_choices``, or ``None``.

    Parameters
    ----------
    field_choices
        A field's ``choices`` (e.g. ``schema.spec("care_points").field("kind").choices``).
    value
        A code, a Chinese or English label, or a synonym (``日间照料中心``, ``Kindergarten``,
        ``已完成改造``, ``哨兵`` …).

    Returns
    -------
    str or None
        The code; ``None`` for a missing or unknown value.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    return _lookup(tuple(field_choices)).get(match_key(value))


def normalise_series(field_choices: Iterable[str], values: pd.Series) -> pd.Series:
    """:func:`normalise` over a column: codes where known, the value itself where unknown
    (so a report can quote it), missing stays missing. Only values that are not codes
    already are looked up, each distinct one once (a stored layer costs one ``isin``)."""
    choices = tuple(field_choices)
    odd = (values.notna() & ~values.isin(choices)).to_numpy(dtype=bool)
    if not odd.any():
        return values
    table = {u: normalise(choices, u) or u for u in pd.unique(values[odd].astype(object))}
    out = values.astype(object).copy()
    out[odd] = values[odd].astype(object).map(table)
    return out


def normalise_bool(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Masks (true, false) of a text column read as booleans (是/否, 有/无, Y/N, 1/0 …);
    values in neither are unknown words."""
    keys = values.astype(object).map(lambda v: None if v is None or (
        not isinstance(v, str) and pd.isna(v)) else match_key(v))
    return keys.isin(TRUE_WORDS).to_numpy(), keys.isin(FALSE_WORDS).to_numpy()


def label(field_choices: Iterable[str], code: str, lang: str = "zh") -> str:
    """The label of ``code`` in ``lang`` (``zh`` or ``en``); the code itself when unknown."""
    for lab in enumeration(field_choices):
        if lab.code == code:
            return lab.en if lang == "en" else lab.zh
    return code


def _check() -> None:
    """The catalogue covers exactly the schema's enumerations (run at import)."""
    for (layer, fieldname), name in FIELD_ENUMERATIONS.items():
        choices = schema.spec(layer).field(fieldname).choices
        codes = tuple(lab.code for lab in ENUMERATIONS[name])
        if choices != codes:  # pragma: no cover - a programming error
            raise SchemaError(f"labels {name}: codes {codes} differ from {layer}.{fieldname}")
    for choices in {tuple(lab.code for lab in t) for t in ENUMERATIONS.values()}:
        _lookup(choices)


_check()
