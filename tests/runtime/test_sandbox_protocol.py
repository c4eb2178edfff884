"""The sandbox answer protocol: every answer carries its request's id, is strict JSON, and fits.

A module that writes frames on the answer pipe itself (the pipe found through
/proc/self/fd, the request id found in the worker's frames) gets its own call a 502
at worst, never another caller's answer; NaN/Infinity and lone surrogates are a
module failure (502, not billed); an answer just under the 32 MB limit arrives within
the normal time limit and one over it is refused as too large, not timed out.
"""
from __future__ import annotations

import textwrap
import time

import pytest

from marketplace.runtime import loader

EDGE = '''
"""Protocol edge cases on purpose."""
import fcntl
import json
import os
import stat
import sys
import time

from marketplace.sdk import hookimpl


def _answer_pipes():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if (stat.S_ISFIFO(os.fstat(fd).st_mode)
                    and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY):
                yield fd
        except OSError:
            pass


def _request_id():
    frame = sys._getframe()
    while frame is not None:
        job = frame.f_locals.get("job")
        if isinstance(job, dict) and "id" in job:
            return job["id"]
        frame = frame.f_back
    return None


def _frame(body):
    data = body.encode()
    return len(data).to_bytes(4, "big") + data


@hookimpl
def echo(payload, context):
    return {"text": payload["text"], "tenant": context.jurisdiction.code}


@hookimpl
def forge(payload, context):
    """Answer on the pipe itself (with or without this call's id), then answer normally."""
    ident = _request_id() if payload["id"] == "own" else None
    head = '{"id":%s,' % json.dumps(ident) if ident else "{"
    for fd in _answer_pipes():
        os.write(fd, _frame(head + '"ok":{"text":"forged","tenant":"forged"}}'))
    time.sleep(0.2)                 # the host reads the forged frame alone, the real one later
    return {"text": "real " + payload.get("text", ""), "tenant": context.jurisdiction.code}


@hookimpl
def late(payload, context):
    """Answer normally, and write a frame on the pipe a moment later (between calls)."""
    import signal

    def write(signum, frame):
        for fd in _answer_pipes():
            os.write(fd, _frame('{"ok":{"text":"late","tenant":"late"}}'))
    signal.signal(signal.SIGALRM, write)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    return {"text": "on time", "tenant": context.jurisdiction.code}


@hookimpl
def raw_nan(payload, context):
    """This call's own answer, by hand, holding NaN; then wait (no second answer yet)."""
    for fd in _answer_pipes():
        os.write(fd, _frame('{"id":%s,"ok":{"x":NaN}}' % json.dumps(_request_id())))
    time.sleep(5)
    return {}


@hookimpl
def bad_value(payload, context):
    values = {"nan": float("nan"), "inf": float("inf"), "surrogate": "\\ud800"}
    return {"x": values[payload["kind"]]}


@hookimpl
def big(payload, context):
    return {"blob": "x" * payload["bytes"]}
'''
OPS = ["echo", "forge", "late", "raw_nan", "bad_value", "big"]


def _edge_folder(tmp_path):
    folder = tmp_path / "edge"
    (folder / "edge_mod").mkdir(parents=True)
    ops = "".join(f'[[operations]]\nname = "{op}"\nunits = 1\ninput = {{ type = "object" }}\n'
                  f'output = {{ type = "object" }}\n\n' for op in OPS)
    (folder / "manifest.toml").write_text(textwrap.dedent('''\
        [module]
        name = "edge-mod"
        version = "1.0.0"
        title = "协议边界"
        summary = "Protocol edge cases."
        category = "public_service"
        entry = "edge_mod"
        source_license = "MIT"

        ''') + ops + '[terms]\nkind = "free"\n', encoding="utf-8")
    (folder / "edge_mod" / "__init__.py").write_text(EDGE, encoding="utf-8")
    return folder


@pytest.fixture
def edge(app, catalog, shenzhen, hangzhou):
    """edge-mod installed for Shenzhen and Hangzhou, one sandbox (both tenants share it)."""
    app.config.update(INVOKE_TIMEOUT=5.0, SANDBOX_PROCESSES=1)
    catalog.publish_folder(_edge_folder(catalog.tmp))
    for city in (shenzhen, hangzhou):
        assert city.install("edge-mod").status_code == 201
    yield shenzhen, hangzhou
    with app.app_context():
        loader.sandbox_pool().close()
    loader._sandboxes = None


def _billed(app, operation: str) -> list[tuple[str, int]]:
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.metering.models import UsageEvent

    with app.app_context():
        return [tuple(r) for r in db.session().execute(
            sa.select(UsageEvent.status, UsageEvent.units).where(
                UsageEvent.operation == operation))]


def test_a_forged_answer_never_reaches_another_caller(edge):
    shenzhen, hangzhou = edge
    for n, ident in enumerate(["none", "own"] * 5):
        forged = shenzhen.invoke("edge-mod", "forge", {"id": ident, "text": f"s{n}"})
        if ident == "none":                      # no id: refused, the sandbox killed
            assert (forged.status_code, forged.json["error"]) == (502, "module_error")
            assert "answer protocol" in forged.json["message"]
        else:                                    # its own call's id: its own answer at most
            assert forged.status_code == 502 or forged.json["tenant"] in ("forged", "440300")
        mine = hangzhou.invoke("edge-mod", "echo", {"text": f"h{n}"})
        if mine.status_code == 200:
            assert mine.json == {"text": f"h{n}", "tenant": "330100"}
        else:                                    # the leftover answer was caught: sandbox killed
            assert (mine.status_code, mine.json["error"]) == (502, "module_error")
            assert "answer protocol" in mine.json["message"]
        assert hangzhou.invoke("edge-mod", "echo", {"text": "next"}).json["text"] == "next"


def test_bytes_written_between_calls_are_caught_before_the_next_request(edge):
    shenzhen, hangzhou = edge
    assert shenzhen.invoke("edge-mod", "late", {}).json == {"text": "on time", "tenant": "440300"}
    time.sleep(0.3)                              # the late frame is in the pipe by now
    mine = hangzhou.invoke("edge-mod", "echo", {"text": "h"})
    assert (mine.status_code, mine.json["error"]) == (502, "module_error")
    assert "bytes before the request" in mine.json["message"]
    assert hangzhou.invoke("edge-mod", "echo", {"text": "h"}).json == {"text": "h",
                                                                       "tenant": "330100"}


def test_a_hand_written_answer_with_nan_is_a_module_failure(app, edge):
    shenzhen, _ = edge
    started = time.monotonic()
    reply = shenzhen.invoke("edge-mod", "raw_nan", {})
    assert (reply.status_code, reply.json["error"]) == (502, "module_error")
    assert "NaN" in reply.json["message"] and time.monotonic() - started < 4
    assert _billed(app, "raw_nan") == [("error", 0)]


def test_output_json_cannot_hold_is_a_module_failure_not_billed(app, edge):
    shenzhen, _ = edge
    for kind in ("nan", "inf", "surrogate"):
        reply = shenzhen.invoke("edge-mod", "bad_value", {"kind": kind})
        assert (reply.status_code, reply.json["error"]) == (502, "module_error"), kind
        assert "not JSON" in reply.json["message"]
        assert shenzhen.invoke("edge-mod", "echo", {"text": "ok"}).status_code == 200
    assert _billed(app, "bad_value") == [("error", 0)] * 3


def test_an_answer_under_the_limit_arrives_in_time_and_one_over_it_is_refused(edge):
    shenzhen, _ = edge
    size = 30 << 20
    started = time.monotonic()
    reply = shenzhen.invoke("edge-mod", "big", {"bytes": size})
    took = time.monotonic() - started
    assert reply.status_code == 200, reply.json
    assert len(reply.json["blob"]) == size and took < 5             # the normal time limit
    started = time.monotonic()
    reply = shenzhen.invoke("edge-mod", "big", {"bytes": 33 << 20})
    assert (reply.status_code, reply.json["error"]) == (502, "module_error")   # not 504
    assert "32 MB" in reply.json["message"] and time.monotonic() - started < 5
    assert shenzhen.invoke("edge-mod", "echo", {"text": "ok"}).status_code == 200


@pytest.mark.parametrize("value", ['float("nan")', 'float("-inf")', '"\\ud800"'])
def test_the_publish_checker_refuses_such_output_too(tmp_path, value):
    from marketplace.catalog.checker import check_module

    folder = tmp_path / "odd"
    (folder / "odd_mod").mkdir(parents=True)
    (folder / "manifest.toml").write_text(textwrap.dedent('''\
        [module]
        name = "odd-mod"
        version = "1.0.0"
        title = "怪输出"
        summary = "Answers what JSON cannot hold."
        category = "public_service"
        entry = "odd_mod"
        source_license = "MIT"

        [[operations]]
        name = "odd"
        units = 1
        input = { type = "object" }
        output = { type = "object" }

        [[operations.examples]]
        input = {}
        output_contains = { ok = true }

        [terms]
        kind = "free"
        '''), encoding="utf-8")
    (folder / "odd_mod" / "__init__.py").write_text(
        "from marketplace.sdk import hookimpl\n\n\n@hookimpl\ndef odd(payload, context):\n"
        f"    return {{'ok': True, 'x': {value}}}\n", encoding="utf-8")
    report = check_module(folder)
    assert [e["where"] for e in report.errors] == ["operation odd: example 1 output"]
    assert "not JSON" in report.errors[0]["message"]
