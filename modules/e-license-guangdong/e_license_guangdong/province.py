"""广东省 (粤省事) constants of the sample electronic licence registry."""
from __future__ import annotations

from datetime import date

CODE = "44"
NAME = "广东省"
SHORT = "粤"
PLATFORM = "粤省事"
SNAPSHOT = date(2025, 12, 31)  # the sample registry is frozen on this day
CITIES = {
    "440100": "广州市", "440200": "韶关市", "440300": "深圳市", "440400": "珠海市",
    "440500": "汕头市", "440600": "佛山市", "440700": "江门市", "440800": "湛江市",
    "440900": "茂名市", "441200": "肇庆市", "441300": "惠州市", "441400": "梅州市",
    "441500": "汕尾市", "441600": "河源市", "441700": "阳江市", "441800": "清远市",
    "441900": "东莞市", "442000": "中山市", "445100": "潮州市", "445200": "揭阳市",
    "445300": "云浮市",
}
