"""数据管理 as a street-office administrator meets it (issue 16): a file with several kinds of
problem gets all of them at once, grouped by field and problem with the file's own line
numbers, in the page's language, naming the user's file and never the server's copy; a file
that cannot be read says why in plain words, visibly. Screenshots at 1920×1080, 1440×900 and
390×844 (Chinese) and 1440×900 (English): ``test-artifacts/data-<width>[-en].png``."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import shapely
from browserkit import ARTIFACTS, add_account, import_file_input, login, shot, streamlit_server

from dashboard.i18n import MESSAGES, t
from dashboard.views import data_report
from layers import importer, newstore
from layers.importer import ImportFileError, check_file
from layers.store import open_store

ROOT = Path(__file__).resolve().parent.parent
LOAD = 120_000
browser_test = pytest.mark.skipif(os.environ.get("WANGGE_SKIP_BROWSER") == "1",
                                  reason="browser tests switched off")
#: What the library says that is data, not words (an OSM id and name; a reason it did not
#: foresee): shown as it is.
RAW_KEYS = {"note", "dropped_one", "other"}


def _mixed_file(demo, folder: Path) -> Path:
    """Care points with an unknown kind (lines 3 and 7), a community the store does not hold
    (line 4) and a point in Beijing (line 6)."""
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:6])
    rows = pd.DataFrame({"名称": [f"新建养老服务站{i}" for i in range(6)],
                         "类型": ["elder_station"] * 6, "容量": [20] * 6,
                         "社区编码": [demo.communities.code.iloc[0]] * 6,
                         "经度": shapely.get_x(pts), "纬度": shapely.get_y(pts)})
    rows.loc[[1, 5], "类型"] = "火星站"
    rows.loc[2, "社区编码"] = "999999999999"
    rows.loc[4, ["经度", "纬度"]] = [116.40, 39.90]
    path = folder / "养老服务点.csv"
    rows.to_csv(path, index=False)
    return path


def _said_keys() -> set[str]:
    """Every key the library says things by (Said("key", …), Said.text("key", …), the keys
    of derive's sentences and of a file's row problems)."""
    keys: set[str] = set()
    for path in (ROOT / "layers").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'Said(?:\.text)?\(\s*f?"([a-z0-9_]+)"', text))
        keys |= set(re.findall(r'"([a-z_]+)",\s*f?"[^"]*\{\{?value\}', text))  # row keys
    keys |= {key for _, key in importer._DERIVED}
    keys |= {f"not_{k}{p}" for k in ("int", "float", "bool", "datetime")
             for p in ("", "_personal")}
    keys |= {"outside_region", "outside_region_forced", "outside_china",
             "non_residential_none"}
    return keys - RAW_KEYS


def test_everything_the_library_says_has_words_in_both_languages():
    keys = _said_keys()
    assert {"not_choice", "not_a_code", "outside_region", "too_long", "codes_made",
            "made_counts", "not_a_role"} <= keys  # the scan finds them
    missing = sorted(k for k in keys if f"data_said_{k}" not in MESSAGES)
    assert missing == []
    for key in keys:
        entry = MESSAGES[f"data_said_{key}"]
        assert entry["zh"] and entry["en"] and entry["zh"] != entry["en"], key
    reasons = set(re.findall(r"``(\w+)``", ImportFileError.__doc__ or "")) - {"reason", "values"}
    raised = set(re.findall(r'ImportFileError\([^;]*?,\s*"([a-z_]+)"',
                            (ROOT / "layers" / "importer.py").read_text(encoding="utf-8")))
    assert raised and raised <= reasons | {"unreadable"}
    assert "shapefile_parts" in reasons
    assert [r for r in reasons if f"data_unreadable_{r}" not in MESSAGES] == []
    new_reasons = set(re.findall(r"``(\w+)``", newstore.NewStoreError.__doc__ or "")) - {
        "reason", "values"}
    assert [r for r in new_reasons if f"data_new_err_{r}" not in MESSAGES] == []


def test_the_report_groups_every_kind_of_problem_in_the_pages_language(store_copy, demo,
                                                                          tmp_path):
    f = _mixed_file(demo, tmp_path)
    result = check_file(open_store(store_copy), f, "care_points", mode="append")
    zh = data_report.report_table(result.report, "zh", str(f), "我的文件.csv")
    assert list(zh.columns) == ["文件/图层", "级别", "字段", "问题", "处数", "位置"]
    errors = zh[zh["级别"] == "错误"].set_index("字段")
    assert errors.loc["类型", "位置"] == "第 3、7 行" and errors.loc["类型", "处数"] == 2
    assert "「火星站」" in errors.loc["类型", "问题"] and "养老服务站" in errors.loc["类型", "问题"]
    assert errors.loc["所属社区编码", "位置"] == "第 4 行"
    assert errors.loc["所属社区编码", "问题"] == "「999999999999」不是已有的社区/村编码"
    assert errors.loc["位置/图形", "位置"] == "第 6 行"
    assert "不在本辖区范围内" in errors.loc["位置/图形", "问题"]
    assert set(errors["文件/图层"]) == {"我的文件.csv"}
    assert str(tmp_path) not in zh.to_csv()
    en = data_report.report_table(result.report, "en", str(f), "mine.csv")
    assert list(en.columns) == ["File / layer", "Severity", "Field", "Problem", "Rows", "Where"]
    assert "lines 3, 7" in set(en["Where"])
    assert en["Problem"][0].startswith("'火星站' is not one of: Elder day care")  # the value: data


def test_an_unreadable_file_says_why_in_plain_words():
    exc = ImportFileError("/tmp/wangge-upload-x/upload.zip: the shapefile c.shp lacks .dbf",
                          "shapefile_parts", parts=".dbf")
    zh = data_report.unreadable(exc, "zh", "边界.zip")
    assert "边界.zip" in zh and ".dbf" in zh and "/tmp" not in zh and "缺少" in zh
    gpkg = ImportFileError("/tmp/x/upload.gpkg: cannot be read (not recognized …)",
                           "unreadable", format="GeoPackage")
    assert "GeoPackage" in data_report.unreadable(gpkg, "en", "a.gpkg")
    other = data_report.unreadable(ValueError("/tmp/secret/path boom"), "zh", "a.csv")
    assert "/tmp" not in other and "服务器日志" in other


def _upload(page, url: str, lang: str, path: Path, layer: str = "care_points") -> None:
    page.goto(f"{url}/data?layer={layer}" + ("&lang=en" if lang == "en" else ""),
              wait_until="domcontentloaded")
    login(page, "数据管理员", "browser-pass-1", lang=lang)
    import_file_input(page, lang, timeout=LOAD).set_input_files(str(path))


@browser_test
def test_a_bad_file_gets_every_problem_grouped_and_an_unreadable_one_its_reason(
        browser, store_copy, demo, tmp_path):
    add_account(store_copy, "数据管理员", "admin")
    bad = _mixed_file(demo, tmp_path)
    shp = tmp_path / "c.shp"
    demo.care_points.iloc[:2].to_file(shp)
    nodbf = tmp_path / "服务点边界.zip"
    with zipfile.ZipFile(nodbf, "w") as z:
        for ext in (".shp", ".shx", ".prj"):
            z.write(shp.with_suffix(ext), f"c{ext}")
    before = open_store(store_copy).layer_versions()  # logging in writes the audit log only
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(store_copy) as url:
        for width, height, lang in ((1920, 1080, "zh"), (1440, 900, "zh"), (390, 844, "zh"),
                                    (1440, 900, "en")):
            page = browser.new_page(viewport={"width": width, "height": height})
            _upload(page, url, lang, bad)
            table = page.locator("[data-testid=stTable]").first
            table.wait_for(timeout=LOAD)
            page.wait_for_timeout(1500)
            text = page.inner_text("body")
            chosen = page.locator("[data-testid=stSelectbox] input").first.input_value()
            refusal = page.locator("[data-testid=stAlertContentError]").first
            assert refusal.is_visible()
            report = table.inner_text()
            if lang == "zh":
                assert "发现 3 类问题，共 4 处" in refusal.inner_text()
                for header in ("级别", "字段", "问题", "处数", "位置"):
                    assert header in report
                for field, where in (("类型", "第 3、7 行"), ("所属社区编码", "第 4 行"),
                                     ("位置/图形", "第 6 行")):
                    assert field in report and where in report
                assert "「火星站」" in report and "不在本辖区范围内" in report
                assert "一老一小服务点" in chosen  # the layer's label, not care_points
                assert "care_points" not in text and "is not one of" not in text
            else:
                assert "3 kind(s) of problem in 4 place(s)" in refusal.inner_text()
                assert "lines 3, 7" in report and "line 4" in report and "line 6" in report
                assert "Care points" in chosen
            caption = t("data_report_of", lang).format(name="养老服务点.csv")
            assert caption in text  # the report names the user's own file
            assert "/tmp" not in text and "upload.csv" not in text and str(tmp_path) not in text
            assert page.get_by_role("button", name=t("data_confirm", lang)).count() == 0
            refusal.scroll_into_view_if_needed()  # the report where the eye is
            shot(page, f"data-{width}" + ("-en" if lang == "en" else ""))
            page.close()

        page = browser.new_page(viewport={"width": 1440, "height": 900})
        _upload(page, url, "zh", nodbf)
        error = page.locator("[data-testid=stAlertContentError]").first
        error.wait_for(timeout=LOAD)
        message = error.inner_text()
        assert "服务点边界.zip" in message and ".dbf" in message and "缺少" in message
        assert error.is_visible()  # said where the eye is, not in the collapsed status box
        assert error.locator("xpath=ancestor::details").count() == 0
        assert "/tmp" not in page.inner_text("body") and "vsizip" not in page.inner_text("body")
        shot(page, "data-unreadable")
        page.close()
    assert open_store(store_copy).layer_versions() == before
