"""The EventBridge event envelope and PutEvents entries (pure: no I/O)."""

from __future__ import annotations

from typing import Any

from eventbus.errors import InvalidEventError

__all__ = ["TEST_EVENT_REQUIRED_FIELDS", "check_test_event"]

# TestEventPattern judges only events carrying these fields (`resources` and `version` are
# optional in practice: AWS judged recorded events without them).
TEST_EVENT_REQUIRED_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def check_test_event(event: Any) -> dict[str, Any]:
    """The event TestEventPattern accepts, or ``InvalidEventError`` as AWS answers it."""
    if not isinstance(event, dict) or any(f not in event for f in TEST_EVENT_REQUIRED_FIELDS):
        raise InvalidEventError("ValidationException", "Parameter Event is not valid.")
    return event
