"""Fictional Chinese names and texts for the demo data (private).

Every generator takes a :class:`numpy.random.Generator` first and is deterministic for a given
generator state. Results are numpy arrays of Python ``str`` (``dtype=object``). All work is
vectorised over the generated items; Python loops only run over the small fixed catalogues
below (a category, a template, a slot).

The names look like real ones to Chinese readers (common surnames with realistic weights,
auspicious two-character compound prefixes, Chongqing-flavoured village and town names) but
are combined at random: the data is labelled 示例数据，非真实 wherever it is shown.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from types import MappingProxyType

import numpy as np

from ..tickets.catalogue import DEFAULT_CATEGORIES

__all__ = [
    "CARE_POINT_KINDS",
    "PARKING_KINDS",
    "TICKET_CATEGORIES",
    "TICKET_TEMPLATES",
    "care_point_names",
    "community_names",
    "compound_names",
    "parking_names",
    "person_names",
    "phones",
    "street_names",
    "ticket_texts",
    "town_names",
]

Slot = Callable[[np.random.Generator, int], np.ndarray]


def _words(text: str) -> tuple[str, ...]:
    """Split a space-separated catalogue string into words."""
    return tuple(text.split())


# --------------------------------------------------------------------------------------------
# Catalogues
# --------------------------------------------------------------------------------------------

# ~110 most common single-character surnames with approximate per-mille frequencies (national
# rankings, nudged towards Chongqing: 陈 李 谭 冉 向 秦 熊 罗 唐 何 彭 牟 are more common there).
_SURNAME_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("王", 70), ("李", 74), ("张", 66), ("刘", 55), ("陈", 62), ("杨", 40), ("黄", 24),
    ("赵", 19), ("吴", 20), ("周", 22), ("徐", 16), ("孙", 11), ("马", 11), ("朱", 13),
    ("胡", 15), ("郭", 10), ("何", 16), ("林", 8), ("高", 10), ("罗", 17), ("郑", 9),
    ("梁", 10), ("谢", 11), ("宋", 8), ("唐", 15), ("许", 7), ("韩", 6), ("邓", 13),
    ("冯", 8), ("曹", 7), ("彭", 12), ("曾", 11), ("肖", 10), ("田", 9), ("董", 6),
    ("潘", 5), ("袁", 8), ("蔡", 5), ("蒋", 9), ("余", 9), ("于", 3), ("杜", 7), ("叶", 5),
    ("程", 5), ("魏", 5), ("苏", 5), ("吕", 4), ("丁", 4), ("任", 6), ("卢", 4), ("姚", 4),
    ("沈", 3), ("钟", 5), ("姜", 3), ("崔", 3), ("谭", 13), ("陆", 3), ("范", 4), ("汪", 4),
    ("廖", 6), ("石", 5), ("金", 2), ("韦", 2), ("贾", 3), ("夏", 4), ("付", 5), ("方", 3),
    ("邹", 5), ("熊", 8), ("白", 3), ("孟", 2), ("秦", 6), ("邱", 3), ("侯", 3), ("江", 3),
    ("尹", 3), ("薛", 2), ("闫", 2), ("段", 3), ("雷", 4), ("龙", 4), ("黎", 3), ("史", 2),
    ("陶", 3), ("贺", 3), ("毛", 3), ("郝", 2), ("顾", 2), ("龚", 4), ("邵", 2), ("万", 3),
    ("覃", 2), ("武", 2), ("钱", 2), ("戴", 2), ("严", 2), ("莫", 2), ("孔", 2), ("向", 6),
    ("常", 2), ("汤", 2), ("康", 2), ("易", 3), ("乔", 1), ("赖", 2), ("文", 3), ("冉", 6),
    ("牟", 3), ("左", 1),
)

_GIVEN_MALE = (
    "伟强磊军勇杰涛斌超明刚平辉鹏飞鑫波宇浩凯健俊帆帅旭龙阳国峰亮成志永海东兵博坤川松德洪毅"
    "瑞豪航轩泽睿锐鸿庆彬翔钧林武"
)
_GIVEN_FEMALE = (
    "芳娜敏静丽艳娟霞秀玲燕婷红琴莲雪梅琳慧颖倩洁兰萍莉丹琼蓉璐欣怡雯悦思涵晶瑶薇露婧妍茜蕾菲"
    "娅婉姝琪"
)
_GIVEN_NEUTRAL = "文华英春晓玉建新嘉安子雨然清欢乐佳月云宁晨"

_PHONE_PREFIXES = np.array(
    [*range(130, 140), *range(150, 154), *range(155, 160), 166, 173, 177, *range(180, 190), 199],
    dtype=np.int64,
)

# Auspicious / place characters for compound (小区) prefixes, combined pairwise.
_COMPOUND_CHARS = (
    "龙台旺瑞虎溪金凤科嘉和锦绣华新富贵祥福康宁安泰丰盛兴隆鑫鸿腾翔凯悦欣怡雅馨蓝天碧水翠竹松柏"
    "桂兰梅荷枫景丽阳光明晨星云海江湖山峰岭湾滨城邦汇聚融恒润泽源清宏远博文德仁信乐春秋东南西北"
    "中正平昌荣达通顺利美佳逸朗晴彩虹霞玉珠宝银鼎盈紫青桃樱杏梧桐柳林森石桥渝巴蜀"
)
# Characters that read well first / second in a compound prefix; their pairs are preferred.
_COMPOUND_FIRST = (
    "龙金凤嘉锦华新富祥福康泰丰盛兴鑫鸿凯悦欣怡雅碧翠桂兰景丽阳明晨星云海江湖山滨恒润"
    "宏博文德春东南西北中正昌荣美佳逸朗彩玉紫青渝巴蜀天蓝水"
)
_COMPOUND_SECOND = (
    "台瑞溪凤和绣华城安泰丰盛兴隆鑫鸿腾翔悦怡馨天水竹松柏桂兰梅荷枫景光明晨星月海江湖"
    "山峰岭湾滨邦汇源泽都"
)
_COMPOUND_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("小区", 3.0), ("花园", 2.0), ("家园", 1.5), ("新村", 1.0), ("公寓", 0.8), ("佳苑", 0.8),
    ("苑", 0.8), ("华庭", 0.6), ("雅居", 0.5), ("名都", 0.5), ("嘉园", 0.5), ("花苑", 0.5),
    ("名苑", 0.4), ("新城", 0.4),
)
_PHASES = ("一期", "二期", "三期", "四期", "五期", "六期", "七期", "八期", "九期")

# Community (社区) stems: common real-word stems, first × second character pairs (龙台),
# pair + place character (新山村, 石油路) and surname + 家 + place character (杨家坪).
_URBAN_WORDS = _words(
    "龙台 凤凰 虎峰 虎溪 和平 幸福 团结 胜利 光明 建设 民主 新华 东风 红旗 人民 解放 友谊 朝阳 "
    "向阳 新民 文化 桂花 石桥 滨江 学府 科城 金凤 龙湖 翠湖 锦绣 康居 嘉和 兴隆 春晖 枫林 "
    "桃源 新桥 长安 大坪 民安 景苑 馨园 金山 双碑 石坪 新山村 石油路 电力 化龙 杨家坪 大学城"
)
_URBAN_FIRST = (
    "龙凤虎金银新和光民红东西南北文桂石滨学科翠锦康嘉兴春枫桃长大景馨双宝泰祥瑞华安平"
    "富永天青白松玉明清丰盛万福碧荣恒汇通德鸿海江渝巴"
)
_URBAN_SECOND = (
    "台凰峰溪平福明华风阳花桥江府城湖绣居和隆晖林源安坪苑园碑山泰祥瑞兴康湾宁乐丰新岭"
    "洲港庭庆光晨星月竹松柏"
)
_URBAN_TAILS = "路街园湖坪湾桥村坝"
_URBAN_JIA_TAILS = "坪湾桥院坝巷"
_VILLAGE_WORDS = _words(
    "农安 白林 石龙 高峰 大湾 金星 红星 双河 三合 五一 龙泉 青杠 黄桷 柏林 新农 复兴 永丰 "
    "长河 田坝 桂湾 水口 石院 团山 新店 共和 太和 民乐 白鹤 马鞍 狮子 凉水 白沙 清平 观音 "
    "黄泥 中河 石板 杨柳 走马 龙凤 虎峰山 黄桷垭 石门坎 鹿角 青龙 回龙 土主 大石 红岩"
)
_VILLAGE_FIRST = (
    "石高大小金红双三五龙青黄白新永长桂水团太民马凉清中杨虎鹿回竹松花茶梨桃柏凤狮鹤安"
    "丰兴平和福柳梅兰老上下东西南北"
)
_VILLAGE_SECOND = "林龙峰星河泉安丰兴平和田石花竹桂松柏凤鹤马门庙堰观院阳光明合杠柳梅云水槽井店"
_VILLAGE_TAILS = "山湾坝沟坪岭溪桥塘垭岩坡口寨岗堡"

# Town (镇/街道) stems: real-looking words, surname + 家 (曾家镇), village-style pairs and
# pair + place character (白市驿, 青木关).
_TOWN_WORDS = _words(
    "曾家 含谷 金凤 白市驿 走马 西彭 歇马 虎溪 西永 香炉山 青木关 凤鸣山 石桥铺 陶家 "
    "铜罐驿 巴福 丰文 石板 双凤 来凤 龙凤桥 太和 河边 三合 龙泉 古楼 石滩 广兴 龙水 高坪"
)
_TOWN_TAILS = "坝场桥山溪湾坪驿关口铺"

# Street (路/街/大道) stems and suffixes.
_STREET_WORDS = _words(
    "人民 解放 中山 建设 和平 新华 胜利 文化 学府 科城 虎溪 大学城 滨江 沿江 环湖 工业 商业 "
    "体育 站前 公园 健康 民主 团结 五一 红旗 东风 光明 长江 嘉陵 北城 南城 西城 东城 龙台 "
    "金凤 凤凰 科园 高新 创业 育才 青年 未来 迎宾 学院 园区 滨河 龙湖"
)
_STREET_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("路", 4.5), ("街", 1.5), ("大道", 1.0), ("东路", 0.4), ("西路", 0.4), ("南路", 0.4),
    ("北路", 0.4), ("中路", 0.3), ("一路", 0.3), ("二路", 0.3), ("三路", 0.2), ("支路", 0.2),
    ("正街", 0.2), ("横街", 0.15), ("大街", 0.15),
)

CARE_POINT_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "elder_day_care": ("{place}社区养老服务中心", "{place}日间照料中心"),
    "elder_station": ("{place}养老服务站",),
    "elder_canteen": ("{place}老年食堂", "{place}长者食堂"),
    "nursery": ("{place}托育园", "{place}婴幼儿照护中心"),
    "kindergarten": ("{place}幼儿园",),
    "after_school": ("{place}课后托管中心", "{place}四点半课堂"),
})
"""Care-point kind code → name templates (``{place}`` is a community stem such as 龙台)."""

PARKING_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "lot": ("{place}停车场",),
    "street": ("{place}路边停车位",),
    "shared_staggered": ("{place}错时共享停车场",),
    "converted_wasteland": ("{place}荒改停停车场",),
})
"""Parking kind code → name templates."""

TICKET_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {c.code: c.name for c in DEFAULT_CATEGORIES})
"""Ticket (工单) category code → Chinese name, in display order (the ticket catalogue's)."""

TICKET_TEMPLATES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "dispute": (
        "{place}楼上住户长期深夜噪音，邻里多次协商未果，请求社区调解",
        "{place}{room}室空调外机正对邻居窗户，双方发生争执，希望网格员上门协调",
        "{place}有住户在楼道堆放杂物占用公共通道，邻居之间产生矛盾",
        "{place}两户因房屋漏水赔偿问题发生纠纷，已持续{months}个月，请求调解",
        "{place}住户在公共绿地私自种菜，其他居民意见很大，请社区处理",
        "{place}有住户饲养大型犬不拴绳，多次惊吓老人小孩，邻里矛盾激化",
        "{place}业主与物业因物业费问题争议较大，希望社区组织协商",
    ),
    "sanitation": (
        "{place}垃圾桶满溢{days}天未清运，气味很大",
        "{place}旁边化粪池堵塞，污水漫到路面，臭味严重，请尽快疏通",
        "{place}楼道内小广告乱贴乱画，墙面很脏，希望组织清理",
        "{place}附近有人乱倒建筑垃圾，已经堆了{days}天无人处理",
        "{place}门口下水道井盖破损，污水外溢，蚊虫很多",
        "{place}背后空地杂草丛生、积水发臭，夏天蚊子特别多，请求清理",
        "{place}垃圾分类投放点无人值守，分类混乱，建议安排督导员",
    ),
    "facility_repair": (
        "{place}楼顶防水层破损，雨天{floor}楼漏水严重，墙面发霉",
        "{place}{unit}单元楼道灯坏了半个多月，晚上上下楼很不安全",
        "{place}门口人行道地砖破损松动，已有老人摔倒，请尽快维修",
        "{place}{unit}单元门禁损坏，外来人员随意进出，存在安全隐患",
        "{place}外墙瓷砖有脱落现象，楼下是通道，担心砸伤行人",
        "{place}附近有{count}盏路灯不亮，晚上出行很不方便",
        "{place}雨污管道破裂，污水渗进负一楼车库，请安排维修",
    ),
    "parking_order": (
        "{place}门口消防通道长期被私家车占用，消防车进不来",
        "{place}附近车辆乱停乱放，早晚高峰堵得出不去，希望规范管理",
        "{place}有{count}辆僵尸车长期停放占用车位，请协调清理",
        "{place}停车位严重不足，晚上回家找不到地方停车，建议增设错时共享车位",
        "{place}外来车辆占用小区车位，业主车位经常被占，请加强管理",
        "{place}门口非机动车乱停乱放，堵塞盲道和人行道",
        "{place}旁边闲置荒地能否改建为停车场，缓解停车难问题",
    ),
    "cooking_fumes": (
        "{place}楼下{shop}油烟直排，楼上住户不敢开窗",
        "{place}临街{shop}未安装油烟净化器，油烟熏黑外墙，气味刺鼻",
        "{place}底商{shop}营业到凌晨{hour}点，油烟和噪音影响休息",
        "{place}附近夜宵{shop}占道经营，油烟很大，垃圾遍地",
        "{place}旁{shop}排烟管道正对居民窗户，多次反映仍未整改",
        "{place}一楼住户改做餐饮，油烟和噪声扰民，请相关部门核查",
    ),
    "group_rental_fire": (
        "{place}{room}室疑似群租，住了十几个人，进出频繁存在安全隐患",
        "{place}有居民在楼道给电动车充电，飞线充电现象严重，消防隐患大",
        "{place}消防栓没有水，灭火器已过期，请检查更换",
        "{place}{room}室被隔成多个小间出租，私拉电线，担心发生火灾",
        "{place}楼道堆满纸箱杂物，堵塞安全出口，存在消防隐患",
        "{place}地下车库消防通道被杂物占用，应急照明也坏了",
        "{place}有住户把房子租给多人居住，人员流动大，请核查登记",
    ),
    "elevator_retrofit": (
        "{place}居民申请加装电梯，{households}户已签字同意",
        "{place}老年住户多，{age}岁老人上下楼困难，希望尽快加装电梯",
        "{place}加装电梯低层住户不同意，担心采光和噪音，请求社区协调",
        "{place}加装电梯费用分摊有分歧，希望网格员组织居民议事会",
        "{place}加装电梯已开工{months}个月进度缓慢，请协调施工方加快",
        "{place}居民想了解加装电梯的政府补贴政策和申请流程",
        "{place}加装电梯施工占用通道，出行不便，希望设置临时通道",
    ),
    "tree_trimming": (
        "{place}楼前{tree}遮挡采光，低楼层白天也要开灯，申请修剪",
        "{place}旁{tree}枝干过长碰到电线，大风天存在安全隐患",
        "{place}{tree}树枝伸进{floor}楼窗户，虫子很多，希望修剪",
        "{place}门口一棵{tree}树干倾斜，担心雨天倒伏砸到行人车辆",
        "{place}绿化带长期无人修剪，杂草灌木遮挡路口视线",
        "{place}{tree}落叶堵塞排水沟，下雨积水，请安排修剪清理",
    ),
    "employment": (
        "{place}居民失业{months}个月，想找{job}方面的工作，请求帮忙推荐",
        "{place}有下岗职工希望参加{job}技能培训，咨询报名方式",
        "{place}大学生毕业后待业在家，咨询社区有没有就业见习岗位",
        "{place}一位{mid_age}岁居民想找{job}工作，希望社区帮忙推荐",
        "{place}残疾人家庭希望申请公益性岗位，请社区帮助对接",
        "{place}返乡农民工想在家门口就业，咨询附近企业招工信息",
        "{place}居民想申请创业担保贷款开{shop}，咨询办理流程",
    ),
    "power_supply": (
        "{place}晚间频繁跳闸停电，本周已经发生{count}次，影响正常生活",
        "{place}电压不稳，灯光忽明忽暗，家里电器容易损坏",
        "{place}电表箱门损坏，线路裸露，担心小孩触电",
        "{place}楼道线路老化，墙上电线乱拉，请供电部门排查",
        "{place}突然停电已经{count}个小时，没有接到任何停电通知",
        "{place}想申请安装电动汽车充电桩，物业不配合，请求协调",
        "{place}夏季用电高峰变压器负荷过大，经常停电，希望扩容",
    ),
    "elderly_child_care": (
        "{place}独居老人{age}岁，行动不便，申请助餐送餐服务",
        "{place}双职工家庭孩子放学无人接，希望社区开办四点半课堂",
        "{place}有失能老人需要上门护理服务，咨询如何申请",
        "{place}附近缺少托育机构，{child_age}岁孩子没人带，希望增设托育点",
        "{place}{age}岁空巢老人无人照看，希望安排志愿者定期探访",
        "{place}老人想去社区长者食堂吃饭，咨询老年助餐优惠如何办理",
        "{place}暑假孩子无人看护，咨询社区暑期托管班报名",
    ),
    "other": (
        "{place}居民咨询居住证办理需要准备哪些材料",
        "{place}居民建议在附近空地增加公共健身器材",
        "{place}流浪猫狗数量多，夜间叫声扰民，希望妥善处置",
        "{place}有住户在屋顶违章搭建，请相关部门核查处理",
        "{place}快递经常放在楼下丢失，建议设置智能快递柜",
        "{place}附近工地夜间施工噪音大，影响居民休息",
        "{place}居民想了解医保缴费和报销政策，请求解答",
    ),
})
"""Ticket category code → text templates (``{place}`` plus random slots)."""


def _pick(items: Sequence[str]) -> Slot:
    pool = np.array(items, dtype=object)

    def draw(rng: np.random.Generator, k: int) -> np.ndarray:
        return pool[rng.integers(len(pool), size=k)]

    return draw


def _ints(lo: int, hi: int) -> Slot:
    def draw(rng: np.random.Generator, k: int) -> np.ndarray:
        return rng.integers(lo, hi + 1, size=k).astype(str).astype(object)

    return draw


def _rooms(rng: np.random.Generator, k: int) -> np.ndarray:
    room = rng.integers(1, 19, size=k) * 100 + rng.integers(1, 5, size=k)
    return room.astype(str).astype(object)


_SLOTS: Mapping[str, Slot] = MappingProxyType({
    "floor": _ints(2, 18),
    "unit": _ints(1, 6),
    "room": _rooms,
    "count": _ints(2, 8),
    "households": _ints(6, 36),
    "months": _ints(2, 11),
    "hour": _ints(1, 3),
    "age": _ints(72, 93),
    "mid_age": _ints(42, 56),
    "child_age": _ints(1, 3),
    "days": _pick(("两", "三", "四", "五", "六", "七", "十")),
    "shop": _pick(("火锅店", "烧烤店", "串串香店", "小面馆", "烤鱼店", "中餐馆", "冒菜馆",
                   "江湖菜馆", "豆花饭店")),
    "tree": _pick(("香樟树", "黄葛树", "银杏树", "桂花树", "小叶榕", "天竺桂")),
    "job": _pick(("保洁", "保安", "家政服务", "快递分拣", "电工", "厨师", "收银", "养老护理",
                  "育婴师")),
})


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _check_n(n: int) -> int:
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return n


def _weighted_sample(
    rng: np.random.Generator, weights: np.ndarray, n: int, what: str
) -> np.ndarray:
    """Indices of ``n`` distinct items drawn without replacement, in random order.

    Efraimidis–Spirakis: item ``i`` gets key ``E_i / w_i`` with ``E_i ~ Exp(1)`` and the ``n``
    smallest keys win. Items with weight 0 are never drawn. ``what`` names the items in the
    error raised when fewer than ``n`` are available.
    """
    available = int(np.count_nonzero(weights > 0))
    if n > available:
        raise ValueError(f"at most {available} distinct {what} can be made, asked for {n}")
    if n == 0:
        return np.empty(0, dtype=np.intp)
    keys = rng.exponential(size=len(weights))
    positive = weights > 0
    keys[positive] /= weights[positive]
    keys[~positive] = np.inf
    idx = np.argpartition(keys, n - 1)[:n] if n < keys.shape[0] else np.arange(keys.shape[0])
    return idx[np.argsort(keys[idx], kind="stable")]


def _chars(text: str) -> np.ndarray:
    """The distinct characters of ``text`` (first occurrence order) as an object array."""
    return np.array(list(dict.fromkeys(text)), dtype=object)


def _product(*pools: np.ndarray | str) -> np.ndarray:
    """All concatenations of one element from each pool, without repeating an element.

    String pools are split into characters. ``_product("龙凤", "台凤")`` is 龙台, 龙凤, 凤台.
    """
    arrays = [_chars(p) if isinstance(p, str) else np.asarray(p, dtype=object) for p in pools]
    grids = np.meshgrid(*arrays, indexing="ij")
    names = grids[0]
    ok = np.ones(names.shape, dtype=bool)
    for i in range(1, len(grids)):
        names = names + grids[i]
        for j in range(i):
            ok &= grids[i] != grids[j]
    return names[ok]


def _space(parts: Sequence[tuple[np.ndarray, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate weighted name pools, dropping duplicates (the highest weight is kept).

    The returned arrays are cached by the callers and therefore read-only.
    """
    names = np.concatenate([np.asarray(p, dtype=object) for p, _ in parts])
    weights = np.concatenate([np.full(len(p), w, dtype=float) for p, w in parts])
    order = np.argsort(-weights, kind="stable")
    names, weights = names[order], weights[order]
    _, first = np.unique(names, return_index=True)
    first.sort()
    names, weights = names[first], weights[first]
    names.flags.writeable = False
    weights.flags.writeable = False
    return names, weights


def _word_array(words: Sequence[str]) -> np.ndarray:
    return np.array(words, dtype=object)


@cache
def _surnames() -> tuple[np.ndarray, np.ndarray]:
    totals: dict[str, float] = {}
    for name, weight in _SURNAME_WEIGHTS:
        totals[name] = totals.get(name, 0.0) + weight
    names = np.array(list(totals), dtype=object)
    p = np.array(list(totals.values()), dtype=float)
    return names, p / p.sum()


@cache
def _given_pools() -> tuple[np.ndarray, np.ndarray]:
    return _chars(_GIVEN_MALE + _GIVEN_NEUTRAL), _chars(_GIVEN_FEMALE + _GIVEN_NEUTRAL)


@cache
def _compound_base() -> tuple[np.ndarray, np.ndarray]:
    prefixes, prefix_w = _space([(_product(_COMPOUND_FIRST, _COMPOUND_SECOND), 10.0),
                                 (_product(_COMPOUND_CHARS, _COMPOUND_CHARS), 1.0)])
    suffixes = np.array([s for s, _ in _COMPOUND_SUFFIXES], dtype=object)
    suffix_w = np.array([w for _, w in _COMPOUND_SUFFIXES], dtype=float)
    names = (prefixes[:, None] + suffixes[None, :]).ravel()
    weights = (prefix_w[:, None] * suffix_w[None, :]).ravel()
    names.flags.writeable = False
    weights.flags.writeable = False
    return names, weights


@cache
def _urban_space() -> tuple[np.ndarray, np.ndarray]:
    jia = _surnames()[0] + "家"
    return _space([
        (_word_array(_URBAN_WORDS), 40.0),
        (_product(_URBAN_FIRST, _URBAN_SECOND), 1.0),
        (_product(jia, _URBAN_JIA_TAILS), 0.5),
        (_product(_URBAN_FIRST, _URBAN_SECOND, _URBAN_TAILS), 0.03),
    ])


@cache
def _village_space() -> tuple[np.ndarray, np.ndarray]:
    jia = _surnames()[0] + "家"
    return _space([
        (_word_array(_VILLAGE_WORDS), 40.0),
        (_product(_VILLAGE_FIRST, _VILLAGE_SECOND + _VILLAGE_TAILS), 1.0),
        (_product(jia, _VILLAGE_TAILS), 0.8),
        (_product(_VILLAGE_FIRST, _VILLAGE_SECOND, _VILLAGE_TAILS), 0.06),
    ])


@cache
def _town_space() -> tuple[np.ndarray, np.ndarray]:
    return _space([
        (_word_array(_TOWN_WORDS), 60.0),
        (_surnames()[0] + "家", 20.0),
        (_product(_VILLAGE_FIRST, _VILLAGE_SECOND + _VILLAGE_TAILS), 1.0),
        (_product(_VILLAGE_FIRST, _VILLAGE_SECOND, _TOWN_TAILS), 0.02),
    ])


@cache
def _street_space() -> tuple[np.ndarray, np.ndarray]:
    stems, stem_w = _space([(_word_array(_STREET_WORDS), 30.0),
                            (_product(_URBAN_FIRST, _URBAN_SECOND), 1.0),
                            (_product(_COMPOUND_CHARS, _COMPOUND_CHARS), 0.05)])
    suffixes = np.array([s for s, _ in _STREET_SUFFIXES], dtype=object)
    suffix_w = np.array([w for _, w in _STREET_SUFFIXES], dtype=float)
    names = (stems[:, None] + suffixes[None, :]).ravel()
    weights = (stem_w[:, None] * suffix_w[None, :]).ravel()
    names.flags.writeable = False
    weights.flags.writeable = False
    return names, weights


def _fill_templates(
    rng: np.random.Generator,
    keys: np.ndarray,
    places: np.ndarray,
    catalogue: Mapping[str, tuple[str, ...]],
    what: str,
) -> np.ndarray:
    """Fill ``catalogue[key]`` templates (chosen uniformly) for every item, vectorised.

    Templates contain ``{place}`` (taken from ``places``) and any slot of ``_SLOTS``.
    """
    keys = np.asarray(keys)
    places = np.asarray(places, dtype=object)
    if keys.ndim != 1 or places.ndim != 1:
        raise ValueError(f"{what}s and places must be 1-D arrays")
    if keys.shape[0] != places.shape[0]:
        raise ValueError(
            f"{what}s and places must have the same length, got {keys.shape[0]} and "
            f"{places.shape[0]}"
        )
    out = np.empty(keys.shape[0], dtype=object)
    if keys.shape[0] == 0:
        return out
    unknown = sorted(set(np.unique(keys.astype(str)).tolist()) - set(catalogue))
    if unknown:
        raise ValueError(
            f"unknown {what}(s) {unknown}; expected one of: {', '.join(catalogue)}"
        )
    formatter = string.Formatter()
    for key, templates in catalogue.items():
        idx = np.flatnonzero(keys == key)
        if idx.size == 0:
            continue
        choice = rng.integers(len(templates), size=idx.size)
        for t, template in enumerate(templates):
            sel = idx[choice == t]
            k = sel.size
            if k == 0:
                continue
            text = np.full(k, "", dtype=object)
            for literal, field, _, _ in formatter.parse(template):
                if literal:
                    text = text + literal
                if field is None:
                    continue
                text = text + (places[sel] if field == "place" else _SLOTS[field](rng, k))
            out[sel] = text
    return out


# --------------------------------------------------------------------------------------------
# Public generators
# --------------------------------------------------------------------------------------------


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Chinese full names (2–3 characters).

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of names.

    Returns
    -------
    numpy.ndarray
        ``n`` names (``dtype=object``), e.g. 王建华, 谭静, 冉思涵. The surname follows realistic
        frequency weights; the given name has one character (~30 %) or two (~70 %), drawn
        from a male or a female pool (each with some neutral characters) so that the
        combination looks natural; no character appears twice in a name. Names may repeat,
        as in real life.
    """
    n = _check_n(n)
    surnames, p = _surnames()
    male, female = _given_pools()
    surname = surnames[rng.choice(surnames.shape[0], size=n, p=p)]
    is_male = rng.random(n) < 0.5
    two = rng.random(n) < 0.7
    size = np.where(is_male, male.shape[0], female.shape[0])
    i1 = rng.integers(0, size)
    i2 = (i1 + rng.integers(1, size)) % size  # a different character

    def char(i: np.ndarray) -> np.ndarray:
        return np.where(is_male, male[i % male.shape[0]], female[i % female.shape[0]])

    # 王王 or 李明李 look odd: move a clashing character to its pool neighbour. Each pass
    # fixes the clashes it sees; three characters need at most a few passes.
    for _ in range(4):
        bad1 = char(i1) == surname
        i1 = np.where(bad1, (i1 + 1) % size, i1)
        bad2 = (char(i2) == surname) | (i2 == i1)
        i2 = np.where(bad2, (i2 + 1) % size, i2)
        if not (bad1.any() or bad2.any()):
            break
    given = np.where(two, char(i1) + char(i2), char(i1))
    return (surname + given).astype(object)


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fictional 11-digit mainland mobile numbers, distinct within the call.

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of numbers (at most 3.3 billion; fast up to ~10 million).

    Returns
    -------
    numpy.ndarray
        ``n`` strings such as ``"13812345678"``; the 3-digit prefix is one of the carrier
        ranges 130–139, 150–153, 155–159, 166, 173, 177, 180–189 and 199.
    """
    n = _check_n(n)
    block = 100_000_000
    total = _PHONE_PREFIXES.shape[0] * block
    if n > total:
        raise ValueError(f"at most {total} distinct phone numbers exist, asked for {n}")
    code = rng.choice(total, size=n, replace=False).astype(np.int64)
    number = _PHONE_PREFIXES[code // block] * block + code % block
    return number.astype("U11").astype(object)


def compound_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct residential compound (小区) names.

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of names (up to ~2 million).

    Returns
    -------
    numpy.ndarray
        ``n`` distinct names such as 龙台小区, 金凤佳苑, 嘉和家园: two auspicious or place
        characters plus a suffix (小区, 花园, 家园, 新村, 佳苑, 苑, 雅居, …). When more names are
        asked for than the ~230,000 of that form, the rest are phases (龙台小区二期).
    """
    n = _check_n(n)
    base, weights = _compound_base()
    n_base = base.shape[0]
    capacity = n_base * (1 + len(_PHASES))
    if n > capacity:
        raise ValueError(f"at most {capacity} distinct compound names, asked for {n}")
    k0 = min(n, n_base)
    names = base[_weighted_sample(rng, weights, k0, "compound names")]
    if n > n_base:
        code = rng.choice(n_base * len(_PHASES), size=n - n_base, replace=False)
        phased = base[code % n_base] + np.array(_PHASES, dtype=object)[code // n_base]
        names = np.concatenate([names, phased])
        names = names[rng.permutation(n)]
    return names


def community_names(
    rng: np.random.Generator, n_urban: int, n_village: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct urban community (社区) and village (村) names.

    Parameters
    ----------
    rng
        Random generator.
    n_urban, n_village
        Numbers of names (up to ~20,000 each, more is possible).

    Returns
    -------
    urban, village : numpy.ndarray
        Names such as 龙台社区, 凤凰社区 and 农安村, 白林村, 虎峰山村, with 2–3 character stems.
        Stems are distinct across both arrays, so a stem (used in care-point names) names one
        community only.
    """
    n_urban, n_village = _check_n(n_urban), _check_n(n_village)
    u_names, u_weights = _urban_space()
    v_names, v_weights = _village_space()
    urban = u_names[_weighted_sample(rng, u_weights, n_urban, "community names")]
    # isin on object arrays is quadratic; fixed-width unicode makes it a sort.
    taken = np.isin(v_names.astype(str), urban.astype(str))
    v_weights = np.where(taken, 0.0, v_weights)
    village = v_names[_weighted_sample(rng, v_weights, n_village, "village names")]
    return (urban + "社区").astype(object), (village + "村").astype(object)


def town_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct town-level names ending in 镇 (~60 %) or 街道 (~40 %).

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of names (up to ~2,000 comfortably).

    Returns
    -------
    numpy.ndarray
        Names such as 曾家镇, 虎溪街道, 白市驿镇, 金峰镇. Stems are distinct.
    """
    n = _check_n(n)
    names, weights = _town_space()
    stems = names[_weighted_sample(rng, weights, n, "town names")]
    suffix = np.where(rng.random(n) < 0.6, "镇", "街道").astype(object)
    return (stems + suffix).astype(object)


def street_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct road names ending in 路, 街 or 大道.

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of names (up to ~50,000 comfortably).

    Returns
    -------
    numpy.ndarray
        Names such as 虎溪路, 科城大道, 龙台街, 学府东路, 金凤二路.
    """
    n = _check_n(n)
    names, weights = _street_space()
    return names[_weighted_sample(rng, weights, n, "street names")]


def care_point_names(
    rng: np.random.Generator, kinds: np.ndarray, places: np.ndarray
) -> np.ndarray:
    """Names of elderly- and child-care points (一老一小).

    Parameters
    ----------
    rng
        Random generator.
    kinds
        Kind codes, each one of :data:`CARE_POINT_KINDS` (``elder_day_care``,
        ``elder_station``, ``elder_canteen``, ``nursery``, ``kindergarten``, ``after_school``).
    places
        Same-length place stems, e.g. 龙台 (a community name without 社区).

    Returns
    -------
    numpy.ndarray
        Names such as 龙台社区养老服务中心, 龙台长者食堂, 龙台四点半课堂.

    Raises
    ------
    ValueError
        On an unknown kind or mismatched lengths.
    """
    return _fill_templates(rng, kinds, places, CARE_POINT_KINDS, "care point kind")


def parking_names(
    rng: np.random.Generator, kinds: np.ndarray, places: np.ndarray
) -> np.ndarray:
    """Names of parking facilities.

    Parameters
    ----------
    rng
        Random generator.
    kinds
        Kind codes, each one of :data:`PARKING_KINDS` (``lot``, ``street``,
        ``shared_staggered``, ``converted_wasteland``).
    places
        Same-length place stems, e.g. 龙台.

    Returns
    -------
    numpy.ndarray
        Names such as 龙台停车场, 龙台路边停车位, 龙台错时共享停车场, 龙台荒改停停车场.

    Raises
    ------
    ValueError
        On an unknown kind or mismatched lengths.
    """
    return _fill_templates(rng, kinds, places, PARKING_KINDS, "parking kind")


def ticket_texts(
    rng: np.random.Generator, categories: np.ndarray, places: np.ndarray
) -> np.ndarray:
    """Short resident-request texts for tickets (工单).

    Parameters
    ----------
    rng
        Random generator.
    categories
        Category codes, each one of :data:`TICKET_CATEGORIES`.
    places
        Same-length building or compound names, e.g. 龙台小区3栋; every text contains its place.

    Returns
    -------
    numpy.ndarray
        Texts such as "龙台小区3栋垃圾桶满溢三天未清运，气味很大", drawn uniformly from the
        category's templates in :data:`TICKET_TEMPLATES` with slots (floors, counts, ages,
        shops, trees, …) filled at random. For places of 2–14 characters a text has 15–60
        characters.

    Raises
    ------
    ValueError
        On an unknown category or mismatched lengths.
    """
    return _fill_templates(rng, categories, places, TICKET_TEMPLATES, "ticket category")
