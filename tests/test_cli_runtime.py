"""`eventbus run` and `eventbus dlq`: arguments, output, signals and exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import redis
from waiting import wait_for

from eventbus import keys

RULES = """bus: default
rules:
  - name: orders
    event_pattern: {source: [shop]}
    targets:
      - {id: out, type: redis_stream, stream: out}
"""


def eventbus(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eventbus", *args], capture_output=True,
                          text=True, timeout=60, **kw)  # type: ignore[call-overload]  # fmt: skip


def write_rules(tmp_path: Path, text: str = RULES) -> Path:
    (tmp_path / "rules.yaml").write_text(text)
    return tmp_path


def letter(r: redis.Redis, stream: str, *, rule: str, target: str) -> None:
    fields = {
        "event": '{"id": "e1", "source": "shop"}',
        "bus": "default",
        "rule": rule,
        "rule-arn": "arn",
        "target": target,
        "delivery-id": f"e1:default:{rule}:{target}",
        "error-code": "X",
        "error-message": "m",
        "exhausted-retry-condition": "",
        "attempts": "1",
        "first-attempt-time": "",
        "last-attempt-time": "",
    }
    r.xadd(stream, fields)  # type: ignore[arg-type]


def test_run_help_names_the_options() -> None:
    done = eventbus("run", "--help")
    assert done.returncode == 0
    for option in ("--rules", "--redis", "--claim-idle", "--verbose"):
        assert option in done.stdout


def test_run_refuses_invalid_rules_with_exit_2(tmp_path: Path, redis_url: str) -> None:
    done = eventbus("run", "--rules", str(write_rules(tmp_path, "rules: [{name: x}]")),
                    "--redis", redis_url)  # fmt: skip
    assert done.returncode == 2
    assert "invalid rules" in done.stderr


def test_run_says_which_redis_and_exits_0_on_sigterm(tmp_path: Path, redis_url: str) -> None:
    rules = write_rules(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "run", "--rules", str(rules), "--redis", redis_url],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    r = redis.Redis.from_url(redis_url)
    queue = keys.delivery_queue("default", "orders", "out")
    wait_for(lambda: r.exists(queue), "the router started")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"using Redis {redis_url}" in err


def test_dlq_list_prints_json_lines_and_filters(tmp_path: Path, redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    letter(r, "eb:{default}:dlq", rule="orders", target="out")
    letter(r, "eb:{default}:dlq", rule="orders", target="other")
    rules = str(write_rules(tmp_path))
    done = eventbus("dlq", "list", "--rules", rules, "--redis", redis_url)
    assert done.returncode == 0
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [x["target"] for x in lines] == ["out", "other"]
    assert lines[0]["stream"] == "eb:{default}:dlq"
    assert lines[0]["delivery-id"] == "e1:default:orders:out"
    done = eventbus("dlq", "list", "--rules", rules, "--redis", redis_url, "--target", "other")
    assert [orjson.loads(x)["target"] for x in done.stdout.splitlines()] == ["other"]


def test_dlq_redrive_keeps_a_letter_whose_target_is_gone_and_exits_1(
    tmp_path: Path, redis_url: str
) -> None:
    r = redis.Redis.from_url(redis_url)
    letter(r, "eb:{default}:dlq", rule="orders", target="out")
    letter(r, "eb:{default}:dlq", rule="orders", target="gone")
    done = eventbus("dlq", "redrive", "--rules", str(write_rules(tmp_path)), "--redis", redis_url)
    assert done.returncode == 1
    assert orjson.loads(done.stdout) == {"requeued": 1, "kept": 1}
    assert "no longer exists" in done.stderr
    [(_, kept)] = r.xrange("eb:{default}:dlq")
    assert kept[b"target"] == b"gone"
    assert r.xlen(keys.delivery_queue("default", "orders", "out")) == 1


def test_dlq_redrive_with_nothing_to_do_exits_0(tmp_path: Path, redis_url: str) -> None:
    done = eventbus("dlq", "redrive", "--rules", str(write_rules(tmp_path)), "--redis", redis_url,
                    env={**os.environ})  # fmt: skip
    assert done.returncode == 0
    assert orjson.loads(done.stdout) == {"requeued": 0, "kept": 0}


def test_run_with_http_answers_healthz_and_routes_an_unsigned_put_events_on_loopback(
    tmp_path: Path, redis_url: str
) -> None:
    args = ["run", "--rules", str(write_rules(tmp_path)), "--redis", redis_url,
            "--http", "0", "--no-auth"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "eventbus", *args], stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    base = _gateway_address(proc)  # --http 0: the port picked is said on standard error
    try:
        health = wait_for(lambda: _get(base + "/healthz"), "a healthy gateway")
        assert health.json()["status"] == "ok"
        body = orjson.dumps({"Entries": [{"Source": "shop", "DetailType": "OrderPlaced",
                                          "Detail": "{}"}]})  # fmt: skip
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": "AWSEvents.PutEvents"}  # fmt: skip
        answer = httpx.post(base + "/", content=body, headers=headers).json()
        assert answer["FailedEntryCount"] == 0
        r = redis.Redis.from_url(redis_url)
        wait_for(lambda: r.xlen("out"), "the event delivered to the stream")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_run_with_http_refuses_no_auth_off_loopback_with_exit_2(
    tmp_path: Path, redis_url: str
) -> None:
    done = eventbus("run", "--rules", str(write_rules(tmp_path)), "--redis", redis_url,
                    "--http", "0", "--http-host", "0.0.0.0", "--no-auth")  # fmt: skip
    assert done.returncode == 2
    assert "--no-auth is only allowed on a loopback address" in done.stderr


def _gateway_address(proc: subprocess.Popen[str]) -> str:
    """The address in the startup summary (``..., gateway http://...``) on standard error."""
    assert proc.stderr is not None
    for line in iter(proc.stderr.readline, ""):
        if ", gateway http" in line:
            return line.split(", gateway ", 1)[1].strip()
    raise AssertionError("the router exited without saying where its gateway listens")


def test_run_prints_a_startup_summary(tmp_path: Path, redis_url: str) -> None:
    rules = write_rules(tmp_path, RULES + """  - name: hourly
    state: DISABLED
    schedule_expression: rate(1 hour)
    targets: [{id: out, type: redis_stream, stream: out}]
  - name: nightly
    schedule_expression: cron(0 2 * * ? *)
    targets: [{id: out, type: redis_stream, stream: out}]
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "run", "--rules", str(rules), "--redis", redis_url],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        line = next(x for x in iter(proc.stderr.readline, "") if " rules " in x)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert line.strip() == (f"eventbus: 3 rules (1 disabled) on 1 buses, 1 schedules, "
                            f"Redis {redis_url}, gateway off")  # fmt: skip


def test_run_without_rules_exits_2_before_starting_an_embedded_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EVENTBUS_REDIS_URL"}
    done = eventbus("run", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "rules: no such file or directory" in done.stderr
    assert not (tmp_path / ".eventbus").exists()


def test_version_is_printed() -> None:
    from importlib.metadata import version

    done = eventbus("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"eventbus {version('eventbus')}"


def test_help_shows_flags_without_a_value_placeholder() -> None:
    for command in (["run"], ["serve"], ["test-pattern"], ["--help"]):
        done = eventbus(*command, "--help") if command != ["--help"] else eventbus("--help")
        assert done.returncode == 0
        assert "<bool>" not in done.stdout
        assert "--help" in done.stdout


def _get(url: str) -> httpx.Response | None:
    try:
        answer = httpx.get(url)
    except httpx.TransportError:
        return None
    return answer if answer.status_code == 200 else None
