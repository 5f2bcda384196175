"""The pure router: which deliveries an event makes, with what payload, and which it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventbus.config import RuleSet, load_rules
from eventbus.router import (
    INVALID_TRANSFORMED_INPUT,
    LOOP_DETECTED,
    Delivery,
    delivery_id,
    route,
    route_to_rule,
)
from eventbus.settings import Settings

ORDERS = """
bus: default
rules:
  - name: orders
    event_pattern: {source: [shop]}
    targets:
      - id: audit
        type: log
      - id: out
        type: redis_stream
        stream: orders-out
        dead_letter: {stream: orders-dead}
  - name: big-orders
    event_pattern: {source: [shop], detail: {total: [{numeric: [">", 100]}]}}
    targets:
      - id: shaped
        type: log
        input_transformer:
          input_paths: {id: $.detail.id, note: $.detail.note}
          input_template: '{"order": <id>, "note": "<note>", "rule": "<aws.events.rule-name>"}'
      - id: constant
        type: log
        input: {"fixed": true}
      - id: path
        type: log
        input_path: $.detail
  - name: sleeping
    state: DISABLED
    event_pattern: {source: [shop]}
    targets:
      - id: never
        type: log
"""


def load(tmp_path: Path, text: str = ORDERS, name: str = "rules.yaml") -> RuleSet:
    (tmp_path / name).write_text(text)
    return load_rules(tmp_path)


def event(**detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "ev-1",
        "detail-type": "OrderPlaced",
        "source": "shop",
        "account": "000000000000",
        "time": "2026-01-01T00:00:00Z",
        "region": "local",
        "resources": [],
        "detail": detail,
    }


def route_on(
    ruleset: RuleSet, ev: dict[str, Any], bus: str = "default", **kw: Any
) -> list[Delivery]:
    return route(ev, ruleset.buses[bus], matcher=ruleset.matcher(bus), **kw)


def by_target(deliveries: list[Delivery]) -> dict[str, Delivery]:
    return {d.target_id: d for d in deliveries}


def test_an_event_matching_no_rule_makes_no_delivery(tmp_path: Path) -> None:
    rs = load(tmp_path)
    assert route_on(rs, {**event(), "source": "elsewhere"}) == []


def test_each_target_of_each_matching_rule_gets_one_delivery(tmp_path: Path) -> None:
    rs = load(tmp_path)
    got = route_on(rs, event(total=500, id=7, note="x"))
    assert sorted((d.rule, d.target_id) for d in got) == [
        ("big-orders", "constant"),
        ("big-orders", "path"),
        ("big-orders", "shaped"),
        ("orders", "audit"),
        ("orders", "out"),
    ]


def test_a_disabled_rule_is_not_routed(tmp_path: Path) -> None:
    rs = load(tmp_path)
    assert "never" not in by_target(route_on(rs, event()))


def test_without_input_the_payload_is_the_event_as_read(tmp_path: Path) -> None:
    rs = load(tmp_path)
    text = '{"id": "ev-1", "source": "shop",  "detail": {}}'
    got = by_target(route_on(rs, orjson.loads(text), event_text=text))
    assert got["audit"].payload == text
    assert got["audit"].event_text == text


def test_without_event_text_the_event_is_encoded(tmp_path: Path) -> None:
    rs = load(tmp_path)
    ev = event()
    got = by_target(route_on(rs, ev))
    assert orjson.loads(got["audit"].payload or "") == ev


def test_input_shaping_is_applied_per_target(tmp_path: Path) -> None:
    rs = load(tmp_path)
    got = by_target(route_on(rs, event(total=500, id=7, note="n")))
    assert orjson.loads(got["shaped"].payload or "") == {
        "order": 7,
        "note": "n",
        "rule": "big-orders",
    }
    assert orjson.loads(got["constant"].payload or "") == {"fixed": True}
    assert orjson.loads(got["path"].payload or "") == {"total": 500, "id": 7, "note": "n"}


def test_the_delivery_id_names_event_bus_rule_and_target(tmp_path: Path) -> None:
    rs = load(tmp_path)
    got = by_target(route_on(rs, event()))
    assert got["out"].delivery_id == "ev-1:default:orders:out"
    assert delivery_id("e", "b", "r", "t") == "e:b:r:t"


def test_the_rule_arn_of_the_default_bus_omits_the_bus(tmp_path: Path) -> None:
    rs = load(tmp_path)
    got = by_target(route_on(rs, event()))
    assert got["out"].rule_arn.endswith(":rule/orders")


def test_the_rule_arn_of_another_bus_names_it(tmp_path: Path) -> None:
    rs = load(tmp_path, ORDERS.replace("bus: default", "bus: sales"))
    got = by_target(route_on(rs, event(), bus="sales"))
    assert got["out"].rule_arn.endswith(":rule/sales/orders")
    assert got["out"].delivery_id == "ev-1:sales:orders:out"


def test_an_output_made_invalid_by_the_event_is_an_invalid_transformed_input(
    tmp_path: Path,
) -> None:
    rs = load(tmp_path)
    got = by_target(route_on(rs, event(total=500, id=7, note='a"b')))
    shaped = got["shaped"]
    assert shaped.payload is None
    assert shaped.error_code == INVALID_TRANSFORMED_INPUT
    assert "invalid JSON" in shaped.error_message
    assert got["constant"].payload is not None  # the other targets are not affected


def test_hops_up_to_the_limit_are_routed(tmp_path: Path) -> None:
    rs = load(tmp_path)
    got = route_on(rs, event(), hops=5, settings=Settings(max_hops=5))
    assert all(d.payload is not None and d.hops == 5 for d in got)


def test_hops_past_the_limit_are_loop_detected_for_every_target(tmp_path: Path) -> None:
    rs = load(tmp_path)
    got = route_on(rs, event(), hops=6, settings=Settings(max_hops=5))
    assert {d.error_code for d in got} == {LOOP_DETECTED}
    assert all(d.payload is None for d in got)
    assert "6 bus-to-bus hops, past the limit of 5" in got[0].error_message


def test_the_bus_hop_limit_overrides_the_setting(tmp_path: Path) -> None:
    rs = load(tmp_path, ORDERS.replace("rules:", "bus_config: {max_hops: 1}\nrules:", 1))
    got = route_on(rs, event(), hops=2, settings=Settings(max_hops=5))
    assert {d.error_code for d in got} == {LOOP_DETECTED}


def test_dead_letters_go_to_the_target_stream_then_the_bus_default_else_the_runtime_names_it(
    tmp_path: Path,
) -> None:
    rs = load(tmp_path)
    got = by_target(route_on(rs, event()))
    assert got["out"].dead_letter == "orders-dead"
    assert got["audit"].dead_letter is None  # the runtime's eb:{default}:dlq
    with_default = ORDERS.replace("rules:", "bus_config: {dead_letter: {stream: dl}}\nrules:", 1)
    got = by_target(route_on(load(tmp_path, with_default), event()))
    assert got["audit"].dead_letter == "dl"
    assert got["out"].dead_letter == "orders-dead"


def test_ingestion_time_and_age_budget_travel_with_the_delivery(tmp_path: Path) -> None:
    text = ORDERS.replace('"<aws.events.rule-name>"', '"<aws.events.event.ingestion-time>"')
    rs = load(tmp_path, text)
    ev = event(total=500, id=1, note="")
    got = by_target(route_on(rs, ev, ingestion_time="2026-01-01T00:00:00.123Z", since_ms=42))
    assert orjson.loads(got["shaped"].payload or "")["rule"] == "2026-01-01T00:00:00.123Z"
    assert got["shaped"].since_ms == 42


def test_route_to_rule_addresses_a_rule_without_matching(tmp_path: Path) -> None:
    rs = load(tmp_path)
    rule = rs.rule("default", "sleeping")
    got = route_to_rule({"id": "tick"}, [rule], rs.buses["default"])
    assert [(d.rule, d.target_id, d.delivery_id) for d in got] == [
        ("sleeping", "never", "tick:default:sleeping:never")
    ]


@pytest.mark.parametrize("module", ["eventbus.router", "eventbus.retry"])
def test_the_router_is_pure(module: str) -> None:
    io = "{'redis', 'asyncio', 'httpx'}"
    code = f"import sys, {module}; print(sorted({io} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
