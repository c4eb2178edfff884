"""Several hosts (DESIGN §16): two ``marketplace serve`` processes with their own instance
folders on one PostgreSQL and one artifact store serve one marketplace; one killed with
SIGKILL mid-load loses no acknowledged call and the other keeps serving.

The hosts need PostgreSQL in either run of the suite; the store is ``db`` in the
PostgreSQL run and ``s3://`` (a real S3-compatible server) in the other, so each run
proves one multi-host store without running the same drill twice."""
from __future__ import annotations

import re
import threading
import time

import sqlalchemy as sa

from marketplace.db import make_engine
from tests.conftest import BACKEND
from tests.ops.conftest import S3_KEYS
from tests.ops.hosts import Host, bundle, load, new_database, prepare


def test_two_hosts_one_postgresql_one_store_survive_a_sigkill(pg_cluster, tmp_path, request):
    import requests

    url = new_database(pg_cluster)
    tokens = prepare(url)
    if BACKEND == "postgresql":
        store, env = "db", {}
    else:
        endpoint = request.getfixturevalue("s3_server")
        store = f"s3://bundles/hosts-{tmp_path.name[-12:].lower().replace('_', '-')}"
        env = {**S3_KEYS, "MARKETPLACE_S3_ENDPOINT": endpoint}
    a = Host(url, tmp_path / "host-a", store=store, env=env).start()
    b = Host(url, tmp_path / "host-b", store=store, env=env).start()
    try:
        auth = {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}
        published = requests.post(f"{a.base}/api/v1/modules", headers=auth["publisher"],
                                  files={"bundle": ("scale-echo-1.0.0.zip", bundle(tmp_path))},
                                  timeout=60)
        assert published.status_code == 201, published.text
        assert published.json()["state"] == "published"
        installed = requests.post(f"{b.base}/api/v1/installations", headers=auth["adopter"],
                                  json={"module": "scale-echo", "accept_terms": True}, timeout=30)
        assert installed.status_code == 201, installed.text
        assert not list((tmp_path / "host-a").rglob("*.zip"))      # the bundle is in the store
        first = requests.post(f"{b.base}/api/v1/invoke/scale-echo/echo", headers=auth["adopter"],
                              json={"text": "hello"}, timeout=30)
        assert first.status_code == 200 and first.json() == {"text": "hello"}

        stop = threading.Event()
        result = {}
        runner = threading.Thread(target=lambda: result.update(
            load([a, b], tokens["adopter"], stop, threads_per_host=3)))
        runner.start()
        time.sleep(2.0)                             # both hosts under load
        a.kill()                                    # master and workers, mid-call
        time.sleep(2.0)                             # B alone
        stop.set()
        runner.join(30)
        assert not runner.is_alive()
        on_a, on_b = result[a.port], result[b.port]
        assert len(on_a.acked) > 0, "host A answered nothing before it was killed"
        assert len(on_b.acked) > 0 and on_b.failed == [], on_b.failed[:5]

        after = requests.post(f"{b.base}/api/v1/invoke/scale-echo/echo", headers=auth["adopter"],
                              json={"text": "still here"}, timeout=30)
        assert after.status_code == 200                 # B kept serving after A died
        acked = set(on_a.acked) | set(on_b.acked) | {first.headers["X-Usage-Event"],
                                                      after.headers["X-Usage-Event"]}
        engine = make_engine(url)
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text(
                "SELECT event_id, status FROM usage_events")).all())
        engine.dispose()
        missing = acked - set(stored)
        assert not missing, f"{len(missing)} acknowledged calls lost"
        assert all(stored[e] == "ok" for e in acked)

        ready = requests.get(f"{b.base}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["artifact_store"] == f"ok ({store[:2]})"
        text = requests.get(f"{b.base}/metrics", timeout=30).text   # both workers merged
        counted = sum(float(v) for v in re.findall(
            r'marketplace_gateway_calls_total\{code="200",module="scale-echo",operation="echo",'
            r'status="ok"\} ([0-9.e+]+)', text))
        assert counted == len(on_b.acked) + 2
        log_lines = (tmp_path / "host-b" / "server.log").read_text().splitlines()
        assert any('"route": "/api/v1/invoke/<module>/<operation>"' in line for line in log_lines)
    finally:
        a.kill()
        b.stop()
