"""新建辖区 in a real browser, as a street-office administrator would: upload the shared
Longgang OSM extract on the data page, see the proposed communities and grids, name the store,
confirm; open it with ?data= and log in with the same account (it came along); the map credits
© OpenStreetMap contributors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browserkit import ARTIFACTS, add_account, import_file_input, login, shot, streamlit_server
from conftest import copy_store

from dashboard.i18n import t
from layers.auth import Accounts, Principal
from layers.store import open_store

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

EXTRACT = Path(__file__).resolve().parent.parent.parent / "shared" / "osm" / \
    "shenzhen_longgang_map.osm.bz2"
LOAD = 120_000


def test_new_area_from_an_osm_extract_through_the_page(browser, tmp_path, demo_file):
    folder = tmp_path / "data"
    folder.mkdir()
    town = copy_store(demo_file, folder / "town.gpkg")
    pw = add_account(town, "街道管理员甲", "admin")
    extract = tmp_path / "龙岗 extract.osm.bz2"  # a name with a space and Chinese
    shutil.copyfile(EXTRACT, extract)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(town, WANGGE_DATA_DIR=str(folder)) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/data", wait_until="domcontentloaded")
        login(page, "街道管理员甲", pw)
        page.get_by_role("tab", name=t("data_tab_new")).click()
        page.locator("[data-testid=stFileUploader]").filter(has_text=t("new_osm")).locator(
            "input[type=file]").set_input_files(str(extract))
        page.get_by_role("button", name=t("new_preview")).click()
        page.get_by_text(t("new_proposed")).first.wait_for(timeout=LOAD)
        page.wait_for_timeout(2000)
        text = page.inner_text("body")
        # what was made, and dropped, in the page's language (not the CLI's English lines)
        assert "已生成" in text and "网格" in text and "楼栋未导入" in text
        assert "made" not in text and "dropped" not in text
        assert "/tmp" not in text and str(tmp_path) not in text  # no server paths
        assert page.get_by_text("OpenStreetMap").count() >= 1
        shot(page, "new-area-preview")
        name_box = page.get_by_role("textbox", name=t("new_store_name")).last
        name_box.fill("../evil")
        name_box.press("Enter")
        page.wait_for_timeout(1200)
        page.get_by_role("button", name=t("new_confirm")).click()
        page.get_by_text(t("new_bad_name")).first.wait_for(timeout=LOAD)
        name_box.fill("龙岗新区")
        name_box.press("Enter")
        page.wait_for_timeout(1200)
        page.get_by_role("button", name=t("new_confirm")).click()
        page.get_by_text(t("new_done").format(name="龙岗新区")).first.wait_for(timeout=LOAD)
        shot(page, "new-area-created")

        store = folder / "龙岗新区.gpkg"
        data = open_store(store).read()
        assert len(data.grids) > 0 and len(data.buildings) > 100 and len(data.roads) > 100
        assert not data.fictional
        assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
        assert Accounts(store).list()["name"].tolist() == ["街道管理员甲"]
        assert "new_store" in set(Accounts(town).audit_log()["action"])

        page.goto(f"{url}/?data=龙岗新区", wait_until="domcontentloaded")
        login(page, "街道管理员甲", pw)  # the creator's account came along
        page.get_by_text(t("page_map")).first.wait_for(timeout=LOAD)
        credit = ""
        for _ in range(60):  # the map is drawn in st_folium's iframe
            page.wait_for_timeout(1000)
            credits = [f.locator(".leaflet-control-attribution") for f in page.frames]
            credit = " ".join(c.first.inner_text() for c in credits if c.count())
            if credit:
                break
        assert "OpenStreetMap" in credit
        shot(page, "new-area-opened")
        page.close()


def test_people_register_with_chinese_headers_through_the_page(browser, store_copy):
    """A people register as an office keeps it (姓名, 电话, 党员 是/否, 楼栋编码) uploaded on
    the data page: checked, confirmed, in the register with the account as ``by``."""
    from layers import register as reg

    pw = add_account(store_copy, "王芳", "admin")
    codes = open_store(store_copy).select_rows("buildings", None, columns=["code"])["code"]
    csv = store_copy.parent / "人员台账.csv"
    csv.write_text("姓名,电话,党员,楼栋编码\n" + "".join(
        f"新人{i},1390000{i:04d},{'是' if i % 2 else '否'},{codes.iloc[i]}\n" for i in range(3)),
        encoding="utf-8")
    with streamlit_server(store_copy) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/data?layer=people", wait_until="domcontentloaded")
        login(page, "王芳", pw)
        import_file_input(page).set_input_files(str(csv))
        page.get_by_role("button", name=t("data_confirm")).wait_for(timeout=LOAD)
        page.get_by_role("button", name=t("data_confirm")).click()
        page.get_by_text(t("data_done").split("{")[0]).first.wait_for(timeout=LOAD)
        shot(page, "data-people-register")
        page.close()
    people = open_store(store_copy).read(["people"], check_geometry=False)["people"]
    new = people[people["name"].str.startswith("新人")].sort_values("name")
    assert new["phone"].tolist() == ["13900000000", "13900000001", "13900000002"]
    assert new["is_party_member"].tolist() == [False, True, False]
    assert new["home_building_code"].tolist() == codes.iloc[:3].tolist()
    h = reg.history(open_store(store_copy), principal=OP)
    assert set(h.loc[h["person_id"].isin(new["person_id"]), "by"]) == {"王芳"}
