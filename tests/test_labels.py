"""The library emits codes, never Chinese display text; the dashboard's one catalogue
(:mod:`dashboard.i18n`) has a label in Chinese and English for every enumeration value."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re

import pytest
import shapely

import layers
from dashboard.i18n import MESSAGES
from layers import importer, labels, newstore, schema
from layers.auth import Principal
from layers.coverage import coverage
from layers.reach import GROUPS
from layers.tickets import TicketStore, catalogue, reports, workflow
from layers.tickets.store import REPORTERS, SATISFACTION

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

#: Catalogue key prefix of each enumerated column of the layer contract.
SCHEMA_PREFIXES = {
    ("communities", "kind"): "kind_",
    ("buildings", "renovation"): "renovation_",
    ("assignments", "role"): "",
    ("care_points", "kind"): "kind_",
    ("parking", "kind"): "kind_",
    ("tickets", "status"): "status_t_",
    ("roads", "kind"): "kind_",
}


def _enumeration_keys() -> list[str]:
    keys = []
    for spec in schema.LAYERS.values():
        for f in spec.fields:
            if f.choices is None:
                continue
            where = (spec.name, f.name)
            assert where in SCHEMA_PREFIXES, f"{where}: new enumeration; give it a key prefix"
            keys += [SCHEMA_PREFIXES[where] + v for v in f.choices]
    keys += [f"status_t_{s}" for s in schema.TICKET_STATUSES]
    keys += [f"move_{m.source}_{m.target}" for m in workflow.MOVES]
    keys += [f"cat_{c.code}" for c in catalogue.DEFAULT_CATEGORIES]
    keys += [f"reporter_{r}" for r in REPORTERS]
    keys += [f"sat_{s}" for s in SATISFACTION]
    keys += [f"reach_{g}" for g in GROUPS]
    keys += [f"kpi_{c}" for c in reports.KPI_COLUMNS]
    keys += ["total"]  # the coverage summary's "town" row
    return keys


@pytest.mark.parametrize("key", sorted(set(_enumeration_keys())))
def test_every_enumeration_value_has_a_label(key):
    entry = MESSAGES.get(key)
    assert entry is not None, f"dashboard/i18n.py has no key {key!r}"
    assert entry.get("zh", "").strip() and entry.get("en", "").strip(), key
    assert not CJK.search(entry["en"]), f"{key}: English label {entry['en']!r} has CJK text"


def test_no_english_message_holds_chinese():
    assert [k for k, v in MESSAGES.items() if CJK.search(v.get("en", ""))] == []


def test_moves_carry_no_labels():
    assert not hasattr(workflow, "STATUS_LABELS_ZH")
    assert {f.name for f in dataclasses.fields(workflow.Move)} == {"source", "target", "action"}
    with pytest.raises(workflow.IllegalMove) as info:
        workflow.check_move("received", "closed")
    assert not CJK.search(str(info.value))


# -- no Chinese display text in the library ----------------------------------------------------

#: Chinese the library may hold: input synonyms it reads, the one catalogue of enumeration
#: labels (layers.labels, which the dashboard's catalogue is built from), contract values, demo
#: data and data a new store is written with (a default town name, the fictional label), the
#: default category names (used when a store has no catalogue of its own), OSM attribution.
ALLOWED_OBJECTS = (
    importer.DEFAULT_HEADERS,
    importer.LAYER_HEADERS,
    importer.OSM_ATTRIBUTION,
    reports.HOTLINE_HEADERS,
    labels.ENUMERATIONS,
    labels.TRUE_WORDS,
    labels.FALSE_WORDS,
    schema.COMMUNITY_KINDS,
    newstore.DEFAULT_TOWN_NAME,
    newstore.FICTIONAL_LABEL,
    catalogue.DEFAULT_CATEGORIES,
    catalogue.DEFAULT_CATALOGUE,
)
ALLOWED_PACKAGES = ("layers.demo",)


def _strings(obj, seen: set[int], depth: int = 0):
    """The strings inside a constant: str, containers and dataclass instances."""
    if depth > 6 or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k, seen, depth + 1)
            yield from _strings(v, seen, depth + 1)
    elif isinstance(obj, (tuple, list, set, frozenset)):
        for v in obj:
            yield from _strings(v, seen, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _strings(getattr(obj, f.name), seen, depth + 1)


def _modules():
    for info in pkgutil.walk_packages(layers.__path__, "layers."):
        if info.name == "layers.__main__" or info.name.startswith(ALLOWED_PACKAGES):
            continue
        yield importlib.import_module(info.name)


def test_library_constants_hold_no_chinese_display_text():
    allowed: set[str] = set()
    for obj in ALLOWED_OBJECTS:
        allowed.update(_strings(obj, set()))
    found = []
    for mod in [layers, *_modules()]:
        for name, value in vars(mod).items():
            if name.startswith("__"):
                continue
            for s in _strings(value, set()):
                if CJK.search(s) and s not in allowed:
                    found.append(f"{mod.__name__}.{name}: {s!r}")
    assert found == [], "Chinese display text in the library (put a label in dashboard/i18n.py):\n" \
        + "\n".join(found)


def test_coverage_total_row_is_a_code(demo):
    s = coverage(demo).summary
    town = s[s["community_code"] == "town"]
    assert len(town) == 1 and town["community_name"].isna().all()
    assert not any(CJK.search(str(c)) for c in s.columns)


def test_intake_history_note_is_empty(store_copy, demo):
    ts = TicketStore.for_store(store_copy)
    p = shapely.point_on_surface(demo.grids.geometry.iloc[0])
    t = ts.get(ts.add("sanitation", p.x, p.y, "垃圾未清运", principal=OP), principal=OP)
    assert [h["status"] for h in t["history"]] == ["received"]
    assert t["history"][0]["note"] is None


# -- one catalogue: the dashboard's labels are the library's ---------------------------------

def test_dashboard_enumeration_labels_come_from_the_library_catalogue():
    for (layer, fieldname), name in labels.FIELD_ENUMERATIONS.items():
        prefix = SCHEMA_PREFIXES[(layer, fieldname)]
        for lab in labels.ENUMERATIONS[name]:
            assert MESSAGES[prefix + lab.code] == {"zh": lab.zh, "en": lab.en}


@pytest.mark.parametrize("choices,value,code", [
    (schema.CARE_KINDS, "日间照料中心", "elder_day_care"),
    (schema.CARE_KINDS, "幼儿园", "kindergarten"),
    (schema.CARE_KINDS, " Kindergarten ", "kindergarten"),
    (schema.CARE_KINDS, "敬老院", "elder_day_care"),
    (schema.RENOVATION_STATUSES, "已改造", "completed"),
    (schema.RENOVATION_STATUSES, "已完成改造", "completed"),
    (schema.ROLES, "网格哨兵", "grid_sentinel"),
    (schema.ROLES, "哨兵", "grid_sentinel"),
    (schema.ROLES, "楼栋长", "building_member"),
    (schema.ROLES, "楼栋党员", "building_member"),
    (schema.PARKING_KINDS, "错时共享停车", "shared_staggered"),
    (schema.ROAD_KINDS, "footway", "path"),
    (schema.COMMUNITY_KINDS, "村委会", "村"),
    (schema.TICKET_STATUSES, "已结案", "closed"),
    (schema.CARE_KINDS, "elder_station", "elder_station"),
    (schema.CARE_KINDS, "spa", None),
    (schema.CARE_KINDS, None, None),
])
def test_normalise_accepts_codes_labels_and_synonyms(choices, value, code):
    assert labels.normalise(choices, value) == code


def test_every_label_and_synonym_reads_back_as_its_code():
    for table in labels.ENUMERATIONS.values():
        choices = tuple(lab.code for lab in table)
        for lab in table:
            for word in (lab.code, lab.zh, lab.en, *lab.synonyms):
                assert labels.normalise(choices, word) == lab.code, word


def test_booleans_accept_chinese_and_english_words():
    import pandas as pd

    yes, no = labels.normalise_bool(pd.Series(["是", "否", "Y", "n", "TRUE", "0", "有", "无",
                                               "中共党员", "群众", "maybe", None]))
    assert yes.tolist() == [True, False, True, False, True, False, True, False, True, False,
                            False, False]
    assert no.tolist() == [False, True, False, True, False, True, False, True, False, True,
                           False, False]
