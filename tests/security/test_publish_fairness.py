"""One jurisdiction flooding slow publishes never keeps another from publishing (DESIGN §12).

A served app (gunicorn, one worker, one check slot): four clients of 广东省 (440000)
keep posting bundles whose import sleeps 60 s (each check is stopped at its own time
limit). 浙江省 (330000) publishes meanwhile: a jurisdiction with nothing running waits
ahead of the flooder's second publish, so it gets the slot as soon as the running check
ends, instead of 503 ``publish_busy`` for as long as the flood lasts.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.slow_bundle import slow_import_bundle

pytestmark = pytest.mark.slow

def test_a_flooding_jurisdiction_leaves_the_slot_to_another(world, live_server, tmp_path):
    server = live_server(1, MARKETPLACE_PUBLISH_CHECKS="1")
    slow = [slow_import_bundle(tmp_path, "flood-mod", f"1.0.{n}", 60) for n in range(4)]
    fair = slow_import_bundle(tmp_path, "fair-mod", "1.0.0", 0)
    stop = threading.Event()
    flood_codes: list[int] = []

    def post(who: str, data: bytes) -> requests.Response:
        return requests.post(server.url + "/api/v1/modules", headers=world.headers(who),
                             files={"bundle": ("b.zip", data, "application/zip")}, timeout=90)

    def flood(data: bytes) -> None:
        while not stop.is_set():
            answer = post("publisher", data)
            flood_codes.append(answer.status_code)
            if answer.status_code == 503:
                assert answer.json()["error"] == "publish_busy"
                time.sleep(0.05)

    with ThreadPoolExecutor(len(slow)) as pool:
        flooders = [pool.submit(flood, data) for data in slow]
        time.sleep(1.5)                          # the flood holds the slot and the waiting place
        started = time.perf_counter()
        answer = post("other_publisher", fair)
        took = time.perf_counter() - started
        stop.set()
        for f in flooders:
            f.result()
    # the running flood check ends at its 10 s time limit at the latest; then 330000 is next
    assert answer.status_code == 201, (answer.status_code, answer.text, took)
    assert answer.json()["name"] == "fair-mod" and took < 20, took
    assert 503 in flood_codes                    # the flooder is refused beyond its share
