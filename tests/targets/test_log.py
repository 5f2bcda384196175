"""The log target: one JSON line per delivery, to standard output or a file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from eventbus.targets.base import TargetServices
from eventbus.targets.log import LogConfig, LogTarget

from .conftest import EVENT, make_ctx

SERVICES = TargetServices(redis=None)


async def test_writes_one_json_line_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    target = LogTarget(LogConfig(), SERVICES)
    await target.send('{"a": 1}', make_ctx(attempt=2))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert record["payload"] == '{"a": 1}'
    assert record["delivery-id"] == f"{EVENT['id']}:shop:orders:t1"
    assert (record["bus"], record["rule"], record["target"], record["attempt"]) == (
        "shop",
        "orders",
        "t1",
        2,
    )
    assert record["time"].endswith("Z")


async def test_appends_lines_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"earlier": true}\n')
    target = LogTarget(LogConfig(path=str(path)), SERVICES)
    await target.send("one", make_ctx())
    await target.send("two\nlines", make_ctx())
    await target.aclose()
    await target.aclose()
    lines = path.read_text().splitlines()
    assert [orjson.loads(line).get("payload") for line in lines] == [None, "one", "two\nlines"]


async def test_makes_the_files_directory_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "nested" / "shop.jsonl"
    target = LogTarget(LogConfig(path=str(path)), SERVICES)
    await target.send("one", make_ctx())
    await target.aclose()
    assert orjson.loads(path.read_text())["payload"] == "one"
