"""China's provincial-level divisions (GB/T 2260 names) and the spellings routing tables and orders use.

Orders carry the full name after validation (浙江省); merchants write routing tables with the short
one (浙江). Both resolve to the full name here, so a table and an order always meet.
"""

from __future__ import annotations

from functools import cache

# Full name → short name, in GB/T 2260 code order.
PROVINCES: dict[str, str] = {
    "北京市": "北京",
    "天津市": "天津",
    "河北省": "河北",
    "山西省": "山西",
    "内蒙古自治区": "内蒙古",
    "辽宁省": "辽宁",
    "吉林省": "吉林",
    "黑龙江省": "黑龙江",
    "上海市": "上海",
    "江苏省": "江苏",
    "浙江省": "浙江",
    "安徽省": "安徽",
    "福建省": "福建",
    "江西省": "江西",
    "山东省": "山东",
    "河南省": "河南",
    "湖北省": "湖北",
    "湖南省": "湖南",
    "广东省": "广东",
    "广西壮族自治区": "广西",
    "海南省": "海南",
    "重庆市": "重庆",
    "四川省": "四川",
    "贵州省": "贵州",
    "云南省": "云南",
    "西藏自治区": "西藏",
    "陕西省": "陕西",
    "甘肃省": "甘肃",
    "青海省": "青海",
    "宁夏回族自治区": "宁夏",
    "新疆维吾尔自治区": "新疆",
    "台湾省": "台湾",
    "香港特别行政区": "香港",
    "澳门特别行政区": "澳门",
}
_SPELLINGS = {**{name: name for name in PROVINCES}, **{short: name for name, short in PROVINCES.items()}}


def province(name: str) -> str | None:
    """The full name of the province `name` spells (浙江 or 浙江省 → 浙江省), else None."""
    return _SPELLINGS.get(name.strip())


def short_name(full_name: str) -> str:
    return PROVINCES.get(full_name, full_name)


@cache
def _cities() -> frozenset[str]:
    """Prefecture-level city names, and the municipalities, which orders carry as their own city."""
    # Imported here: cpca builds its matcher on import; only tables with city overrides pay for it.
    import cpca

    names = {info.name for code, info in cpca.ad_2_addr_dict.items()
             if code[2:4] != "00" and code[4:6] == "00" and code[6:] == "000000"}
    return frozenset((names - {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
                     | {name for name in PROVINCES if name.endswith("市")})


def city(name: str) -> str | None:
    """The full name of the city `name` spells (杭州 or 杭州市 → 杭州市), else None."""
    name = name.strip()
    known = _cities()
    if name in known:
        return name
    return name + "市" if name + "市" in known else None
