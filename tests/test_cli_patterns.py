"""``eventbus test-pattern``: true/0, false/1, and 2 with a message for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventbus.cli import app
from eventbus.settings import get_settings

EVENT = {
    "id": "1",
    "account": "000000000000",
    "source": "shop.orders",
    "time": "2024-01-01T00:00:00Z",
    "region": "local",
    "detail-type": "OrderPlaced",
    "detail": {"total": 50},
}
runner = CliRunner()


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["test-pattern", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_match_prints_true_and_exits_0() -> None:
    code, out, _ = _run("--pattern", '{"source": ["shop.orders"]}', "--event", json.dumps(EVENT))
    assert (code, out) == (0, "true\n")


def test_no_match_prints_false_and_exits_1() -> None:
    code, out, err = _run("--pattern", '{"source": ["bank"]}', "--event", json.dumps(EVENT))
    assert (code, out, err) == (1, "false\n", "")


def test_explain_says_which_field_failed_on_stderr() -> None:
    pattern = '{"detail": {"total": [{"numeric": [">", 100]}]}}'
    code, out, err = _run("--pattern", pattern, "--event", json.dumps(EVENT), "--explain")
    assert (code, out) == (1, "false\n")
    assert err.startswith("detail.total: ")


def test_invalid_pattern_exits_2_with_the_reason() -> None:
    code, out, err = _run("--pattern", '{"source": "shop"}', "--event", json.dumps(EVENT))
    assert (code, out) == (2, "")
    assert '"source" must be an object or an array' in err


def test_event_without_the_envelope_fields_exits_2() -> None:
    code, out, err = _run("--pattern", '{"a": ["b"]}', "--event", '{"a": "b"}')
    assert (code, out) == (2, "")
    assert "Parameter Event is not valid." in err


def test_event_that_is_not_an_object_exits_2() -> None:
    code, _, err = _run("--pattern", '{"a": ["b"]}', "--event", '["a"]')
    assert code == 2
    assert "Parameter Event is not valid." in err


def test_pattern_from_a_file_and_event_from_stdin(tmp_path: Path) -> None:
    pattern_file = tmp_path / "pattern.json"
    pattern_file.write_text('{"detail-type": [{"prefix": "Order"}]}')
    code, out, _ = _run("--pattern", str(pattern_file), "--event", "-", stdin=json.dumps(EVENT))
    assert (code, out) == (0, "true\n")


def test_an_event_past_the_match_budget_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBUS_MATCH_BUDGET", "1000")
    get_settings.cache_clear()
    try:
        event = {**EVENT, "detail": {"channel": [["web"]] * 300, "total": [[5]] * 300}}
        pattern = '{"detail": {"channel": ["web"], "total": [{"numeric": [">", 1]}]}}'
        code, out, err = _run("--pattern", pattern, "--event", json.dumps(event), "--explain")
    finally:
        get_settings.cache_clear()
    assert (code, out) == (2, "")
    assert err.startswith("MATCH_BUDGET_EXCEEDED: matching the event took more than 1,000 steps")
