"""The interface's one message catalogue: Simplified Chinese first, English second.

Pages never hold user-facing strings; they call :func:`t` with a key.
"""

from __future__ import annotations

LANGUAGES = {"zh": "中文", "en": "English"}

MESSAGES: dict[str, dict[str, str]] = {
    "app_title": {"zh": "网格化治理地图", "en": "Grid Governance Map"},
    "fictional": {"zh": "示例数据，非真实", "en": "Sample data, not real"},
    "generating": {"zh": "首次运行：正在生成示例镇数据（约几秒）…",
                   "en": "First run: generating the demo town (a few seconds)…"},
    "overview": {"zh": "总览", "en": "Overview"},
    "communities": {"zh": "社区/村", "en": "Communities"},
    "grids": {"zh": "网格", "en": "Grids"},
    "buildings": {"zh": "楼栋", "en": "Buildings"},
    "population": {"zh": "人口", "en": "Population"},
    "grid_coverage": {"zh": "网格哨兵覆盖率", "en": "Grids with a sentinel"},
    "building_coverage": {"zh": "楼栋党员覆盖率", "en": "Buildings with a member"},
    "grids_without_sentinel": {"zh": "无哨兵网格", "en": "Grids without sentinel"},
    "status_ok": {"zh": "有哨兵", "en": "Has sentinel"},
    "status_no_sentinel": {"zh": "无哨兵", "en": "No sentinel"},
    "status_overloaded": {"zh": "哨兵超负荷", "en": "Sentinel overloaded"},
    "map_caption": {"zh": "网格按哨兵状态着色；粗线为社区边界。离线绘制，无需底图。",
                    "en": "Grids coloured by sentinel status; thick lines are community "
                          "boundaries. Drawn offline, no base map needed."},
    "summary": {"zh": "各社区汇总", "en": "Summary by community"},
    "language": {"zh": "语言", "en": "Language"},
    "data_source": {"zh": "数据", "en": "Data"},
    "as_of": {"zh": "统计日期", "en": "As of"},
    "placeholder_note": {"zh": "完整的交互地图、覆盖分析页面将在后续版本提供。",
                         "en": "The full interactive map and coverage pages come next."},
    "col_community_code": {"zh": "社区代码", "en": "Community code"},
    "col_community_name": {"zh": "社区/村", "en": "Community"},
    "col_grids": {"zh": "网格数", "en": "Grids"},
    "col_grids_without_sentinel": {"zh": "无哨兵网格", "en": "No sentinel"},
    "col_grid_coverage": {"zh": "哨兵覆盖率", "en": "Sentinel coverage"},
    "col_households": {"zh": "户数", "en": "Households"},
    "col_households_without_sentinel": {"zh": "无哨兵户数", "en": "Households uncovered"},
    "col_buildings": {"zh": "楼栋数", "en": "Buildings"},
    "col_buildings_without_member": {"zh": "无党员楼栋", "en": "No member"},
    "col_building_coverage": {"zh": "楼栋党员覆盖率", "en": "Member coverage"},
    "col_overloaded_sentinels": {"zh": "超负荷哨兵", "en": "Overloaded sentinels"},
    "col_unassigned_party_members": {"zh": "未分配党员", "en": "Unassigned members"},
    "total": {"zh": "合计", "en": "Total"},
}


def t(key: str, lang: str = "zh") -> str:
    """The message ``key`` in ``lang`` (falls back to Chinese, then to the key itself)."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["zh"]
