"""Routing: which targets an event goes to, and with what payload (pure: no I/O).

The router returns, the worker does: :func:`route` matches one event against a bus's rules and
returns one :class:`Delivery` per matching (rule, target), with the target's input already
shaped. A delivery that cannot be made at all (a loop, an input transformer whose output is not
valid for this event) is returned too, carrying its error, so the worker dead-letters it instead
of dropping it::

    route({"id": "e1", "source": "shop", ...}, bus_rules, matcher=ruleset.matcher("default"))
    → [Delivery(bus="default", rule="orders", target_id="audit",
                delivery_id="e1:default:orders:audit", payload='{"id": "e1", ...}', ...)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from eventbus.settings import Settings, get_settings
from eventbus.transform import InputContext

if TYPE_CHECKING:
    from eventbus.config import BusRules, LoadedRule, LoadedTarget
    from eventbus.patterns import Matcher

__all__ = [
    "INVALID_TRANSFORMED_INPUT",
    "LOOP_DETECTED",
    "MATCH_BUDGET_EXCEEDED",
    "Delivery",
    "dead_letter_stream",
    "delivery_id",
    "max_hops",
    "route",
    "route_to_rule",
    "shape_delivery",
]

LOOP_DETECTED = "LOOP_DETECTED"
INVALID_TRANSFORMED_INPUT = "INVALID_TRANSFORMED_INPUT"
# The dead-letter code of an event that took more matcher steps than EVENTBUS_MATCH_BUDGET: it
# matches no rule (route raises MatchBudgetExceededError) and the worker dead-letters it as is.
MATCH_BUDGET_EXCEEDED = "MATCH_BUDGET_EXCEEDED"


# Not frozen: a router makes one per delivery, and a frozen dataclass takes six times as long
# to build. Treat it as immutable all the same.
@dataclass(slots=True)
class Delivery:
    """One event for one target of one rule: what the target gets, or why it cannot get it.

    ``payload`` is ``None`` exactly when ``error_code`` is set. ``since_ms`` (ms since the epoch)
    starts the event-age budget of the retry policy: the event's ingestion.
    """

    bus: str
    rule: str
    rule_arn: str
    target_id: str
    delivery_id: str
    event_id: str
    event_text: str
    payload: str | None
    hops: int
    since_ms: int
    dead_letter: str | None  # None: the bus's default dead letters, which the runtime names
    error_code: str = ""
    error_message: str = ""


def delivery_id(event_id: str, bus: str, rule: str, target_id: str) -> str:
    """``<event-id>:<bus>:<rule>:<target-id>``: the same across retries and redrives."""
    return f"{event_id}:{bus}:{rule}:{target_id}"


def dead_letter_stream(target: LoadedTarget, bus_rules: BusRules) -> str | None:
    """The target's own dead-letter stream, else the bus's default; None when neither names one
    (the runtime then uses the bus-level stream, a Redis key name routing does not know)."""
    if target.dead_letter_stream:
        return target.dead_letter_stream
    default = bus_rules.config.dead_letter
    return default.stream if default is not None else None


def max_hops(bus_rules: BusRules, settings: Settings | None = None) -> int:
    """The bus's hop limit, else the process-wide setting."""
    own = bus_rules.config.max_hops
    return own if own is not None else (settings or get_settings()).max_hops


def route(
    event: dict[str, Any],
    bus_rules: BusRules,
    *,
    matcher: Matcher,
    event_text: str | None = None,
    hops: int = 0,
    ingestion_time: str | None = None,
    since_ms: int = 0,
    settings: Settings | None = None,
) -> list[Delivery]:
    """Every delivery of ``event`` on the bus: one per target of each matching rule.

    ``event_text`` is the event as it was read (saves encoding it again); ``hops`` counts the
    bus-to-bus hops behind it: past the bus's limit every delivery is a ``LOOP_DETECTED`` one.
    ``MatchBudgetExceededError`` when matching takes more than ``settings.match_budget`` steps.
    """
    names = matcher.match(event, (settings or get_settings()).match_budget)
    if not names:
        return []
    rules = [bus_rules.rules[name] for name in names if name in bus_rules.rules]
    return route_to_rule(
        event,
        rules,
        bus_rules,
        event_text=event_text,
        hops=hops,
        ingestion_time=ingestion_time,
        since_ms=since_ms,
        settings=settings,
    )


def route_to_rule(
    event: dict[str, Any],
    rules: Iterable[LoadedRule],
    bus_rules: BusRules,
    *,
    event_text: str | None = None,
    hops: int = 0,
    ingestion_time: str | None = None,
    since_ms: int = 0,
    settings: Settings | None = None,
) -> list[Delivery]:
    """The deliveries of ``event`` to every target of ``rules``, matched or not (a scheduler's
    tick is addressed to its rule directly)."""
    text = event_text if event_text is not None else orjson.dumps(event).decode()
    limit = max_hops(bus_rules, settings)
    loop = ""
    if hops > limit:
        loop = f"the event has made {hops} bus-to-bus hops, past the limit of {limit}"
    out: list[Delivery] = []
    for rule in rules:
        ctx = InputContext(rule_name=rule.name, rule_arn=rule.arn, ingestion_time=ingestion_time)
        for target in rule.targets:
            out.append(shape_delivery(event, text, rule, target, bus_rules, ctx, hops=hops,
                                      since_ms=since_ms, loop=loop))  # fmt: skip
    return out


def shape_delivery(
    event: dict[str, Any],
    event_text: str,
    rule: LoadedRule,
    target: LoadedTarget,
    bus_rules: BusRules,
    ctx: InputContext,
    *,
    hops: int = 0,
    since_ms: int = 0,
    loop: str = "",
) -> Delivery:
    """The delivery of ``event`` to one target; ``loop``, when set, says why it is a loop."""
    payload, code, message = _shape(event, event_text, target, ctx, loop)
    return Delivery(
        bus=bus_rules.name,
        rule=rule.name,
        rule_arn=rule.arn,
        target_id=target.id,
        delivery_id=delivery_id(event["id"], bus_rules.name, rule.name, target.id),
        event_id=event["id"],
        event_text=event_text,
        payload=payload,
        hops=hops,
        since_ms=since_ms,
        dead_letter=dead_letter_stream(target, bus_rules),
        error_code=code,
        error_message=message,
    )


def _shape(
    event: dict[str, Any], event_text: str, target: LoadedTarget, ctx: InputContext, loop: str
) -> tuple[str | None, str, str]:
    """(payload, "", "") or (None, error code, error message); ``loop`` says why it is one."""
    if loop:
        return None, LOOP_DETECTED, loop
    spec = target.spec
    if not spec.has_input and spec.input_path is None and spec.input_transformer is None:
        return event_text, "", ""  # the whole event: the text read needs no encoding again
    try:
        return target.input.render(event, ctx), "", ""
    except Exception as e:  # any failure to shape is this event's, not the router's
        return None, INVALID_TRANSFORMED_INPUT, str(e) or type(e).__name__
