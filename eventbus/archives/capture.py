"""What the router adds to a bus batch's acknowledging step for a bus's archives.

Each captured event is an XADD to its archive's raw segment of the entry's partition, made in
the very script that XACKs the entry (see :func:`eventbus.delivery.enqueue_deliveries`): an event
is captured exactly when its entry is acknowledged, so a router dying mid-batch captures nothing
of it and the batch, read again, is captured once. No dedup index is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from eventbus import keys
from eventbus.archives.spec import Archive

__all__ = ["Capture", "CaptureRecord", "captures_of", "event_time_ms"]

# (bus stream, entry id, raw segment stream, XADD fields)
CaptureRecord = tuple[str, bytes, str, dict[str, str | int]]


class Capture:
    """The archives of one bus, and which partition each of its streams is."""

    def __init__(self, archives: Sequence[Archive]) -> None:
        self.archives = tuple(archives)
        self.partitions: dict[bytes, int] = {}
        for archive in self.archives[:1]:
            for p, stream in enumerate(keys.bus_streams(archive.bus, archive.partitions)):
                self.partitions[stream.encode()] = p
        # each archive's raw segment of each partition, made once rather than per event
        self.raw = [[a.raw(p) for p in range(a.partitions)] for a in self.archives]

    def records(
        self, stream: bytes, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> list[CaptureRecord]:
        """The captures of one bus entry: none for an entry that is not a routable event, or
        one carrying ``replay-name`` (a replayed event is already archived)."""
        raw = fields.get(b"event")
        partition = self.partitions.get(stream)
        if raw is None or partition is None:
            return []
        try:
            event: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(event, dict) or "replay-name" in event:
            return []
        found: list[CaptureRecord] = []
        text, bus_stream = "", stream.decode()
        for archive, raw_keys in zip(self.archives, self.raw, strict=True):
            if archive.pattern is not None and not _matches(archive, event):
                continue
            if not text:
                text = raw.decode(errors="replace")
                at = event_time_ms(event.get("time"), _id_ms(entry_id))
            found.append((bus_stream, entry_id, raw_keys[partition], {"t": at, "e": text}))
        return found


def captures_of(archives: Iterable[Archive]) -> dict[str, Capture]:
    """The capture of each bus that has archives."""
    by_bus: dict[str, list[Archive]] = {}
    for archive in archives:
        by_bus.setdefault(archive.bus, []).append(archive)
    return {bus: Capture(found) for bus, found in by_bus.items()}


def _matches(archive: Archive, event: dict[str, Any]) -> bool:
    assert archive.pattern is not None
    try:
        return archive.pattern.matches(event)
    except Exception:  # a pattern past its match budget does not archive, nor stop routing
        return False


def event_time_ms(value: Any, default: int) -> int:
    """An event's ``time`` (ISO 8601) in epoch milliseconds; ``default`` when it has none."""
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            pass
    return default


def _id_ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])
