"""JSON text as Step Functions writes it into outputs, causes and history details (pure).

AWS serialises compactly (``{"a":1}``) and keeps non-ASCII characters as they are; orjson
writes exactly that form, and its bytes measure a payload against the 256 KiB limit.
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Compact JSON text of a parsed JSON value."""
    return orjson.dumps(value).decode()


def dumps_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)

