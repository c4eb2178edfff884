"""A module bundle whose import takes its time (publish-slot tests)."""
from __future__ import annotations

import textwrap

from marketplace.catalog.bundle import build_bundle

SLOW_IMPORT = '''
"""Imports in {seconds} s."""
import time

from marketplace.sdk import hookimpl

time.sleep({seconds})


@hookimpl
def echo(payload, context):
    return {{"text": payload["text"]}}
'''


def slow_import_bundle(tmp_path, name: str, version: str, seconds: float) -> bytes:
    """The bytes of ``name`` ``version`` whose package sleeps ``seconds`` on import."""
    folder = tmp_path / f"{name}-{version}"
    entry = name.replace("-", "_")
    (folder / entry).mkdir(parents=True)
    (folder / "manifest.toml").write_text(textwrap.dedent(f'''\
        [module]
        name = "{name}"
        version = "{version}"
        title = "模块"
        summary = "Imports in its own time."
        category = "public_service"
        entry = "{entry}"
        source_license = "MIT"

        [[operations]]
        name = "echo"
        units = 1
        input = {{ type = "object" }}
        output = {{ type = "object" }}

        [[operations.examples]]
        input = {{ text = "hi" }}
        output = {{ text = "hi" }}

        [terms]
        kind = "free"
        '''), encoding="utf-8")
    (folder / entry / "__init__.py").write_text(SLOW_IMPORT.format(seconds=seconds), encoding="utf-8")
    return build_bundle(folder, tmp_path / f"dist-{name}-{version}").read_bytes()
