"""Reference data the order generator draws from: real places, names, products, carriers."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    province: str
    city: str
    district: str  # empty where the city has no district level (东莞, 中山, 儋州, 嘉峪关)
    adcode: str  # GB/T 2260 code of the most precise level
    towns: tuple[str, ...]
    streets: tuple[str, ...]
    zip: str


MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")


# province city district(- for none) adcode zip towns streets
_PLACES = """
浙江省 杭州市 西湖区 330106 310012 文新街道,西溪街道,转塘街道 文三路,天目山路,古墩路
浙江省 杭州市 余杭区 330110 311121 五常街道,仓前街道 五常大道,文一西路
浙江省 宁波市 鄞州区 330212 315100 首南街道,钟公庙街道 天童南路,鄞州大道
广东省 广州市 天河区 440106 510630 石牌街道,天河南街道 天河路,体育西路,中山大道西
广东省 深圳市 南山区 440305 518057 粤海街道,南头街道 科技园南区深南大道,南海大道
广东省 东莞市 - 441900 523000 长安镇,虎门镇,松山湖管委会,南城街道 长青路,虎门大道,鸿福路
广东省 中山市 - 442000 528400 石岐街道,小榄镇 孙文中路,升平中路
海南省 儋州市 - 460400 571700 那大镇,白马井镇 中兴大街,人民中路
甘肃省 嘉峪关市 - 620200 735100 雄关街道,钢城街道 新华中路,雄关东路
北京市 北京市 海淀区 110108 100080 中关村街道,学院路街道 中关村大街,学院路,知春路
上海市 上海市 浦东新区 310115 201203 张江镇,陆家嘴街道 张江路,世纪大道,博云路
四川省 成都市 武侯区 510107 610041 玉林街道,簇桥街道 人民南路四段,武侯祠大街
江苏省 南京市 鼓楼区 320106 210008 湖南路街道,宁海路街道 中山北路,北京西路
湖北省 武汉市 洪山区 420111 430074 珞南街道,关山街道 珞喻路,光谷大道
山东省 青岛市 市南区 370202 266071 八大关街道,香港中路街道 香港中路,闽江路
河南省 郑州市 金水区 410105 450003 花园路街道,文化路街道 花园路,农业路
福建省 厦门市 思明区 350203 361001 鹭江街道,嘉莲街道 中山路,湖滨南路
"""


def _place(row: str) -> Place:
    province, city, district, adcode, zip_code, towns, streets = row.split()
    return Place(province, city, "" if district == "-" else district, adcode, tuple(towns.split(",")),
                 tuple(streets.split(",")), zip_code)


PLACES = tuple(_place(row) for row in _PLACES.strip().splitlines())

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
    "蒋蔡余杜叶程苏魏吕丁沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段"
    "雷侯龙史陶黎贺顾毛郝龚邵万严武戴莫孔汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉梅建国志文婷雪晨浩宇子涵欣怡梓萱轩思远佳琪雨桐一鸣嘉俊晓东丹"
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182", "183",
                   "187", "188", "130", "131", "132", "155", "156", "185", "186", "133", "153", "177", "180", "181",
                   "189", "191", "199")

PRODUCTS = (
    ("保温杯", ("容量:350ml;颜色分类:白色", "容量:500ml;颜色分类:黑色", "容量:500ml;颜色分类:粉色"), 6900),
    ("不锈钢餐具套装", ("规格:四件套", "规格:六件套"), 12900),
    ("明前龙井茶叶礼盒", ("净含量:250g", "净含量:500g"), 39900),
    ("手冲咖啡壶", ("容量:600ml",), 15900),
    ("真丝枕套", ("颜色分类:米白", "颜色分类:藕粉"), 19900),
    ("纯棉四件套", ("尺寸:1.5m床", "尺寸:1.8m床"), 29900),
    ("空气炸锅", ("容量:4L", "容量:6L"), 35900),
    ("电动牙刷", ("款式:标准款", "款式:旅行款"), 19900),
    ("儿童保温饭盒", ("颜色分类:蓝色", "颜色分类:粉色"), 8900),
    ("竹制砧板", ("尺寸:大号", "尺寸:小号"), 5900),
    ("香薰蜡烛", ("香型:雪松", "香型:白茶"), 7900),
    ("羊毛围巾", ("颜色分类:驼色", "颜色分类:灰色"), 25900),
)

ESTATES = ("阳光花园", "锦绣家园", "翠苑", "东方名城", "金色家园")
BUYER_MEMOS = ("", "", "", "", "请尽快发货", "周末送货", "不要放快递柜", "送人的，不要放发票", "麻烦包装好一点")
SELLER_MEMOS = ("", "", "", "", "老客户，送小样", "已电话确认地址", "优先发顺丰")

# OrderHub's carrier codes (kuaidi100's) with the prefix and digit count of their waybills.


WAYBILL_SHAPES = {
    "shunfeng": ("SF", 13), "zhongtong": ("7", 13), "yuantong": ("YT", 13), "yunda": ("43", 11),
    "shentong": ("77", 11), "jtexpress": ("JT", 13), "ems": ("11", 11), "jd": ("JDVA", 11),
}


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


CARRIERS = tuple(WAYBILL_SHAPES)


def waybill(carrier: str, rng: random.Random) -> str:
    prefix, length = WAYBILL_SHAPES[carrier]
    return prefix + digits(rng, length)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + digits(rng, 8)


def street_detail(place: Place, rng: random.Random) -> str:
    street = rng.choice(place.streets)
    number = rng.randint(1, 399)
    if rng.random() < 0.5:
        room = f"{rng.randint(1, 32)}0{rng.randint(1, 4)}"
        return f"{street}{number}号{rng.randint(1, 30)}幢{rng.randint(1, 3)}单元{room}室"
    return f"{street}{number}号{rng.choice(ESTATES)}{rng.randint(1, 20)}栋"
