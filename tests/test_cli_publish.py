"""``eventbus put`` and ``eventbus embedded``: output, exit codes and the Redis they use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from typer.testing import CliRunner

from eventbus import keys
from eventbus.cli import app

ROOT = Path(__file__).parent.parent
EVENTBUS = str(Path(sys.executable).parent / "eventbus")
SINGLE = ["--source", "shop", "--detail-type", "OrderPlaced", "--detail", '{"id": 1}']


def invoke(args: list[str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, args, input=stdin)


def published(url: str, bus: str = "default") -> list[dict[str, Any]]:
    with redis.Redis.from_url(url) as client:
        return [orjson.loads(f[b"event"]) for _, f in client.xrange(keys.bus_stream(bus, 0))]


def test_put_one_entry_prints_the_result_and_exits_0(redis_url: str) -> None:
    done = invoke(["put", *SINGLE, "--redis", redis_url])
    assert done.exit_code == 0, done.output
    result = orjson.loads(done.stdout)
    assert result["FailedEntryCount"] == 0
    [event] = published(redis_url)
    assert event["id"] == result["Entries"][0]["EventId"]
    assert event["detail"] == {"id": 1}


def test_put_passes_bus_resources_time_and_idempotency_key(redis_url: str) -> None:
    extra = ["--bus", "orders", "--resources", "arn:a", "--resources", "arn:b",
             "--time", "2024-01-02T03:04:05Z", "--idempotency-key", "k"]  # fmt: skip
    first = orjson.loads(invoke(["put", *SINGLE, *extra, "--redis", redis_url]).stdout)
    again = orjson.loads(invoke(["put", *SINGLE, *extra, "--redis", redis_url]).stdout)
    assert again == first
    [event] = published(redis_url, "orders")
    assert event["resources"] == ["arn:a", "arn:b"]
    assert event["time"] == "2024-01-02T03:04:05Z"


def test_a_failed_entry_exits_1(redis_url: str) -> None:
    done = invoke(["put", *SINGLE[:4], "--detail", "[1]", "--redis", redis_url])
    assert done.exit_code == 1
    assert orjson.loads(done.stdout)["Entries"] == [
        {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    ]


def test_put_file_publishes_json_lines_with_object_or_text_detail(redis_url: str) -> None:
    done = invoke(["put", "--file", str(ROOT / "examples" / "events.jsonl"), "--redis", redis_url])
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["FailedEntryCount"] == 0
    events = published(redis_url, "shop")
    assert [e["detail"]["order_id"] for e in events] == ["o-1001", "o-1002", "o-1002"]


def test_put_file_dash_reads_stdin_and_skips_blank_lines(redis_url: str) -> None:
    lines = '{"Source": "s", "DetailType": "t", "Detail": {}}\n\n{"Source": "aws.x"}\n'
    done = invoke(["put", "--file", "-", "--redis", redis_url], stdin=lines)
    assert done.exit_code == 1
    result = orjson.loads(done.stdout)
    assert result["FailedEntryCount"] == 1
    assert len(result["Entries"]) == 2


def test_a_line_that_is_not_json_exits_2_and_publishes_nothing(redis_url: str) -> None:
    lines = '{"Source": "s", "DetailType": "t", "Detail": {}}\n{oops\n'
    done = invoke(["put", "--file", "-", "--redis", redis_url], stdin=lines)
    assert done.exit_code == 2
    assert "stdin:2" in done.stderr
    assert published(redis_url) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["put", "--file", "/nonexistent/events.jsonl"], "No such file"),
        (["put", "--source", "s"], "required"),
        (["put", "--file", "-", "--source", "s"], "--file"),
        (["put", *SINGLE[:4], "--detail", "{nope"], "--detail is not valid JSON"),
    ],
)
def test_usage_file_and_json_errors_exit_2(redis_url: str, args: list[str], message: str) -> None:
    done = invoke([*args, "--redis", redis_url], stdin="")
    assert done.exit_code == 2
    assert message in done.stderr


def test_an_empty_file_exits_2(redis_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    done = invoke(["put", "--file", str(empty), "--redis", redis_url])
    assert done.exit_code == 2
    assert "no entries" in done.stderr


def test_an_unreachable_redis_exits_1_with_the_error(tmp_path: Path) -> None:
    done = invoke(["put", *SINGLE, "--redis", "redis://127.0.0.1:1/0"])
    assert done.exit_code == 1
    assert "Redis" in done.stderr


def test_put_says_on_stderr_which_redis_it_uses(redis_url: str) -> None:
    done = subprocess.run(
        [EVENTBUS, "put", *SINGLE, "--redis", redis_url], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stderr == f"eventbus: using Redis {redis_url} (--redis)\n"


def test_put_to_a_bus_no_router_registered_warns_and_still_publishes(redis_url: str) -> None:
    done = invoke(["put", *SINGLE, "--bus", "shpo", "--redis", redis_url])
    assert done.exit_code == 0, done.output
    assert "warning: bus 'shpo' is not registered" in done.stderr
    [event] = published(redis_url, "shpo")
    assert event["id"] == orjson.loads(done.stdout)["Entries"][0]["EventId"]


def test_put_to_a_registered_bus_or_the_default_bus_does_not_warn(redis_url: str) -> None:
    from eventbus import bus
    from eventbus.connection import connect

    with connect(redis_url) as client:
        bus.run(client, bus.register_bus("shop", {}))
    lines = "".join(
        orjson.dumps({**entry, "Source": "s", "DetailType": "d", "Detail": {}}).decode() + "\n"
        for entry in ({"EventBusName": "shop"}, {}, {"EventBusName": "shpo"})
    )
    done = invoke(["put", "--file", "-", "--redis", redis_url], stdin=lines)
    assert done.exit_code == 0, done.output
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "'shpo'" in warnings[0]


def test_put_on_the_embedded_default_then_embedded_stop(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True}
    try:
        first = subprocess.run([EVENTBUS, "put", *SINGLE], **run)  # type: ignore[call-overload]
        assert first.returncode == 0, first.stderr
        assert "embedded" in first.stderr
        status = subprocess.run([EVENTBUS, "embedded", "status"], **run)  # type: ignore[call-overload]
        url = status.stdout.strip()
        [event] = published(url)
        assert event["id"] == orjson.loads(first.stdout)["Entries"][0]["EventId"]
    finally:
        stopped = subprocess.run([EVENTBUS, "embedded", "stop"], **run)  # type: ignore[call-overload]
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    after = subprocess.run([EVENTBUS, "embedded", "status"], **run)  # type: ignore[call-overload]
    assert after.returncode == 1
