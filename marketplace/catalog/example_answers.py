"""Sub-calls answered from the required modules' own examples (publish check, test kit).

A composite's examples run without any installation: each ``context.call`` is
answered from the examples the target declares for that operation. The rule,
the same at publish time (``_check_worker.py``) and in :mod:`marketplace.testing`:
an example whose input equals the payload gives its output (``output``, or the
``output_contains`` part); otherwise the operation's first example does; an
operation without examples cannot be answered (``ModuleError("no_example")``).

Standard library and ``marketplace.sdk`` only: the check worker imports this
without the platform.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

from marketplace.sdk import ModuleError


def example_output(example: Mapping[str, Any]) -> Any:
    """What an example says its operation returns (exact, or the part it must contain)."""
    return example["output"] if "output" in example else example.get("output_contains")


def answer(examples: Iterable[Mapping[str, Any]], payload: Any, where: str) -> Any:
    """The answer to a sub-call with ``payload`` from an operation's ``examples``."""
    examples = list(examples)
    if not examples:
        raise ModuleError("no_example", f"{where} has no example to answer a sub-call from; "
                          "the required module must declare [[operations.examples]]", where)
    chosen = next((e for e in examples if e.get("input") == payload), examples[0])
    return copy.deepcopy(example_output(chosen))


def requirement_for(requires: Iterable[Mapping[str, Any]], target: str,
                    operation: str) -> Mapping[str, Any] | None:
    """The ``[[requires]]`` entry (as a manifest table) declaring ``operation`` of ``target``."""
    return next((r for r in requires if target in (r.get("module"), r.get("interface"))
                 and operation in r.get("operations", ())), None)


def undeclared(composite: str, target: str, operation: str) -> ModuleError:
    """The error of a sub-call the composite does not declare."""
    return ModuleError("undeclared_dependency", f"{composite} does not declare {operation} of "
                       f"{target} in its [[requires]]", f"{target}/{operation}")
