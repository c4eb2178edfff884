"""Group commit of gateway writes, kept connections, time-ordered event ids."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from marketplace import db
from marketplace.runtime.commits import CallWrite, GroupCommit, event_id
from marketplace.runtime.models import IdempotentReply, QuotaCounter
from marketplace.runtime.routes import statements
from marketplace.metering.service import call_event
from tests.support.concurrency import pool_one_larger_than
from tests.conftest import BACKEND
from tests.runtime.conftest import usage_rows


def _installed(catalog, shenzhen) -> int:
    catalog.toy()
    return shenzhen.install("toy-echo").json["id"]


def test_concurrent_calls_each_commit_exactly_one_event_and_count(app, catalog, shenzhen):
    installed = _installed(catalog, shenzhen)
    app.config["QUOTA_PER_MINUTE"] = 10 ** 6

    def call(n: int) -> str:
        client = app.test_client()
        reply = client.post("/api/v1/invoke/toy-echo/echo", json={"text": str(n)},
                            headers=shenzhen.headers)
        assert reply.status_code == 200
        return reply.headers["X-Usage-Event"]

    started = int(time.time() // 60)
    with ThreadPoolExecutor(8) as pool:
        acked = list(pool.map(call, range(64)))
    ended = int(time.time() // 60)
    rows = usage_rows(app, installed)
    assert sorted(r.event_id for r in rows) == sorted(acked) and len(set(acked)) == 64
    with app.app_context():
        counter = db.session().get(QuotaCounter, installed)
    assert counter.minute == ended
    if started == ended:
        assert counter.calls == 64
    else:                                   # the minute turned mid-test: only its own calls
        assert 0 < counter.calls <= 64


def _write(item_id: str, installation: int, headers: object = None) -> CallWrite:
    item = CallWrite(call_event(installation_id=installation, event_id=item_id,
                                operation="echo", units=1, status="ok"))
    if headers is not None:                     # settles the key "k" held by call "first"
        from marketplace.clock import now

        item.reply = {"code": "440300", "key": "k", "owner": "first", "status": 200,
                      "body": "{}", "headers": headers, "stamp": now()}
    return item


def test_a_failing_write_costs_no_other_call_its_event(app, catalog, shenzhen):
    installed = _installed(catalog, shenzhen)
    engine = app.extensions["db"].engine
    commits = GroupCommit(engine, statements(engine.dialect))
    connection = engine.raw_connection()
    try:
        commits.write(connection, _write("first", installed))
        batch = [_write("a", installed), _write("b", installed, headers={"x": object()}),
                 _write("c", installed)]
        commits._commit(connection, batch)          # b's reply cannot be stored: the batch fails
    finally:
        connection.close()
    assert [item.error is None for item in batch] == [True, False, True]
    assert sorted(r.event_id for r in usage_rows(app, installed)) == ["a", "c", "first"]


def test_a_dead_kept_connection_is_replaced_before_the_call(app, catalog, shenzhen):
    installed = _installed(catalog, shenzhen)
    assert shenzhen.invoke("toy-echo", "echo", {"text": "a"}).status_code == 200
    routes = app.extensions["gateway_routes"]
    kept = routes.connection()
    if BACKEND == "postgresql":        # the server ends the session, as a restart would
        with app.app_context():
            pid = kept.driver_connection.info.backend_pid
            db.session().execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    else:
        kept.driver_connection.close()
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "b"})
    assert reply.status_code == 200, reply.json
    assert routes.connection() is not kept
    assert [r.status for r in usage_rows(app, installed)] == ["ok", "ok"]


def test_event_ids_are_uuid7_and_time_ordered():
    first = event_id()
    time.sleep(0.002)
    second = event_id()
    assert len(first) == 32 and first[12] == "7" and first[16] in "89ab"
    assert first < second and len({event_id() for _ in range(1000)}) == 1000


def test_connections_of_ended_threads_go_back_to_the_pool(app, catalog, shenzhen):
    """A server that starts a thread per request (Flask's own) must not hold a connection each."""
    import threading

    _installed(catalog, shenzhen)
    codes = []
    for n in range(30):                  # more threads than the pool has connections (10 + 10)
        worker = threading.Thread(target=lambda: codes.append(
            shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code))
        worker.start()
        worker.join()
    assert codes == [200] * 30
    routes = app.extensions["gateway_routes"]
    assert len(routes._held) == 1        # only the last thread's, until the next one opens
    assert app.extensions["db"].engine.pool.checkedout() <= 1


def test_when_the_commit_itself_fails_no_call_is_told_it_was_committed(app, catalog, shenzhen,
                                                                       monkeypatch):
    installed = _installed(catalog, shenzhen)
    engine = app.extensions["db"].engine
    commits = GroupCommit(engine, statements(engine.dialect))

    def broken(*_args):
        raise OSError("lock file unavailable")
    monkeypatch.setattr(commits, "_commit", broken)
    connection = engine.raw_connection()
    try:
        item = _write("lost", installed)
        try:
            commits.write(connection, item)
        except OSError as exc:
            assert item.error is exc
        else:
            raise AssertionError("write() returned although nothing was committed")
    finally:
        connection.close()
    assert usage_rows(app, installed) == []


def test_expired_idempotent_replies_are_swept_at_most_once_a_minute(app, catalog, shenzhen):
    from marketplace.clock import now
    from marketplace.runtime import commits

    _installed(catalog, shenzhen)

    def reply(key: str, hours: float) -> IdempotentReply:
        return IdempotentReply(jurisdiction_code="440300", key=key, request_hash="h", status=200,
                               body="{}", headers={}, created_at=now() - timedelta(hours=hours))

    def keys() -> set[str]:
        with app.app_context():
            return set(db.session().scalars(sa.select(IdempotentReply.key)))

    def call() -> None:
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200

    with app.app_context():
        db.session().add_all([reply("old", 25), reply("recent", 23)])
        db.session().commit()
    call()                                   # a process's first commit sweeps
    assert keys() == {"recent"}
    with app.app_context():
        db.session().add(reply("older", 30))
        db.session().commit()
    call()                                   # within the minute: left for the next sweep
    assert keys() == {"recent", "older"}
    group = app.extensions["gateway_routes"].commits
    group._next_sweep = time.monotonic() - 1     # a minute later
    call()
    assert keys() == {"recent"}
    assert group._next_sweep > time.monotonic() + commits.SWEEP_EVERY - 5


def test_a_backlog_of_expired_replies_is_swept_in_batches(app, catalog, shenzhen, monkeypatch):
    from marketplace.clock import now
    from marketplace.runtime import commits

    _installed(catalog, shenzhen)
    monkeypatch.setattr(commits, "SWEEP_BATCH", 3)
    with app.app_context():
        db.session().add_all([IdempotentReply(
            jurisdiction_code="440300", key=f"k{n}", request_hash="h", status=200, body="{}",
            headers={}, created_at=now() - timedelta(days=2, minutes=n)) for n in range(7)])
        db.session().commit()

    def left() -> int:
        with app.app_context():
            return db.session().scalar(sa.select(sa.func.count()).select_from(IdempotentReply))

    counts = []
    for _ in range(4):
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
        counts.append(left())
    assert counts == [4, 1, 0, 0]                     # full batches sweep again at once
    group = app.extensions["gateway_routes"].commits
    assert group._next_sweep > time.monotonic()       # then back to once a minute


def test_quota_grants_share_a_batch_with_events_and_stop_at_the_limit(app, catalog, shenzhen):
    from marketplace.runtime.invocation import minute_now

    installed = _installed(catalog, shenzhen)
    engine = app.extensions["db"].engine
    commits = GroupCommit(engine, statements(engine.dialect))
    ask = {"iid": installed, "minute": minute_now(), "limit": 2}
    grants = [CallWrite(None, reserve=dict(ask)) for _ in range(3)]
    connection = engine.raw_connection()
    try:
        commits._commit(connection, [*grants, _write("e", installed)])     # one transaction
        assert commits.reserve(connection, ask) is False                    # and after it
    finally:
        connection.close()
    assert [item.granted for item in grants] == [True, True, False]
    assert [r.event_id for r in usage_rows(app, installed)] == ["e"]
    with app.app_context():
        assert db.session().get(QuotaCounter, installed).calls == 2


def test_a_call_waits_for_no_second_connection_so_a_full_pool_never_deadlocks(app, catalog,
                                                                             shenzhen):
    """A pool one connection larger than the threads calling serves them all.

    Each thread keeps one connection for its calls and borrows at most one more
    (the token check), which it gives back before it waits for anything. A call
    that kept the token check's connection while opening its own, or opened a
    second one for a route's schemas, held two: with every thread doing so the
    pool ran dry and every call timed out (500).
    """
    _installed(catalog, shenzhen)
    app.config["QUOTA_PER_MINUTE"] = 10 ** 6
    threads = 3
    pool_one_larger_than(app, threads)
    start = threading.Barrier(threads)

    def calls(n: int) -> list[int]:
        client = app.test_client()
        start.wait()
        return [client.post("/api/v1/invoke/toy-echo/echo", json={"text": f"{n}-{i}"},
                            headers=shenzhen.headers).status_code for i in range(8)]

    with ThreadPoolExecutor(threads) as pool:
        answered = [status for each in pool.map(calls, range(threads)) for status in each]
    assert answered == [200] * (threads * 8)


def test_a_crashing_module_gives_back_what_it_held_so_later_calls_still_get_connections(
        app, catalog, shenzhen):
    """After a module crash (502), the same threads' next calls answer 200 on a pool one
    larger than the threads: the crash path keeps no connection checked out."""
    _installed(catalog, shenzhen)
    app.config["QUOTA_PER_MINUTE"] = 10 ** 6
    threads = 2
    pool_one_larger_than(app, threads)

    def calls(n: int) -> list[int]:
        client = app.test_client()
        return [client.post(f"/api/v1/invoke/toy-echo/{op}", json={"text": str(n)},
                            headers=shenzhen.headers).status_code
                for op in ("crash", "echo", "echo", "crash", "echo")]

    with ThreadPoolExecutor(threads) as pool:
        answered = list(pool.map(calls, range(threads)))
    assert answered == [[502, 200, 200, 502, 200]] * threads
