"""What a running gateway holds: the loaded rules and workflow files, a publishing client,
metrics and its limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from eventbus.bus import PartitionMap
from eventbus.client import AsyncEventBusClient
from eventbus.config import RuleSet
from eventbus.metrics import Metrics
from eventbus.settings import Settings, get_settings
from eventbus.workflows.registry import NO_FILES, MachineFiles

if TYPE_CHECKING:
    from eventbus.workflows.tasks import TaskResolver

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "REQUEST_OVERHEAD_BYTES",
    "Gateway",
    "default_max_request_bytes",
]

# EventBridge's PutEvents limit; --max-entries raises it.
DEFAULT_MAX_ENTRIES = 10
# Room for the JSON around the entries (keys, quoting) above their own size.
REQUEST_OVERHEAD_BYTES = 64 * 1024
# Entries are sized by EventBridge's formula (the text itself), but travel JSON-escaped: escaping
# can triple a string (`é` is sent as `\u00e9`, 6 bytes for its 2).
JSON_ESCAPING_FACTOR = 3


def default_max_request_bytes(max_entries: int, settings: Settings | None = None) -> int:
    """The body cap when none is given: ``max_entries`` entries of the largest size, each as
    escaped as JSON can make it, + 64 KiB. It only guards memory: entries are judged one by one
    by their own size (:func:`eventbus.events.entry_size`)."""
    largest = (settings or get_settings()).max_entry_bytes
    return JSON_ESCAPING_FACTOR * max_entries * largest + REQUEST_OVERHEAD_BYTES


@dataclass(slots=True)
class Gateway:
    """One gateway's parts. ``secrets`` maps access key ids to secret keys; None turns
    authentication off (allowed on loopback only, which the command line enforces)."""

    rules: RuleSet
    client: AsyncEventBusClient
    redis: Redis
    metrics: Metrics
    secrets: Mapping[str, str] | None
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_request_bytes: int = 0
    # 0 (or less) takes the setting of the same name.
    max_unverified_bytes: int = 0
    body_timeout: float = 0.0
    max_connections: int = 0
    settings: Settings = field(default_factory=get_settings)
    # CloudEvents are published with their own envelope edits, so they keep their own map.
    partitions: PartitionMap = field(default_factory=PartitionMap)
    # Bytes of bodies admitted (by their Content-Length) whose signature is not yet checked.
    unverified_bytes: int = 0
    # The state machines of the workflow files, read-only over the Step Functions API; a host
    # that loads or reloads workflow files sets it.
    catalog: MachineFiles = NO_FILES
    # What synchronous Express executions call their tasks with: built on first use
    # (``sfn_express``), closed with the app.
    workflow_tasks: TaskResolver | None = None

    def __post_init__(self) -> None:
        if self.max_request_bytes <= 0:
            self.max_request_bytes = default_max_request_bytes(self.max_entries, self.settings)
        if self.max_unverified_bytes <= 0:
            self.max_unverified_bytes = self.settings.max_unverified_bytes
        # Never below one largest request, or such a request could never be let in.
        self.max_unverified_bytes = max(self.max_unverified_bytes, self.max_request_bytes)
        if self.body_timeout <= 0:
            self.body_timeout = self.settings.body_timeout
        if self.max_connections <= 0:
            self.max_connections = self.settings.max_connections
