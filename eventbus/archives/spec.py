"""An archive's declaration (the ``archives:`` section of a rule file) and its key layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eventbus.patterns import CompiledPattern

__all__ = ["ARCHIVE_NAME_PATTERN", "Archive", "ArchiveSpec"]

# AWS's ArchiveName: 1 to 48 characters of [.\-_A-Za-z0-9].
ARCHIVE_NAME_PATTERN = r"^[\.\-_A-Za-z0-9]+$"


class ArchiveSpec(BaseModel):
    """One entry of ``archives:``; the bus is the file's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=48, pattern=ARCHIVE_NAME_PATTERN)
    description: str = Field(default="", max_length=512)
    event_pattern: dict[str, Any] | None = None
    retention_days: int = Field(default=0, ge=0)


@dataclass(frozen=True, slots=True)
class Archive:
    """An archive in force: its bus, its compiled pattern (None: every event)."""

    name: str
    bus: str
    partitions: int
    pattern: CompiledPattern | None = None
    retention_days: int = 0
    description: str = ""
    source: str = ""  # the rule file that declares it

    def _key(self, partition: int, kind: str) -> str:
        # (eventbus.keys imported here: loading rule files stays free of the runtime's modules)
        from eventbus.keys import bus_partition

        return f"eb:{bus_partition(self.bus, partition)}:archive:{self.name}:{kind}"

    def raw(self, partition: int) -> str:
        """Stream of events captured and not yet compressed: fields ``t`` (event time, ms)
        and ``e`` (the event as published)."""
        return self._key(partition, "raw")

    def blocks(self, partition: int) -> str:
        """Hash: block id → zlib of the block's events, one JSON line each."""
        return self._key(partition, "blocks")

    def index(self, partition: int) -> str:
        """Sorted set of block ids ``<id>|<max ms>|<count>`` scored by their min event time."""
        return self._key(partition, "index")

    def stats(self, partition: int) -> str:
        """Hash of the blocks' totals: ``events`` and ``bytes`` (compressed)."""
        return self._key(partition, "stats")

    def partition_keys(self, partition: int) -> list[str]:
        """Every key of one partition, in one hash slot: raw, blocks, index, stats."""
        p = partition
        return [self.raw(p), self.blocks(p), self.index(p), self.stats(p)]
