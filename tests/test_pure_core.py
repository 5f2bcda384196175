"""The pure core (patterns, transforms, schedule maths, rule models and loading, routing) imports
no Redis, HTTP, asyncio or Redis key naming: checked in a fresh interpreter, with a rule file
that uses every built-in target type, so each type's settings are validated too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

PURE = ["eventbus.patterns", "eventbus.transform", "eventbus.schedule", "eventbus.rules",
        "eventbus.config", "eventbus.rule_reader", "eventbus.ruleset",
        "eventbus.router"]  # fmt: skip
TRANSPORT = ["redis", "aiohttp", "httpx", "starlette", "uvicorn", "asyncio", "eventbus.keys"]

RULES = """\
rules:
  - name: sends
    event_pattern: {source: [shop]}
    targets:
      - {id: h, type: http, url: "https://x.example/*", path_parameters: [$.id],
         auth: {type: bearer, token_env: TOKEN}}
      - {id: a, type: airflow, base_url: "https://airflow.example", dag_id: d}
      - {id: s, type: redis_stream, stream: out}
      - {id: l, type: redis_list, list: out}
  - name: ticks
    schedule_expression: rate(1 minute)
    targets:
      - {id: p, type: python, function: "os:getcwd"}
      - {id: b, type: bus, bus_name: other}
      - {id: g, type: log}
      - {id: m, type: memory, name: m}
"""


def test_loading_rules_and_routing_import_no_transport(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    script = f"""
import sys, orjson
{"; ".join(f"import {m}" for m in PURE)}
from eventbus.config import load_rules
from eventbus.router import route
rules = load_rules({str(tmp_path)!r})
event = {{"id": "e1", "source": "shop", "detail-type": "t", "detail": {{"id": 1}}}}
assert len(route(event, rules.buses["default"], matcher=rules.matcher("default"))) == 4
print(orjson.dumps(sorted(sys.modules)).decode())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    loaded = orjson.loads(out.stdout)
    leaked = [m for m in loaded if any(m == t or m.startswith(t + ".") for t in TRANSPORT)]
    assert leaked == []
