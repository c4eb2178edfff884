"""浙江省 (浙里办) constants of the sample electronic licence registry."""
from __future__ import annotations

from datetime import date

CODE = "33"
NAME = "浙江省"
SHORT = "浙"
PLATFORM = "浙里办"
SNAPSHOT = date(2025, 12, 31)  # the sample registry is frozen on this day
CITIES = {
    "330100": "杭州市", "330200": "宁波市", "330300": "温州市", "330400": "嘉兴市",
    "330500": "湖州市", "330600": "绍兴市", "330700": "金华市", "330800": "衢州市",
    "330900": "舟山市", "331000": "台州市", "331100": "丽水市",
}
