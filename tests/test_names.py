"""Tests of the fictional name and text generators (``layers.demo.names``)."""

from __future__ import annotations

import re
import string
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from layers.demo import names

HAN_NAME = re.compile(r"^[\u4e00-\u9fff]{2,3}$")
HAN = re.compile(r"^[\u4e00-\u9fff]+$")
PHONE = re.compile(r"^1[3-9]\d{9}$")
CARRIER_PREFIXES = {
    *map(str, range(130, 140)), "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "173", "177", *map(str, range(180, 190)), "199",
}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _places(n: int) -> np.ndarray:
    return np.array([f"龙台小区{i % 30 + 1}栋" for i in range(n)], dtype=object)


GENERATORS: dict[str, Callable[[np.random.Generator], object]] = {
    "person_names": lambda r: names.person_names(r, 200),
    "phones": lambda r: names.phones(r, 200),
    "compound_names": lambda r: names.compound_names(r, 200),
    "community_names": lambda r: names.community_names(r, 100, 100),
    "town_names": lambda r: names.town_names(r, 100),
    "street_names": lambda r: names.street_names(r, 200),
    "care_point_names": lambda r: names.care_point_names(
        r, np.resize(np.array(list(names.CARE_POINT_KINDS)), 200), np.full(200, "龙台")
    ),
    "parking_names": lambda r: names.parking_names(
        r, np.resize(np.array(list(names.PARKING_KINDS)), 200), np.full(200, "龙台")
    ),
    "ticket_texts": lambda r: names.ticket_texts(
        r, np.resize(np.array(list(names.TICKET_CATEGORIES)), 200), _places(200)
    ),
}


def _as_tuple(result: object) -> tuple[np.ndarray, ...]:
    return result if isinstance(result, tuple) else (result,)  # type: ignore[return-value]


# ---------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_same_output(name: str) -> None:
    a = _as_tuple(GENERATORS[name](rng(7)))
    b = _as_tuple(GENERATORS[name](rng(7)))
    for x, y in zip(a, b, strict=True):
        assert x.dtype == object
        assert x.tolist() == y.tolist()


# parking_names has one template per kind, so its output does not depend on the seed.
@pytest.mark.parametrize("name", [g for g in GENERATORS if g != "parking_names"])
def test_different_seed_different_output(name: str) -> None:
    a = _as_tuple(GENERATORS[name](rng(1)))
    b = _as_tuple(GENERATORS[name](rng(2)))
    assert any(x.tolist() != y.tolist() for x, y in zip(a, b, strict=True))


def test_results_are_python_str() -> None:
    for name, gen in GENERATORS.items():
        for arr in _as_tuple(gen(rng())):
            assert all(type(v) is str for v in arr.tolist()), name


@pytest.mark.parametrize(
    "call",
    [
        lambda r, n: names.person_names(r, n),
        lambda r, n: names.phones(r, n),
        lambda r, n: names.compound_names(r, n),
        lambda r, n: names.town_names(r, n),
        lambda r, n: names.street_names(r, n),
    ],
)
@pytest.mark.parametrize("n", [0, 1, 37])
def test_lengths(call: Callable[[np.random.Generator, int], np.ndarray], n: int) -> None:
    out = call(rng(), n)
    assert out.shape == (n,)
    assert out.dtype == object


def test_negative_n_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        names.person_names(rng(), -1)


# ---------------------------------------------------------------------------- person names


def test_person_names_shape_and_script() -> None:
    out = names.person_names(rng(3), 20_000)
    assert all(HAN_NAME.match(n) for n in out)
    lengths = Counter(len(n) for n in out)
    share_single = lengths[2] / len(out)
    assert 0.25 < share_single < 0.35  # ~30 % one-character given names
    assert all(len(set(n)) == len(n) for n in out)  # no 王王 / 李明李


def test_person_names_surname_frequencies() -> None:
    out = names.person_names(rng(4), 50_000)
    counts = Counter(n[0] for n in out)
    top = {s for s, _ in counts.most_common(6)}
    assert top <= {"王", "李", "张", "刘", "陈", "杨"}
    for chongqing in "谭冉向秦熊":
        assert counts[chongqing] > 0
    assert len(counts) >= 90


# ---------------------------------------------------------------------------- phones


def test_phones_format_and_prefixes() -> None:
    out = names.phones(rng(5), 50_000)
    assert all(PHONE.match(p) for p in out)
    assert {p[:3] for p in out} == CARRIER_PREFIXES


def test_phones_unique_large() -> None:
    out = names.phones(rng(6), 1_000_000)
    assert len(set(out.tolist())) == 1_000_000


# ---------------------------------------------------------------------------- compounds


COMPOUND_SUFFIXES = tuple(s for s, _ in names._COMPOUND_SUFFIXES)


def test_compound_names_small_have_no_phase() -> None:
    out = names.compound_names(rng(8), 5_000)
    assert len(set(out.tolist())) == 5_000
    assert all(HAN.match(n) for n in out)
    assert all(n.endswith(COMPOUND_SUFFIXES) for n in out)
    assert not any(n.endswith("期") for n in out)


def test_compound_names_300k_distinct_and_fast() -> None:
    names._compound_base()  # the catalogue is built once per process
    start = time.perf_counter()
    out = names.compound_names(rng(9), 300_000)
    elapsed = time.perf_counter() - start
    assert len(set(out.tolist())) == 300_000
    assert elapsed < 3.0
    stripped = [n[:-2] if n.endswith("期") else n for n in out]
    assert all(n.endswith(COMPOUND_SUFFIXES) for n in stripped)


def test_compound_names_500k_distinct() -> None:
    out = names.compound_names(rng(10), 500_000)
    assert len(set(out.tolist())) == 500_000


def test_compound_names_too_many() -> None:
    with pytest.raises(ValueError, match="at most"):
        names.compound_names(rng(), 10**8)


# ---------------------------------------------------------------------------- communities, towns


def test_community_names_suffixes_and_stems() -> None:
    urban, village = names.community_names(rng(11), 300, 400)
    assert urban.shape == (300,)
    assert village.shape == (400,)
    assert all(n.endswith("社区") for n in urban)
    assert all(n.endswith("村") for n in village)
    u_stems = {n[:-2] for n in urban}
    v_stems = {n[:-1] for n in village}
    assert all(HAN.match(s) and 2 <= len(s) <= 3 for s in u_stems | v_stems)
    assert len(u_stems) == 300
    assert len(v_stems) == 400
    assert not u_stems & v_stems


def test_community_names_20k_each_distinct() -> None:
    urban, village = names.community_names(rng(12), 20_000, 20_000)
    u_stems = {n[:-2] for n in urban}
    v_stems = {n[:-1] for n in village}
    assert len(u_stems) == 20_000
    assert len(v_stems) == 20_000
    assert not u_stems & v_stems


def test_town_names() -> None:
    out = names.town_names(rng(13), 2_000)
    assert len(set(out.tolist())) == 2_000
    assert all(n.endswith(("镇", "街道")) for n in out)
    share_zhen = np.mean([n.endswith("镇") for n in out])
    assert 0.5 < share_zhen < 0.7
    stems = {n[:-1] if n.endswith("镇") else n[:-2] for n in out}
    assert len(stems) == 2_000
    assert all(HAN.match(s) and 2 <= len(s) <= 3 for s in stems)


def test_street_names() -> None:
    out = names.street_names(rng(14), 50_000)
    assert len(set(out.tolist())) == 50_000
    assert all(n.endswith(("路", "街", "大道")) for n in out)
    assert all(HAN.match(n) for n in out)


# ---------------------------------------------------------------------------- kinds


CARE_WORDS = {
    "elder_day_care": ("社区养老服务中心", "日间照料中心"),
    "elder_station": ("养老服务站",),
    "elder_canteen": ("老年食堂", "长者食堂"),
    "nursery": ("托育园", "婴幼儿照护中心"),
    "kindergarten": ("幼儿园",),
    "after_school": ("课后托管中心", "四点半课堂"),
}
PARKING_WORDS = {
    "lot": ("停车场",),
    "street": ("路边停车位",),
    "shared_staggered": ("错时共享停车场",),
    "converted_wasteland": ("荒改停停车场",),
}


def test_care_point_names_suffixes() -> None:
    kinds = np.repeat(np.array(list(CARE_WORDS)), 50)
    places = np.resize(np.array(["龙台", "凤凰", "虎峰山"], dtype=object), kinds.size)
    out = names.care_point_names(rng(15), kinds, places)
    assert out.shape == kinds.shape
    for kind, place, name in zip(kinds, places, out, strict=True):
        assert name.startswith(place)
        assert name[len(place):] in CARE_WORDS[kind]
    # every template is used
    assert {n[2:] for n in out if n.startswith("龙台")} == {w for ws in CARE_WORDS.values()
                                                           for w in ws}


def test_parking_names_suffixes() -> None:
    kinds = np.repeat(np.array(list(PARKING_WORDS)), 10)
    places = np.full(kinds.size, "农安", dtype=object)
    out = names.parking_names(rng(16), kinds, places)
    for kind, name in zip(kinds, out, strict=True):
        assert name[2:] in PARKING_WORDS[kind]


@pytest.mark.parametrize(
    "func", [names.care_point_names, names.parking_names, names.ticket_texts]
)
def test_unknown_kind_rejected(func: Callable[..., np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"unknown .*'spaceship'.*expected one of"):
        func(rng(), np.array(["spaceship"]), np.array(["龙台"]))


@pytest.mark.parametrize(
    "func", [names.care_point_names, names.parking_names, names.ticket_texts]
)
def test_length_mismatch_rejected(func: Callable[..., np.ndarray]) -> None:
    with pytest.raises(ValueError, match="same length"):
        func(rng(), np.array(["other", "other"]), np.array(["龙台"]))


def test_empty_kinds() -> None:
    empty = np.array([], dtype=object)
    assert names.care_point_names(rng(), empty, empty).shape == (0,)
    assert names.ticket_texts(rng(), empty, empty).shape == (0,)


# ---------------------------------------------------------------------------- tickets


def test_ticket_categories_exact() -> None:
    assert list(names.TICKET_CATEGORIES.items()) == [
        ("dispute", "矛盾纠纷"),
        ("sanitation", "环境卫生"),
        ("facility_repair", "设施维修"),
        ("parking_order", "停车秩序"),
        ("cooking_fumes", "油烟扰民"),
        ("group_rental_fire", "群租与消防安全"),
        ("elevator_retrofit", "加装电梯"),
        ("tree_trimming", "树木修剪"),
        ("employment", "就业服务"),
        ("power_supply", "供电用电"),
        ("elderly_child_care", "一老一小服务"),
        ("other", "其他"),
    ]


def test_ticket_templates_catalogue() -> None:
    assert list(names.TICKET_TEMPLATES) == list(names.TICKET_CATEGORIES)
    formatter = string.Formatter()
    for code, templates in names.TICKET_TEMPLATES.items():
        assert len(templates) >= 6, code
        assert len(set(templates)) == len(templates), code
        for template in templates:
            fields = [f for _, f, _, _ in formatter.parse(template) if f is not None]
            assert fields.count("place") == 1, template
            assert set(fields) - {"place"} <= set(names._SLOTS), template


def test_ticket_texts_contain_place_and_have_realistic_length() -> None:
    cats = np.repeat(np.array(list(names.TICKET_CATEGORIES)), 500)
    places = np.resize(
        np.array(["龙台", "龙台小区3栋", "金凤佳苑二期12栋", "虎峰山村7组12号院"], dtype=object),
        cats.size,
    )
    out = names.ticket_texts(rng(17), cats, places)
    assert out.shape == cats.shape
    for place, text in zip(places, out, strict=True):
        assert text.startswith(place)
        assert 15 <= len(text) <= 60, text
        assert "{" not in text and "}" not in text, text
    # every category draws on several templates (told apart by the text after the place)
    for code in names.TICKET_CATEGORIES:
        sel = cats == code
        openings = {t[len(p):len(p) + 6] for t, p in zip(out[sel], places[sel], strict=True)}
        assert len(openings) >= 6, code


def test_ticket_texts_accept_unicode_arrays() -> None:
    cats = np.array(["sanitation", "dispute"])
    places = np.array(["龙台小区3栋", "凤凰花园1栋"])
    out = names.ticket_texts(rng(18), cats, places)
    assert out[0].startswith("龙台小区3栋")
    assert out[1].startswith("凤凰花园1栋")


def test_ticket_texts_large_is_fast() -> None:
    n = 200_000
    cats = np.resize(np.array(list(names.TICKET_CATEGORIES)), n)
    start = time.perf_counter()
    out = names.ticket_texts(rng(19), cats, _places(n))
    assert time.perf_counter() - start < 3.0
    assert out.shape == (n,)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: names.community_names(r, 10**6, 0),
        lambda r: names.community_names(r, 0, 10**6),
        lambda r: names.town_names(r, 10**7),
        lambda r: names.street_names(r, 10**7),
    ],
)
def test_too_many_names_rejected(call: Callable[[np.random.Generator], object]) -> None:
    with pytest.raises(ValueError, match="at most .* distinct .* names"):
        call(rng())
