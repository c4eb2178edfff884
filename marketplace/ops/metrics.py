"""Prometheus metrics (DESIGN §16), multi-process under gunicorn.

``prometheus_client`` decides at import whether values live in per-process
files (``PROMETHEUS_MULTIPROC_DIR``), so it is imported lazily here: the
server sets the folder up (:func:`prepare_multiprocess`) before any worker
imports it, and ``/metrics`` merges every worker's files.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

# name → (kind, help, labels[, buckets]); the README lists these names
METRICS: dict[str, tuple] = {
    "gateway_calls": ("counter", "Gateway calls by module, operation, event status and HTTP code",
                      ("module", "operation", "status", "code")),
    "gateway_call_seconds": ("histogram", "Gateway call latency (route to committed event)",
                             ("module",), LATENCY_BUCKETS),
    "http_requests": ("counter", "HTTP requests by route, method and status",
                      ("route", "method", "status")),
    "http_request_seconds": ("histogram", "HTTP request latency by route", ("route",),
                             LATENCY_BUCKETS),
    "sandbox_events": ("counter", "Sandbox processes started and killed", ("event",)),
    "ingest_events": ("counter", "Reported usage events by outcome (accepted, duplicate, "
                                 "rejected)", ("outcome",)),
    "settlement_seconds": ("histogram", "Duration of settlement runs (API)", ("outcome",),
                           SLOW_BUCKETS),
}
PREFIX = "marketplace_"

_made: dict[str, Any] = {}
_lock = threading.Lock()
_gateway_children: dict[tuple, tuple] = {}


def metric(name: str) -> Any:
    """The metric ``name`` of this process (created on first use)."""
    found = _made.get(name)
    if found is None:
        with _lock:
            found = _made.get(name)
            if found is None:
                found = _made[name] = _create(name)
    return found


def _create(name: str) -> Any:
    """Build metric ``name`` from its row in METRICS."""
    from prometheus_client import Counter, Histogram

    kind, text, labels, *rest = METRICS[name]
    if kind == "counter":
        return Counter(PREFIX + name, text, labels)
    return Histogram(PREFIX + name, text, labels, buckets=rest[0])


def observe_call(module: str, operation: str, status: str, code: int, seconds: float) -> None:
    """One gateway call, after its event is committed (the gateway's only metrics hook)."""
    key = (module, operation, status, code)
    children = _gateway_children.get(key)
    if children is None:       # labels() resolves under a lock: cache the children per key
        children = _gateway_children[key] = (
            metric("gateway_calls").labels(module, operation, status, str(code)),
            metric("gateway_call_seconds").labels(module))
        if len(_gateway_children) > 10_000:
            _gateway_children.clear()
    children[0].inc()
    children[1].observe(seconds)


_http_children: dict[tuple, tuple] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request by route (the rule, never the raw path), method and status."""
    key = (route, method, status)
    children = _http_children.get(key)
    if children is None:
        children = _http_children[key] = (
            metric("http_requests").labels(route, method, str(status)),
            metric("http_request_seconds").labels(route))
        if len(_http_children) > 10_000:
            _http_children.clear()
    children[0].inc()
    children[1].observe(seconds)


def count(name: str, *labels: str, amount: float = 1) -> None:
    """Add ``amount`` to counter ``name``."""
    if amount:
        metric(name).labels(*labels).inc(amount)


def observe(name: str, seconds: float, *labels: str) -> None:
    """Observe a duration on histogram ``name``."""
    metric(name).labels(*labels).observe(seconds)


def sandbox_event(event: str) -> None:
    """A sandbox process was started or killed (never fatal to the caller)."""
    try:
        count("sandbox_events", event)
    except Exception:  # noqa: BLE001 - metrics never break a module call
        pass


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (or this process's)."""
    from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry,
                                   generate_latest, multiprocess)

    for name in METRICS:            # every family appears, even before its first sample
        metric(name)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiprocess() -> str:
    """Before workers fork: a fresh per-server folder for the workers' metric files."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for entry in os.scandir(folder):     # a restarted server starts from zero
            if entry.name.endswith(".db"):
                os.unlink(entry.path)
    else:
        folder = tempfile.mkdtemp(prefix="govmarket-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        atexit.register(shutil.rmtree, folder, True)
    import sys

    values = sys.modules.get("prometheus_client.values")
    if values is not None:          # imported before the folder was set: switch it over
        values.ValueClass = values.get_value_class()
    return folder


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook: a dead worker's live gauges are dropped."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
