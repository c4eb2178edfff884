"""Toy composite bundles for the composite tests (DESIGN §14): built in the test's tmp folder.

``toy-flow`` runs the steps its input lists (``{"steps": [{"target", "operation",
"payload"} | {"sleep": s}], "catch": bool}``) through ``context.call``, so one bundle
exercises every sub-call outcome. It requires ``toy-echo`` (all its operations) and
the interface ``gov.toy`` (``echo``).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from tests.runtime.conftest import ANY_IN, FREE, TEXT_OUT

FLOW_CODE = '''
"""Toy composite: runs the listed steps through context.call."""
import time

from marketplace.sdk import ModuleError, hookimpl


@hookimpl
def run(payload, context):
    results = []
    for step in payload.get("steps", []):
        if "sleep" in step:
            time.sleep(step["sleep"])
            continue
        try:
            results.append(context.call(step["target"], step["operation"], step.get("payload")))
        except ModuleError as exc:
            if not payload.get("catch"):
                raise
            results.append({"failed": exc.reason, "where": exc.where})
    return {"text": "done", "results": results, "tenant": context.jurisdiction.code}
'''

DEFAULT_REQUIRES = '''
[[requires]]
module = "toy-echo"
operations = ["echo", "crash", "bad_output", "refuse", "hang"]

[[requires]]
interface = "gov.toy"
operations = ["echo"]
'''


def module_folder(tmp: Path, name: str, version: str, body: str, code: str,
                  title: str = "玩具一件事", summary: str = "Toy composite for tests.") -> Path:
    """Write a toy module folder (package named after the module) whose manifest is the
    ``[module]`` table then ``body`` (operations, terms, requires); return it."""
    folder = tmp / "src" / f"{name}-{version}"
    pkg = folder / name.replace("-", "_")
    pkg.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text(f'''[module]
name = "{name}"
version = "{version}"
title = "{title}"
summary = "{summary}"
category = "public_service"
entry = "{name.replace('-', '_')}"
source_license = "MIT"
{body}''', encoding="utf-8")
    (pkg / "__init__.py").write_text(textwrap.dedent(code), encoding="utf-8")
    return folder


def flow_folder(tmp: Path, name: str = "toy-flow", version: str = "1.0.0", terms: str = FREE,
                requires: str = DEFAULT_REQUIRES, code: str = FLOW_CODE) -> Path:
    """Write a toy composite module folder and return it."""
    return module_folder(tmp, name, version, f'''
[[operations]]
name = "run"
units = 1
input = {ANY_IN}
output = {TEXT_OUT}

[terms]
{terms}
{requires}''', code)


def step(target: str, operation: str, payload=None) -> dict:
    """One step of toy-flow's input."""
    return {"target": target, "operation": operation, "payload": payload}


OUTER_REQUIRES = '''
[[requires]]
module = "toy-flow"
operations = ["run"]
'''
OUTER_CODE = '''
from marketplace.sdk import hookimpl


@hookimpl
def run(payload, context):
    inner = context.call("toy-flow", "run", payload)
    return {"text": "outer", "inner": inner}
'''


def publish_nested(catalog, echo_terms: dict) -> None:
    """toy-echo (``echo_terms``) ← toy-flow ← toy-outer, all published: a composite of a composite."""
    catalog.toy("toy-echo", terms=echo_terms, implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp))
    catalog.publish_folder(flow_folder(catalog.tmp, "toy-outer", requires=OUTER_REQUIRES,
                                       code=OUTER_CODE))
