"""Process-wide settings, read once from the environment.

Every default has a name here; nothing else in the package reads ``os.environ`` for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["DEFAULT_BUS", "Settings", "bus_arn", "get_settings", "rule_arn"]

DEFAULT_BUS = "default"
DEFAULT_ACCOUNT = "000000000000"
DEFAULT_REGION = "local"
# Today's EventBridge payload limit (raised from 256 KB in 2026); we apply it per entry.
DEFAULT_MAX_ENTRY_BYTES = 1_048_576
# EventBridge's API limit on EventPattern's length.
DEFAULT_MAX_PATTERN_CHARS = 4096
# Events a rule's own targets put back on a bus carry a hop count; past this it is a loop.
DEFAULT_MAX_HOPS = 5
# The gateway's defences against clients that hold memory or connections without a valid key.
DEFAULT_MAX_UNVERIFIED_BYTES = 64 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000
# Matcher steps one event may take against a bus's rules (a leaf looked at, a predicate run, a
# state reached). A realistic event takes a few hundred, the largest entry with 100,000-element
# arrays a few hundred thousand; this bounds any event to well under a second or two of CPU.
DEFAULT_MATCH_BUDGET = 2_000_000
# How long a closed workflow execution is kept (AWS keeps a closed Standard execution 90 days).
DEFAULT_WORKFLOW_RETENTION_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class Settings:
    account: str = DEFAULT_ACCOUNT  # EVENTBUS_ACCOUNT: the `account` of events and every ARN
    region: str = DEFAULT_REGION  # EVENTBUS_REGION: the `region` of events and every ARN
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES  # EVENTBUS_MAX_ENTRY_BYTES: per PutEvents entry
    max_pattern_chars: int = DEFAULT_MAX_PATTERN_CHARS  # EVENTBUS_MAX_PATTERN_CHARS
    max_hops: int = DEFAULT_MAX_HOPS  # EVENTBUS_MAX_HOPS: bus-to-bus hops before LOOP_DETECTED
    # EVENTBUS_MAX_UNVERIFIED_BYTES: gateway bodies held before their signature is checked
    max_unverified_bytes: int = DEFAULT_MAX_UNVERIFIED_BYTES
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # EVENTBUS_BODY_TIMEOUT: s for a gateway body
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # EVENTBUS_MAX_CONNECTIONS: gateway's cap
    match_budget: int = DEFAULT_MATCH_BUDGET  # EVENTBUS_MATCH_BUDGET: matcher steps per event
    # EVENTBUS_RULE_CACHE_DIR: where compiled rule sets are kept between starts ("": nowhere;
    # the environment's default is the user's cache directory, see default_cache_dir)
    rule_cache_dir: str = ""
    # EVENTBUS_WORKFLOW_RETENTION_DAYS: how long closed workflow executions are kept
    workflow_retention_days: float = DEFAULT_WORKFLOW_RETENTION_DAYS

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            account=env.get("EVENTBUS_ACCOUNT", DEFAULT_ACCOUNT),
            region=env.get("EVENTBUS_REGION", DEFAULT_REGION),
            max_entry_bytes=int(env.get("EVENTBUS_MAX_ENTRY_BYTES", DEFAULT_MAX_ENTRY_BYTES)),
            max_pattern_chars=int(env.get("EVENTBUS_MAX_PATTERN_CHARS", DEFAULT_MAX_PATTERN_CHARS)),
            max_hops=int(env.get("EVENTBUS_MAX_HOPS", DEFAULT_MAX_HOPS)),
            max_unverified_bytes=int(
                env.get("EVENTBUS_MAX_UNVERIFIED_BYTES", DEFAULT_MAX_UNVERIFIED_BYTES)
            ),
            body_timeout=float(env.get("EVENTBUS_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT)),
            max_connections=int(env.get("EVENTBUS_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS)),
            match_budget=int(env.get("EVENTBUS_MATCH_BUDGET", DEFAULT_MATCH_BUDGET)),
            rule_cache_dir=env.get("EVENTBUS_RULE_CACHE_DIR", default_cache_dir()),
            workflow_retention_days=float(
                env.get("EVENTBUS_WORKFLOW_RETENTION_DAYS", DEFAULT_WORKFLOW_RETENTION_DAYS)
            ),
        )


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/eventbus``, else ``~/.cache/eventbus``; "" without a home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return os.path.join(base, "eventbus")
    home = os.path.expanduser("~")
    return os.path.join(home, ".cache", "eventbus") if home != "~" else ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def rule_arn(bus: str, rule: str, settings: Settings | None = None) -> str:
    """EventBridge's rule ARN: the bus appears in it only when it is not the default bus."""
    s = settings or get_settings()
    path = rule if bus == DEFAULT_BUS else f"{bus}/{rule}"
    return f"arn:aws:events:{s.region}:{s.account}:rule/{path}"


def bus_arn(bus: str, settings: Settings | None = None) -> str:
    """EventBridge's event-bus ARN."""
    s = settings or get_settings()
    return f"arn:aws:events:{s.region}:{s.account}:event-bus/{bus}"
