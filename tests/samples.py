"""Request bodies shared by API tests."""

from typing import Any

MANUAL_ORDER: dict[str, Any] = {
    "channel": "phone",
    "shop": "hq",
    "source_type": "电话订单",
    "receiver": {
        "name": "张三",
        "phone": "13800138000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路90号",
    },
    "id_card": None,
    "lines": [{"sku": "SKU-001", "qty": 2, "unit_price": "99.00", "discount": "0.00"}],
    "shipping_fee": "0.00",
    "discount": "0.00",
    "paid_amount": "198.00",
    "payment": {"method": "wechat", "paid_at": "2026-11-20T10:00:00+08:00"},
    "invoice": {"type": "none"},
    "buyer_memo": "",
    "seller_memo": "",
}
