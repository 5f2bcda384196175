"""Step Functions' service limits that change how an execution behaves (pure)."""

from __future__ import annotations

from typing import Final

#: The largest input, output or result a state may pass on: 256 KiB of UTF-8 JSON text.
MAX_PAYLOAD_BYTES: Final = 262_144

#: The most events one execution's history may hold; past it the execution fails.
MAX_HISTORY_EVENTS: Final = 25_000

#: State transitions one branch may make: a backstop under the history cap, which a branch of
#: a DISTRIBUTED Map (recorded in its own history) does not meet.
MAX_TRANSITIONS: Final = 1_000_000
