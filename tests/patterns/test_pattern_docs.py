"""The examples in docs/patterns.md are real: each JSON block's pattern matches its event."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from eventbus.patterns import compile_pattern
from eventbus.patterns.reference import reference_matches

DOC = Path(__file__).resolve().parents[2] / "docs" / "patterns.md"


def _examples() -> list[tuple[Any, Any]]:
    pairs = []
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL):
        decoder, docs, pos = json.JSONDecoder(), [], 0
        while block[pos:].strip():
            value, end = decoder.raw_decode(
                block, pos + len(block[pos:]) - len(block[pos:].lstrip())
            )
            docs.append(value)
            pos = end
        pairs.append((docs[0], docs[1]))
    return pairs


@pytest.mark.parametrize(("pattern", "event"), _examples())
def test_documented_example_matches(pattern: Any, event: Any) -> None:
    assert compile_pattern(pattern).matches(event)
    assert reference_matches(pattern, event)
