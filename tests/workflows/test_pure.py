"""The workflow core is pure: running an execution imports no Redis, HTTP or asyncio."""

from __future__ import annotations

import subprocess
import sys

import orjson

TRANSPORT = ["redis", "aiohttp", "httpx", "starlette", "uvicorn", "asyncio", "eventbus.keys"]


def test_running_an_execution_imports_no_transport() -> None:
    script = """
import sys, orjson
from eventbus.workflows import run_local, test_state, validate_definition
definition = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
assert run_local(definition, "{}")["status"] == "SUCCEEDED"
print(orjson.dumps(sorted(sys.modules)).decode())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    loaded = set(orjson.loads(out.stdout))
    assert not [m for m in TRANSPORT if m in loaded or any(n.startswith(m + ".") for n in loaded)]
