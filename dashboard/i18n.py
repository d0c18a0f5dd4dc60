"""The interface's one message catalogue: Simplified Chinese first, English second.

Pages never hold user-facing strings; they call :func:`t` with a key. The library emits codes
only; every enumeration value has a key here, by prefix:

- ``kind_<code>``: ``care_points.kind``, ``parking.kind``, ``roads.kind``, ``communities.kind``;
- ``renovation_<code>``: ``buildings.renovation``;
- ``<role>`` (``grid_sentinel``, ``building_member``): ``assignments.role``;
- ``status_t_<code>``: ticket statuses; ``move_<source>_<target>``: ticket moves;
- ``cat_<code>``: ticket categories; ``reporter_<code>``; ``sat_<code>``;
- ``total``: the ``town`` row of the coverage summary.

The labels of the layer contract's enumerations (kinds, renovation, roles, ticket statuses)
are not written here: they are built from :mod:`layers.labels`, the library's one catalogue,
with which the importer also reads files written with these labels and their synonyms.
"""

from __future__ import annotations

from layers.labels import ENUMERATIONS

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
    # -- navigation and pages
    "nav_map": {"zh": "地图", "en": "Map"},
    "page_map": {"zh": "地图总览", "en": "Map overview"},
    "page_coverage": {"zh": "覆盖分析", "en": "Coverage"},
    "base_map": {"zh": "底图", "en": "Base map"},
    "base_none": {"zh": "无底图（离线）", "en": "None (offline)"},
    "base_osm": {"zh": "OpenStreetMap", "en": "OpenStreetMap"},
    "base_tianditu": {"zh": "天地图", "en": "Tianditu"},
    "base_amap": {"zh": "高德地图", "en": "AMap"},
    "base_unavailable": {"zh": "（未配置）", "en": " (not configured)"},
    "base_online_note": {"zh": "在线底图需要能访问瓦片服务器；内网可在配置中改为内网瓦片地址。",
                         "en": "Online base maps need their tile server; point them at an "
                               "intranet tile server in the settings."},
    "base_gcj_note": {"zh": "高德底图为 GCJ-02 坐标，图层已相应偏移。",
                      "en": "AMap tiles are GCJ-02; overlays are shifted to match."},
    "community_filter": {"zh": "社区/村", "en": "Community"},
    "all_communities": {"zh": "全部", "en": "All"},
    "search": {"zh": "搜索网格编码、楼栋名称或人员", "en": "Search grid code, building or person"},
    "search_results": {"zh": "搜索结果", "en": "Results"},
    "no_results": {"zh": "没有找到", "en": "Nothing found"},
    "detail": {"zh": "详情", "en": "Details"},
    "click_hint": {"zh": "点击地图上的网格或楼栋查看详情。",
                   "en": "Click a grid or building on the map for details."},
    "share_link": {"zh": "本视图链接", "en": "Link to this view"},
    "aggregated_note": {"zh": "数据量大：已按社区汇总显示；放大地图显示视野内的网格（楼栋再放大后显示），"
                              "或选择一个社区。",
                        "en": "Large data: shown by community; zoom in to see the grids in view "
                              "(buildings closer still), or choose a community."},
    "view_too_many": {"zh": "视野内{layer}太多（{n:,}个），请放大地图。",
                      "en": "Too many {layer} in view ({n:,}): zoom in."},
    "clear_selection": {"zh": "清除选择", "en": "Clear selection"},
    # -- map layers and legend
    "group_base": {"zh": "底图", "en": "Base"},
    "group_admin": {"zh": "区划与网格", "en": "Areas and grids"},
    "group_people": {"zh": "人员", "en": "People"},
    "group_service": {"zh": "服务设施", "en": "Services"},
    "group_events": {"zh": "工单", "en": "Tickets"},
    "roads": {"zh": "道路", "en": "Roads"},
    "town_boundary": {"zh": "镇街边界", "en": "Town boundary"},
    "grids_by_status": {"zh": "网格（按哨兵状态）", "en": "Grids (by sentinel status)"},
    "buildings_from_zoom": {"zh": "楼栋（放大后显示）", "en": "Buildings (when zoomed in)"},
    "sentinel": {"zh": "哨兵", "en": "Sentinel"},
    "none_assigned": {"zh": "无", "en": "none"},
    "elder_care": {"zh": "养老服务点", "en": "Elder care"},
    "child_care": {"zh": "托育服务点", "en": "Child care"},
    "parking": {"zh": "停车场（按车位）", "en": "Parking (by spaces)"},
    "open_tickets": {"zh": "未办结工单", "en": "Open tickets"},
    "ticket_heat": {"zh": "工单热力图", "en": "Ticket heat map"},
    "overdue": {"zh": "已超期", "en": "Overdue"},
    "selection": {"zh": "选中", "en": "Selected"},
    "legend": {"zh": "图例", "en": "Legend"},
    "legend_ticket_open": {"zh": "未超期", "en": "Within deadline"},
    "legend_communities": {"zh": "社区（哨兵覆盖）", "en": "Communities (sentinel coverage)"},
    "legend_towns": {"zh": "街镇（哨兵覆盖；放大显示社区）",
                     "en": "Towns (sentinel coverage; zoom in for communities)"},
    "legend_all_covered": {"zh": "全部网格有哨兵", "en": "Every grid covered"},
    "legend_mostly_covered": {"zh": "覆盖率 ≥ 90%", "en": "≥ 90% of grids covered"},
    "legend_poorly_covered": {"zh": "覆盖率 < 90%", "en": "< 90% of grids covered"},
    "legend_has_member": {"zh": "有楼栋党员", "en": "Has a building member"},
    "legend_no_member": {"zh": "无楼栋党员", "en": "No building member"},
    "legend_points": {"zh": "点位", "en": "Points"},
    "capacity": {"zh": "容量", "en": "Capacity"},
    "unknown": {"zh": "未知", "en": "unknown"},
    "floors_unit": {"zh": "层", "en": " floors"},
    # -- detail panel
    "households": {"zh": "户数", "en": "Households"},
    "sentinels": {"zh": "网格哨兵", "en": "Grid sentinels"},
    "members": {"zh": "楼栋党员", "en": "Building members"},
    "no_sentinel_warning": {"zh": "该网格没有在岗哨兵", "en": "This grid has no active sentinel"},
    "no_member_warning": {"zh": "该楼栋没有楼栋党员", "en": "This building has no party member"},
    "party_member": {"zh": "党员", "en": "party member"},
    "since": {"zh": "自", "en": "since"},
    "nearest_care": {"zh": "最近的一老一小服务点", "en": "Nearest elder and child care"},
    "distance_m": {"zh": "距离（米）", "en": "Distance (m)"},
    "no_open_tickets": {"zh": "没有未办结工单", "en": "No open tickets"},
    "grid": {"zh": "网格", "en": "Grid"},
    "building": {"zh": "楼栋", "en": "Building"},
    "person": {"zh": "人员", "en": "Person"},
    "floors": {"zh": "层数", "en": "Floors"},
    "year_built": {"zh": "建成年份", "en": "Built"},
    "has_elevator": {"zh": "电梯", "en": "Elevator"},
    "renovation": {"zh": "改造状态", "en": "Renovation"},
    "yes": {"zh": "有", "en": "yes"},
    "no": {"zh": "无", "en": "no"},
    "buildings_in_grid": {"zh": "楼栋数（无党员）", "en": "Buildings (without member)"},
    # -- coverage page
    "flagged_grids": {"zh": "问题网格", "en": "Flagged grids"},
    "flagged_buildings": {"zh": "无楼栋党员的楼栋", "en": "Buildings without a member"},
    "reason": {"zh": "问题", "en": "Reason"},
    "reason_no_sentinel": {"zh": "无在岗哨兵", "en": "No active sentinel"},
    "reason_overloaded": {"zh": "哨兵负责户数超过上限", "en": "Sentinel over the household limit"},
    "reason_no_member": {"zh": "无楼栋党员", "en": "No building member"},
    "reason_outside_grid": {"zh": "楼栋不在所属网格内", "en": "Building lies outside its grid"},
    "suggestions": {"zh": "就近可补位的未分配党员", "en": "Nearby unassigned party members"},
    "download_csv": {"zh": "下载问题清单（CSV）", "en": "Download list (CSV)"},
    "download_excel": {"zh": "下载问题清单（Excel）", "en": "Download list (Excel)"},
    "chart_title": {"zh": "各社区网格哨兵与楼栋党员覆盖率", "en": "Coverage by community"},
    "highlight_on_map": {"zh": "在地图上标出的是问题网格", "en": "Flagged grids on the map"},
    "limit": {"zh": "上限", "en": "limit"},
    "rank": {"zh": "序", "en": "#"},
    "person_id": {"zh": "人员编号", "en": "Person id"},
    "name": {"zh": "名称", "en": "Name"},
    "code": {"zh": "编码", "en": "Code"},
    "overloaded_people": {"zh": "超负荷哨兵", "en": "Overloaded sentinels"},
    "detail_col": {"zh": "说明", "en": "Detail"},
    # -- tickets page
    "nav_work": {"zh": "工作", "en": "Work"},
    "page_tickets": {"zh": "工单", "en": "Tickets"},
    "tab_intake": {"zh": "哨兵一键下单", "en": "New ticket"},
    "intake_pick_community": {"zh": "先选择社区，再选楼栋", "en": "Choose a community, then a building"},
    "tab_list": {"zh": "工单列表", "en": "Tickets"},
    "tab_kpi": {"zh": "统计", "en": "KPIs"},
    "intake_hint": {"zh": "在地图上点击位置，或选择楼栋；所属网格与社区自动填写。",
                    "en": "Click the place on the map or pick a building; the grid and "
                          "community are filled in automatically."},
    "intake_building": {"zh": "楼栋", "en": "Building"},
    "intake_by_click": {"zh": "（按地图点击位置）", "en": "(the place clicked on the map)"},
    "location": {"zh": "位置", "en": "Location"},
    "location_missing": {"zh": "请先在地图上点击位置或选择楼栋", "en": "Click the map or pick a "
                                                                 "building first"},
    "reporter": {"zh": "来源", "en": "Reported by"},
    "reporter_resident": {"zh": "居民", "en": "Resident"},
    "reporter_sentinel": {"zh": "网格哨兵", "en": "Grid sentinel"},
    "reporter_hotline_12345": {"zh": "12345 热线", "en": "12345 hotline"},
    "reporter_inspection": {"zh": "巡查", "en": "Inspection round"},
    "by": {"zh": "经办人", "en": "By"},
    "note": {"zh": "备注", "en": "Note"},
    "when": {"zh": "时间", "en": "When"},
    "handler": {"zh": "承办", "en": "Handler"},
    "submit_ticket": {"zh": "受理", "en": "Receive"},
    "received_as": {"zh": "已受理，工单号", "en": "Received as"},
    "overdue_only": {"zh": "仅超期", "en": "Overdue only"},
    "grid_filter": {"zh": "网格编码（前缀）", "en": "Grid code (prefix)"},
    "ticket_final": {"zh": "工单已办结。", "en": "This ticket is closed."},
    "conflict": {"zh": "已被他人处理，当前状态：{status}。未作任何更改。",
                 "en": "Someone else has moved this ticket; it is now: {status}. Nothing was "
                       "changed."},
    "period_start": {"zh": "开始日期", "en": "From"},
    "period_end": {"zh": "结束日期（不含）", "en": "To (exclusive)"},
    "kpi_received": {"zh": "受理", "en": "Received"},
    "kpi_closed": {"zh": "结案", "en": "Closed"},
    "kpi_closure_rate": {"zh": "结案率", "en": "Closure rate"},
    "kpi_on_time_rate": {"zh": "按期结案率", "en": "On-time rate"},
    "kpi_avg_handling_days": {"zh": "平均办理天数", "en": "Avg. days to close"},
    "kpi_avg_days": {"zh": "平均办理天数", "en": "Avg. days to close"},
    "kpi_overdue": {"zh": "超期", "en": "Overdue"},
    "kpi_satisfaction_rate": {"zh": "满意率", "en": "Satisfaction"},
    "kpi_definitions": {"zh": "口径：结案率＝本期受理中已结案的比例；按期结案率＝本期到期工单中按期结案的比例；"
                              "超期＝期末仍未办结且已过时限；满意率＝本期结案且有评价中满意与基本满意的比例。",
                        "en": "Closure rate: share of the period's tickets closed by its end. "
                              "On-time rate: share of tickets due in the period closed by "
                              "their deadline. Overdue: open at the end, past the deadline. "
                              "Satisfaction: satisfied or fairly satisfied among rated tickets "
                              "closed in the period."},
    "download_joint_meeting": {"zh": "下载联席会议清单（Excel）",
                               "en": "Joint-meeting list (Excel)"},
    "download_open311": {"zh": "导出 Open311 JSON", "en": "Export Open311 JSON"},
    "satisfaction": {"zh": "群众评价（结案时）", "en": "Satisfaction (when closing)"},
    "sat_satisfied": {"zh": "满意", "en": "Satisfied"},
    "sat_basically_satisfied": {"zh": "基本满意", "en": "Fairly satisfied"},
    "sat_dissatisfied": {"zh": "不满意", "en": "Dissatisfied"},
    "handler_community": {"zh": "社区", "en": "The community"},
    "handler_joint_meeting": {"zh": "上报街道大党委联席会议", "en": "Street joint meeting"},
    "handler_department": {"zh": "职能部门", "en": "Department"},
    "kpi_by": {"zh": "统计单元", "en": "By"},
    # -- reach page
    "page_reach": {"zh": "服务覆盖", "en": "Service reach"},
    "reach_group": {"zh": "服务", "en": "Service"},
    "reach_elder_care": {"zh": "养老服务", "en": "Elder care"},
    "reach_child_care": {"zh": "托育服务", "en": "Child care"},
    "reach_parking": {"zh": "停车", "en": "Parking"},
    "reach_within": {"zh": "步行", "en": "Within"},
    "reach_method_network": {"zh": "按道路网步行距离（{source}，{nodes} 个节点）",
                             "en": "Walking distance on the street network ({source}, "
                                   "{nodes} nodes)"},
    "reach_method_straight": {"zh": "无道路网：按直线距离", "en": "No street network: "
                                                                  "straight-line distance"},
    "reach_isochrone_of": {"zh": "等时圈：服务点", "en": "Isochrones of"},
    "reach_by_community": {"zh": "各社区生活圈覆盖（按户）", "en": "Life circles by community "
                                                               "(households)"},
    "reach_parking_deficits": {"zh": "停车缺口最大的网格", "en": "Largest parking deficits"},
    "reach_supply": {"zh": "车位供给", "en": "Supply"},
    "reach_demand": {"zh": "车位需求", "en": "Demand"},
    "reach_balance": {"zh": "余缺", "en": "Balance"},
    "reach_beyond": {"zh": "超出最大生活圈的楼栋", "en": "Buildings beyond the largest circle"},
    "reach_download": {"zh": "下载服务覆盖分析（Excel）", "en": "Download (Excel)"},
    # -- data management page
    "nav_data": {"zh": "数据", "en": "Data"},
    "page_data": {"zh": "数据管理", "en": "Data import"},
    "data_hint": {"zh": "上传 CSV/Excel（经度、纬度列）、压缩的 Shapefile（.zip）、GeoJSON 或 GeoPackage；"
                        "先检查、预览，确认后才写入。任何一行有误，整个文件都不会写入。",
                  "en": "Upload CSV/Excel (longitude/latitude columns), a zipped shapefile, "
                        "GeoJSON or GeoPackage; it is checked and previewed, and written only "
                        "when you confirm. A file with any invalid row is not written at all."},
    "data_layer": {"zh": "导入到图层", "en": "Into layer"},
    "data_mode": {"zh": "方式", "en": "Mode"},
    "data_append": {"zh": "追加", "en": "Append"},
    "data_replace": {"zh": "替换", "en": "Replace"},
    "data_crs": {"zh": "坐标系（留空自动）", "en": "Coordinates (blank: automatic)"},
    "data_mapping": {"zh": "列名对应（原列名=字段，每行一个）", "en": "Column renames (SRC=DST, one "
                                                                  "a line)"},
    "data_file": {"zh": "文件", "en": "File"},
    "data_checking": {"zh": "正在读取与检查…", "en": "Reading and checking…"},
    "data_checked": {"zh": "检查完成", "en": "Checked"},
    "data_unreadable": {"zh": "文件无法读取", "en": "The file cannot be read"},
    "data_bad_type": {"zh": "不支持的文件类型。可上传：{types}",
                      "en": "This kind of file is not accepted. Accepted: {types}"},
    "reach_suggestions_rule": {
        "zh": "此处按步行距离做全局最优分配：每名党员只推荐给一个网格，使总步行距离最短。覆盖分析页"
              "（及“一键补位”）按直线距离为每个网格列出最近的候选人，因此同一网格推荐的人可能不同。",
        "en": "Here: the globally best assignment by walking distance — each party member is "
              "suggested for one grid only, minimising the total walk. The coverage page (and "
              "its one-click fill) lists each grid's nearest candidates by straight line, so the "
              "person suggested for a grid can differ."},
    "as_of_view": {"zh": "查看日期", "en": "As of"},
    "as_of_view_help": {"zh": "选择过去的日期，按当时的指派记录显示覆盖情况和地图。",
                        "en": "Pick a past day to see coverage and the map as the assignment "
                              "history had them then."},
    "as_of_banner": {"zh": "正在查看 {day} 当天的责任分工（历史记录）。",
                     "en": "Showing who was responsible on {day} (history)."},
    "err_generic": {"zh": "页面出错了，已记录到服务器日志。请刷新页面；如果问题持续，请联系管理员。",
                    "en": "Something went wrong; it was written to the server log. Reload the "
                          "page, and tell the administrator if it happens again."},
    "err_tickets_damaged": {"zh": "工单数据库已损坏或为空，无法读取工单。请联系管理员从备份恢复；"
                                  "在恢复之前，不会显示或接收工单。",
                            "en": "The tickets database is damaged or empty, so tickets cannot "
                                  "be read. Ask the administrator to restore it from a backup; "
                                  "until then no tickets are shown or received."},
    "err_store": {"zh": "数据无法打开，已记录到服务器日志。请联系管理员。",
                  "en": "The data cannot be opened; details are in the server log. Tell the "
                        "administrator."},
    "err_bad_data_param": {"zh": "找不到网址中指定的数据集（?data=…）。请检查链接。",
                           "en": "The data set named in the address (?data=…) does not exist. "
                                 "Check the link."},
    "data_refused": {"zh": "发现 {n} 个问题：文件不会写入，请修改后重新上传。",
                     "en": "{n} problem(s): the file will not be written; fix and re-upload."},
    "data_ok": {"zh": "检查通过，共 {n} 行。", "en": "All good: {n} rows."},
    "data_confirm": {"zh": "确认导入", "en": "Import"},
    "data_rows_in_file": {"zh": "文件中的 {n} 行（灰色为现有数据，蓝色为本文件）",
                          "en": "{n} rows in the file (grey: current layer, blue: this file)"},
    "data_done": {"zh": "已写入图层 {layer}，共 {n} 行。", "en": "Layer {layer} now has {n} rows."},
    # -- wall screen
    "nav_wall": {"zh": "大屏", "en": "Wall screen"},
    "page_wall": {"zh": "指挥大屏", "en": "Wall screen"},
    "wall_title": {"zh": "网格化治理指挥大屏", "en": "Grid governance wall screen"},
    "wall_open": {"zh": "未办结工单", "en": "Open tickets"},
    "wall_new_today": {"zh": "今日新增", "en": "New today"},
    "wall_closed_today": {"zh": "今日办结", "en": "Closed today"},
    "wall_overdue": {"zh": "超期工单", "en": "Overdue"},
    "wall_closure_month": {"zh": "本月结案率", "en": "Closure rate (month)"},
    "wall_on_time_month": {"zh": "本月按期结案率", "en": "On-time rate (month)"},
    "wall_per_day": {"zh": "近30天工单", "en": "Tickets, last 30 days"},
    "wall_by_category": {"zh": "近30天按类别", "en": "By category, 30 days"},
    "wall_ranking": {"zh": "各社区本月按期结案率", "en": "On-time rate by community (month)"},
    "wall_alerts": {"zh": "预警", "en": "Alerts"},
    "wall_lost_sentinel": {"zh": "哨兵离岗，网格无人负责", "en": "lost its sentinel"},
    "wall_days_over": {"zh": "超期天数", "en": "days over"},
    "wall_no_alerts": {"zh": "暂无预警", "en": "No alerts"},
    "wall_showing": {"zh": "当前显示：", "en": "Showing:"},
    "wall_elder_500": {"zh": "500米养老覆盖", "en": "Elder care ≤ 500 m"},
    "kpi_by_community_code": {"zh": "社区/村", "en": "Community"},
    "kpi_by_grid_code": {"zh": "网格", "en": "Grid"},
    "kind": {"zh": "类型", "en": "Kind"},
    "tk_id": {"zh": "工单号", "en": "Ticket"},
    "tk_category": {"zh": "类别", "en": "Category"},
    "tk_status": {"zh": "状态", "en": "Status"},
    "tk_created_at": {"zh": "受理时间", "en": "Received"},
    "tk_deadline": {"zh": "办理时限", "en": "Deadline"},
    "tk_text": {"zh": "内容", "en": "Text"},
    "tk_overdue": {"zh": "超期", "en": "Overdue"},
    # -- people and assignments (人员管理 page, the detail panel's 责任人调整, 补位 on coverage)
    "page_people": {"zh": "人员管理", "en": "People"},
    "operator": {"zh": "操作人", "en": "Operator"},
    "operator_help": {"zh": "记入变更记录（登录功能上线前请手动填写）",
                      "en": "Written into the change history (typed by hand until login "
                            "arrives)"},
    "ppl_search": {"zh": "搜索姓名、人员编号或电话尾号", "en": "Search name, person id or the "
                                                             "phone's last digits"},
    "ppl_role_filter": {"zh": "职责", "en": "Duty"},
    "ppl_role_any": {"zh": "全部", "en": "All"},
    "ppl_role_none": {"zh": "无职责", "en": "No duty"},
    "ppl_party_filter": {"zh": "党员", "en": "Party member"},
    "ppl_assigned_filter": {"zh": "是否已分配", "en": "Assigned"},
    "ppl_left_filter": {"zh": "在岗/离岗", "en": "Present or left"},
    "ppl_all": {"zh": "全部", "en": "All"},
    "ppl_yes": {"zh": "是", "en": "Yes"},
    "ppl_no": {"zh": "否", "en": "No"},
    "ppl_present": {"zh": "在岗", "en": "Present"},
    "ppl_gone": {"zh": "已离岗/迁出", "en": "Left"},
    "ppl_count": {"zh": "共 {n} 人（全部 {total} 人）", "en": "{n} people (of {total})"},
    "ppl_capped": {"zh": "只列出前 {n} 人，请缩小搜索范围。", "en": "Only the first {n} are "
                                                              "listed; narrow the search."},
    "ppl_name": {"zh": "姓名", "en": "Name"},
    "ppl_phone": {"zh": "电话", "en": "Phone"},
    "ppl_party": {"zh": "党员", "en": "Party member"},
    "ppl_home": {"zh": "住址楼栋", "en": "Home building"},
    "ppl_home_community": {"zh": "住址所在社区/村", "en": "Home community"},
    "ppl_home_none": {"zh": "（未填写）", "en": "(none)"},
    "ppl_roles": {"zh": "职责", "en": "Duties"},
    "ppl_load": {"zh": "已负责", "en": "Duties held"},
    "ppl_left_on": {"zh": "离岗日期", "en": "Left on"},
    "ppl_add": {"zh": "新增人员", "en": "Add a person"},
    "ppl_add_submit": {"zh": "添加", "en": "Add"},
    "ppl_added": {"zh": "已添加：{name}（{id}）", "en": "Added: {name} ({id})"},
    "ppl_name_required": {"zh": "请填写姓名。", "en": "Enter a name."},
    "ppl_pick_hint_read": {"zh": "在表格中勾选一人，查看其职责。",
                           "en": "Tick a person in the table to see their duties."},
    "ppl_pick_hint": {"zh": "在表格中勾选一人，即可编辑或标记离岗/迁出。",
                      "en": "Tick a person in the table to edit them or mark them as left."},
    "ppl_edit": {"zh": "编辑", "en": "Edit"},
    "ppl_save": {"zh": "保存", "en": "Save"},
    "ppl_saved": {"zh": "已保存。", "en": "Saved."},
    "ppl_unchanged": {"zh": "没有修改。", "en": "Nothing was changed."},
    "ppl_conflict": {"zh": "已被他人修改，当前：{now}。未作任何更改。",
                     "en": "Someone else has changed this person; now: {now}. Nothing was "
                           "changed."},
    "ppl_leave": {"zh": "离岗/迁出", "en": "Leaving"},
    "ppl_leave_date": {"zh": "离岗/迁出日期", "en": "Date"},
    "ppl_leave_reason": {"zh": "原因", "en": "Reason"},
    "ppl_leave_button": {"zh": "标记为离岗/迁出…", "en": "Mark as left…"},
    "ppl_leave_confirm": {"zh": "确认将 {name} 标记为离岗/迁出（{date}）？其 {n} 项职责将同时解除。",
                          "en": "Mark {name} as left on {date}? Their {n} duties end with it."},
    "ppl_left_done": {"zh": "已标记离岗/迁出，解除 {n} 项职责。",
                      "en": "Marked as left; {n} duties ended."},
    "ppl_already_left": {"zh": "已于 {date} 离岗/迁出", "en": "Left on {date}"},
    "ppl_duties": {"zh": "当前职责", "en": "Current duties"},
    "ppl_no_duties": {"zh": "当前没有职责", "en": "No duties at present"},
    "confirm": {"zh": "确认", "en": "Confirm"},
    "cancel": {"zh": "取消", "en": "Cancel"},
    "asg_title": {"zh": "责任人调整", "en": "Change who is responsible"},
    "asg_find": {"zh": "按姓名或编号查找（留空：按距离推荐）",
                 "en": "Find by name or id (blank: nearest first)"},
    "asg_pick": {"zh": "人员（未分配的党员在前，按距离排序）",
                 "en": "Person (unassigned party members first, nearest first)"},
    "asg_option": {"zh": "{name} · {distance} m · 已负责 {load}",
                   "en": "{name} · {distance} m · {load} duties"},
    "asg_not_party": {"zh": "非党员", "en": "not a party member"},
    "asg_no_candidates": {"zh": "没有可选的人员", "en": "Nobody to choose"},
    "asg_assign_sentinel": {"zh": "指派哨兵", "en": "Assign sentinel"},
    "asg_assign_member": {"zh": "指派楼栋党员", "en": "Assign member"},
    "asg_replace": {"zh": "更换", "en": "Replace"},
    "asg_unassign": {"zh": "解除", "en": "Remove"},
    "asg_unassign_pick": {"zh": "解除的人员", "en": "Remove whom"},
    "asg_done_assign": {"zh": "已指派：{name}", "en": "Assigned: {name}"},
    "asg_done_replace": {"zh": "已更换为：{name}", "en": "Replaced by: {name}"},
    "asg_done_unassign": {"zh": "已解除：{name}", "en": "Removed: {name}"},
    "asg_conflict": {"zh": "已被他人修改，当前{role}：{now}。未作任何更改。",
                     "en": "Someone else changed this meanwhile; {role} now: {now}. Nothing "
                           "was changed."},
    "asg_nobody": {"zh": "无", "en": "nobody"},
    "hist_title": {"zh": "变更记录", "en": "Change history"},
    "hist_empty": {"zh": "暂无变更记录", "en": "No changes recorded"},
    "hist_when": {"zh": "时间", "en": "When"},
    "hist_by": {"zh": "操作人", "en": "By"},
    "hist_action": {"zh": "操作", "en": "Action"},
    "hist_person": {"zh": "人员", "en": "Person"},
    "hist_target": {"zh": "对象", "en": "Grid/building"},
    "hist_before": {"zh": "变更前", "en": "Before"},
    "hist_after": {"zh": "变更后", "en": "After"},
    "hist_source": {"zh": "来源", "en": "Source"},
    "cov_fill": {"zh": "补位：为无哨兵网格指派就近的未分配党员",
                 "en": "Fill the gaps: nearby unassigned party members for grids without a "
                       "sentinel"},
    "cov_fill_none": {"zh": "没有需要补位的网格，或附近没有未分配的党员。",
                      "en": "No grid needs filling, or no unassigned party member lives near."},
    "cov_fill_community": {"zh": "社区/村", "en": "Community"},
    "cov_fill_grids": {"zh": "{n} 个网格", "en": "{n} grids"},
    "cov_candidate": {"zh": "建议人员", "en": "Suggested"},
    "cov_accept": {"zh": "采纳", "en": "Accept"},
    "cov_accepted": {"zh": "已指派 {name} 为网格 {grid} 的哨兵。",
                     "en": "{name} is now the sentinel of grid {grid}."},
    "cov_fill_all": {"zh": "一键补位…", "en": "Fill all…"},
    "cov_fill_confirm": {"zh": "将按下列建议为 {community} 的 {n} 个网格指派哨兵（一人只补一个网格；"
                               "同一人同为几个网格的首选时，较近的网格用他，其余用次选），确认？",
                         "en": "Assign sentinels to {n} grids of {community} as listed (one "
                               "grid per person; where one person comes first for several "
                               "grids, the nearest gets them and the others their next "
                               "suggestion)?"},
    "cov_fill_done": {"zh": "已补位 {n} 个网格。", "en": "{n} grids filled."},
    "cov_more": {"zh": "另有 {n} 个网格未列出", "en": "{n} more grids not listed"},
    "cov_grid_households": {"zh": "{n} 户", "en": "{n} households"},
    "ppl_home_required": {"zh": "请选择住址楼栋（人员需要在地图上有住址）。",
                          "en": "Choose the home building (everyone has a home on the map)."},
    "reg_refused": {"zh": "未作任何更改：{msg}", "en": "Nothing was changed: {msg}"},
    "hist_role": {"zh": "职责", "en": "Duty"},
    "hist_reason": {"zh": "原因", "en": "Reason"},
    "reg_action_person_add": {"zh": "新增人员", "en": "Person added"},
    "reg_action_person_edit": {"zh": "修改人员信息", "en": "Person edited"},
    "reg_action_person_leave": {"zh": "离岗/迁出", "en": "Left"},
    "reg_action_assign": {"zh": "指派", "en": "Assigned"},
    "reg_action_assignment_end": {"zh": "解除", "en": "Ended"},
    "reg_source_cli": {"zh": "命令行", "en": "Command line"},
    "reg_source_page:map": {"zh": "地图总览", "en": "Map overview"},
    "reg_source_page:people": {"zh": "人员管理", "en": "People"},
    "reg_source_page:coverage": {"zh": "覆盖分析", "en": "Coverage"},
    "hist_field_active": {"zh": "有效", "en": "active"},
    "hist_field_since": {"zh": "自", "en": "since"},
    "hist_field_until": {"zh": "至", "en": "until"},
    "hist_field_replaces": {"zh": "替换", "en": "replaces"},
    "hist_field_left_on": {"zh": "离岗日期", "en": "left on"},
    "hist_field_name": {"zh": "姓名", "en": "name"},
    "hist_field_phone": {"zh": "电话", "en": "phone"},
    "hist_field_is_party_member": {"zh": "党员", "en": "party member"},
    "hist_field_home_building_code": {"zh": "住址楼栋", "en": "home building"},
    "hist_personal": {"zh": "（个人信息，不记录）", "en": "(personal, not logged)"},
}

#: Enumeration labels of the layer contract come from the library's one catalogue
#: (:mod:`layers.labels`): ``kind_<code>`` for care, parking, road and community kinds,
#: ``renovation_<code>``, ``status_t_<code>`` and the roles under their own code.
_KINDS = {lab.code: (lab.zh, lab.en)
          for name in ("care_kind", "parking_kind", "road_kind", "community_kind")
          for lab in ENUMERATIONS[name]}
_ROLES = {lab.code: (lab.zh, lab.en) for lab in ENUMERATIONS["role"]}
_CATEGORIES = {
    "dispute": ("矛盾纠纷", "Neighbour dispute"),
    "sanitation": ("环境卫生", "Sanitation"),
    "facility_repair": ("设施维修", "Repairs"),
    "parking_order": ("停车秩序", "Parking order"),
    "cooking_fumes": ("油烟扰民", "Cooking fumes"),
    "group_rental_fire": ("群租与消防安全", "Group rental / fire safety"),
    "elevator_retrofit": ("加装电梯", "Elevator retrofit"),
    "tree_trimming": ("树木修剪", "Tree trimming"),
    "employment": ("就业服务", "Employment"),
    "power_supply": ("供电用电", "Power supply"),
    "elderly_child_care": ("一老一小服务", "Elder and child care"),
    "other": ("其他", "Other"),
}
_TICKET_STATUSES = {lab.code: (lab.zh, lab.en) for lab in ENUMERATIONS["ticket_status"]}
#: Ticket moves, keyed ``move_{source}_{target}`` (see ``layers.tickets.workflow.MOVES``).
_MOVES = {
    "received_registered": ("立案", "Register"),
    "received_closed_unresolved": ("不予立案", "Reject"),
    "registered_dispatched": ("派遣", "Dispatch"),
    "dispatched_in_progress": ("开始处置", "Start handling"),
    "dispatched_returned": ("退回", "Return"),
    "in_progress_handled": ("处置反馈", "Report done"),
    "handled_verified": ("核查通过", "Verify"),
    "handled_returned": ("核查不通过，退回", "Fail verification, return"),
    "returned_dispatched": ("重新派遣", "Re-dispatch"),
    "returned_in_progress": ("重新处置", "Restart"),
    "verified_closed": ("结案", "Close"),
    "verified_closed_unresolved": ("结案（未解决）", "Close (unresolved)"),
    "in_progress_closed_unresolved": ("结案（未解决）", "Close (unresolved)"),
}
_RENOVATION = {lab.code: (lab.zh, lab.en) for lab in ENUMERATIONS["renovation"]}

#: Account roles (``layers.auth.ACCOUNT_ROLES``) and the login gate.
_ACCOUNT_ROLES = {
    "admin": ("街道管理员", "Street-office administrator"),
    "community": ("社区工作者", "Community staff"),
    "sentinel": ("网格哨兵", "Grid sentinel"),
    "planner": ("规划", "Planner"),
    "leader": ("领导", "Leader"),
    "kiosk": ("大屏", "Wall screen (kiosk)"),
}
MESSAGES.update({
    "auth_login_title": {"zh": "登录", "en": "Log in"},
    "auth_user": {"zh": "用户名", "en": "Username"},
    "auth_password": {"zh": "密码", "en": "Password"},
    "auth_login": {"zh": "登录", "en": "Log in"},
    "auth_logout": {"zh": "退出登录", "en": "Log out"},
    "auth_oidc": {"zh": "使用单位统一身份登录", "en": "Log in with the organisation's account"},
    "auth_failed": {"zh": "用户名或密码不正确。", "en": "Wrong username or password."},
    "auth_locked": {"zh": "连续登录失败次数过多，账号已临时锁定，请 {minutes} 分钟后再试。",
                    "en": "Too many failed logins: the account is locked for {minutes} "
                          "minutes."},
    "auth_expired": {"zh": "登录已过期，请重新登录。",
                     "en": "Your login has expired; please log in again."},
    "auth_bad_token": {"zh": "大屏链接无效或已被撤销，请向街道管理员索取新链接。",
                       "en": "This wall-screen link is invalid or revoked; ask the "
                             "administrator for a new one."},
    "auth_no_accounts": {"zh": "此辖区数据尚未设置账号。为保护个人信息，创建第一个街道管理员账号后才能查看。",
                         "en": "This store has no accounts yet. To protect personal data, "
                               "it is shown only after the first administrator account "
                               "is created."},
    "auth_no_accounts_help": {"zh": "在服务器上运行上面的命令（PASSWORD.txt 第一行为密码，至少 8 位），"
                                    "然后刷新本页。",
                              "en": "Run the command above on the server (the first line of "
                                    "PASSWORD.txt is the password, 8 characters or more), "
                                    "then reload this page."},
    "auth_demo_open": {"zh": "演示模式：示例数据无需登录。", "en": "Demo mode: the sample data "
                       "needs no login."},
    "auth_denied": {"zh": "您的账号无权执行此操作或不在您的负责范围内。",
                    "en": "Your account may not do this, or it is outside your area."},
    "auth_page_denied": {"zh": "您的账号无权查看此页面。",
                         "en": "Your account may not open this page."},
    "auth_out_of_scope": {"zh": "所选对象不在您的负责范围内。",
                          "en": "The selected place is outside your area."},
    "reveal_phone": {"zh": "显示完整电话", "en": "Show full phone number"},
    "reveal_phone_help": {"zh": "查看完整电话号码会记入审计日志。",
                          "en": "Viewing a full phone number is recorded in the audit log."},
    "people_count_by_role": {"zh": "{role} {n} 人", "en": "{role}: {n}"},
    "hidden_text": {"zh": "（已隐藏）", "en": "(hidden)"},
    "data_tab_import": {"zh": "导入图层", "en": "Import a layer"},
    "data_tab_new": {"zh": "新建辖区", "en": "New area"},
    "new_hint": {"zh": "上传 OpenStreetMap 数据（.osm / .osm.bz2），可再上传社区边界文件；系统生成社区、网格、"
                       "楼栋、道路、服务点与停车场，先预览再确认创建。",
                 "en": "Upload an OpenStreetMap extract (.osm / .osm.bz2) and, optionally, a "
                       "communities boundary file: communities, grids, buildings, roads, care "
                       "points and parking are proposed for you to check before the store is "
                       "created."},
    "new_town_name": {"zh": "街道/镇名称", "en": "Town / street office name"},
    "new_per_grid": {"zh": "每个网格目标户数", "en": "Target households per grid"},
    "new_crs": {"zh": "边界文件坐标系（无 .prj 时）", "en": "Boundary file CRS (when it has no .prj)"},
    "new_osm": {"zh": "OpenStreetMap 数据", "en": "OpenStreetMap extract"},
    "new_communities": {"zh": "社区边界文件（可选）", "en": "Communities boundary file (optional)"},
    "new_fictional": {"zh": "生成虚构的人员与工单（仅用于演示，标明为示例数据）",
                      "en": "Add fictional people and tickets (for demonstrations; labelled "
                            "as sample data)"},
    "new_preview": {"zh": "生成预览", "en": "Preview"},
    "new_building": {"zh": "正在生成社区与网格…", "en": "Making communities and grids…"},
    "new_proposed": {"zh": "拟建的社区（灰）与网格（蓝）", "en": "Proposed communities (grey) and grids (blue)"},
    "new_store_name": {"zh": "新数据库名称", "en": "Name of the new store"},
    "new_store_name_help": {"zh": "字母、数字、汉字、- _ .；打开方式：网址加 ?data=名称",
                            "en": "Letters, digits, Chinese characters, - _ . ; open it "
                                  "with ?data=NAME"},
    "new_confirm": {"zh": "确认创建", "en": "Create"},
    "new_bad_name": {"zh": "名称只能包含字母、数字、汉字和 - _ .，且不能以 . 开头。",
                     "en": "A name has letters, digits, Chinese characters, - _ . only, and "
                           "does not start with a dot."},
    "new_exists": {"zh": "已有名为 {name} 的数据库，请换一个名称。",
                   "en": "A store named {name} exists already; choose another name."},
    "new_done": {"zh": "已创建辖区数据库 {name}。", "en": "Created the store {name}."},
    "new_open": {"zh": "打开新辖区", "en": "Open the new area"},
    "page_audit": {"zh": "审计", "en": "Audit"},
    "ticket_not_yours": {"zh": "此环节由社区或街道办理，您的账号不能操作。",
                         "en": "This step is for community or street-office staff; your "
                               "account cannot make it."},
    "audit_count": {"zh": "共 {n} 条记录", "en": "{n} entries"},
    "audit_at": {"zh": "时间", "en": "Time"},
    "audit_user": {"zh": "用户", "en": "User"},
    "audit_action": {"zh": "操作", "en": "Action"},
    "audit_target": {"zh": "对象", "en": "Target"},
    "audit_detail": {"zh": "详情", "en": "Detail"},
    "audit_source": {"zh": "来源", "en": "Source"},
    "audit_since": {"zh": "起始日期", "en": "Since"},
    "audit_accounts": {"zh": "账号", "en": "Accounts"},
    "audit_download": {"zh": "下载审计日志（CSV）", "en": "Download the audit log (CSV)"},
    "audit_accounts_help": {"zh": "账号在服务器上用 python -m layers users add / disable 创建和停用。",
                            "en": "Accounts are created and disabled on the server with "
                                  "python -m layers users add / disable."},
})

for _prefix, _table in (("kind_", _KINDS), ("cat_", _CATEGORIES),
                        ("status_t_", _TICKET_STATUSES), ("renovation_", _RENOVATION),
                        ("move_", _MOVES), ("role_", _ACCOUNT_ROLES), ("", _ROLES)):
    for _k, (_zh, _en) in _table.items():
        MESSAGES[_prefix + _k] = {"zh": _zh, "en": _en}


def t(key: str, lang: str = "zh") -> str:
    """The message ``key`` in ``lang`` (falls back to Chinese, then to the key itself)."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["zh"]
