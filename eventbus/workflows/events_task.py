"""``arn:aws:states:::events:putEvents`` (and ``.waitForTaskToken``): publish the task's
``Entries`` to our buses through the bus's own PutEvents, as Step Functions' EventBridge
integration does.

Each entry takes PutEvents' fields (``Source``, ``DetailType``, ``Detail``, ``EventBusName``,
``Resources``, ``Time``, ``TraceHeader``); ``Detail`` may be an object, which is sent as its
JSON text, as Step Functions does. The result is PutEvents' answer (``Entries`` with an
``EventId`` each, ``FailedEntryCount``). Failures, with AWS's names:

* an entry refused (``FailedEntryCount`` > 0): ``EventBridge.FailedEntry``, the cause the
  answer as JSON text (its entries say which failed and why);
* a request PutEvents refuses whole (no ``Entries``, more than 10, not objects):
  ``EventBridge.EventBridgeException``, the cause the validation message.

The idempotency of a repeated call: every entry without an ``IdempotencyKey`` of its own gets
``<task token>:<index>``, the same on every call of one attempt, so a worker that repeats the
call after a crash publishes each event once (within the bus's idempotency window, 5 minutes).
With ``.waitForTaskToken`` the token reaches whoever answers through the entry itself
(``"Detail": {"token.$": "$$.Task.Token"}``); publishing is the same.
"""

from __future__ import annotations

from typing import Any, Final

from eventbus.errors import TaskFailed
from eventbus.workflows import jsontext
from eventbus.workflows.task_services import TaskServices

__all__ = ["MAX_ENTRIES", "PUT_EVENTS", "put_events"]

PUT_EVENTS: Final = "arn:aws:states:::events:putEvents"
MAX_ENTRIES: Final = 10  # PutEvents' limit per call


async def put_events(
    task_input: Any, execution_arn: str, task_token: str, services: TaskServices
) -> dict[str, Any]:
    """Publish the entries of ``task_input``; PutEvents' answer, or ``TaskFailed``."""
    entries = _entries(task_input)
    sent = [_entry(entry, f"{task_token}:{index}") for index, entry in enumerate(entries)]
    answer = await services.publish(sent, hops=0)
    result = {"Entries": answer["Entries"], "FailedEntryCount": answer["FailedEntryCount"]}
    if result["FailedEntryCount"]:
        raise TaskFailed("EventBridge.FailedEntry", jsontext.dumps(result))
    return result


def _entries(task_input: Any) -> list[Any]:
    entries = task_input.get("Entries") if isinstance(task_input, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
        found = "none" if not isinstance(entries, list) else f"{len(entries)}"
        raise _validation(
            f"Value at 'entries' failed to satisfy constraint: Member must be a list of 1 to "
            f"{MAX_ENTRIES} entries (found {found})"
        )
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _validation(f"Value at 'entries.{index + 1}' failed to satisfy constraint: "
                              "Member must be an object")  # fmt: skip
    return entries


def _entry(entry: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    sent = dict(entry)
    detail = sent.get("Detail")
    if detail is not None and not isinstance(detail, str):
        sent["Detail"] = jsontext.dumps(detail)
    sent.setdefault("IdempotencyKey", idempotency_key)
    return sent


def _validation(message: str) -> TaskFailed:
    return TaskFailed(
        "EventBridge.EventBridgeException",
        f"1 validation error detected: {message} (Service: EventBridge, Status Code: 400)",
    )
