"""``eventbus test-transform``: inline / file / stdin arguments, output, exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from eventbus.cli import app
from eventbus.settings import rule_arn

EVENT = '{"detail-type": "OrderPlaced", "detail": {"id": "o-1", "total": 9.5, "tags": ["a", "b"]}}'
PATHS = '{"id": "$.detail.id", "total": "$.detail.total", "tags": "$.detail.tags"}'

runner = CliRunner()


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["test-transform", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_prints_a_string_template_output() -> None:
    code, out, _ = run("--event", EVENT, "--paths", PATHS, "--template", '"<id>: <tags>"')
    assert (code, out) == (0, '"o-1: [a,b]"\n')


def test_prints_a_json_template_output() -> None:
    code, out, _ = run(
        "--event", EVENT, "--paths", PATHS, "--template", '{"o": <id>, "t": <total>}'
    )
    assert code == 0
    assert out == '{"o": "o-1", "t": 9.5}\n'


def test_reads_every_argument_from_files(tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text(EVENT)
    (tmp_path / "paths.json").write_text(PATHS)
    (tmp_path / "template.txt").write_text("order <id>\n")
    code, out, _ = run(
        "--event",
        str(tmp_path / "event.json"),
        "--paths",
        str(tmp_path / "paths.json"),
        "--template",
        str(tmp_path / "template.txt"),
    )
    assert (code, out) == (0, "order o-1\n\n")


def test_reads_the_event_from_stdin() -> None:
    code, out, _ = run("--event", "-", "--paths", PATHS, "--template", '"<id>"', stdin=EVENT)
    assert (code, out) == (0, '"o-1"\n')


def test_paths_default_to_none_and_reserved_variables_use_the_rule_options() -> None:
    code, out, _ = run(
        "--event",
        EVENT,
        "--template",
        '{"arn": <aws.events.rule-arn>, "t": <aws.events.event.ingestion-time>}',
        "--rule-name",
        "r1",
        "--bus",
        "orders",
        "--ingestion-time",
        "2026-01-01T00:00:00.000Z",
    )
    assert code == 0
    assert orjson.loads(out) == {"arn": rule_arn("orders", "r1"), "t": "2026-01-01T00:00:00.000Z"}


def test_invalid_settings_exit_2_with_the_error() -> None:
    code, out, err = run("--event", EVENT, "--paths", PATHS, "--template", '"<nope>"')
    assert (code, out) == (2, "")
    assert "contains invalid placeholder nope." in err


def test_an_invalid_event_argument_exits_2() -> None:
    code, _, err = run("--event", "{not json", "--template", '"x"')
    assert code == 2
    assert "--event" in err


def test_values_that_make_the_output_invalid_exit_1() -> None:
    code, out, err = run("--event", EVENT, "--paths", PATHS, "--template", '{"t": "<tags>"}')
    assert (code, out) == (1, "")
    assert "invalid JSON" in err


def test_a_missing_event_file_is_named_as_missing_not_as_invalid_json(tmp_path: Path) -> None:
    code, _, err = run("--event", str(tmp_path / "event.json"), "--template", '"x"')
    assert code == 2
    assert "event.json: no such file" in err and "not valid JSON:" not in err


def test_the_shipped_example_event_works() -> None:
    event = str(Path(__file__).parent.parent / "examples" / "event.json")
    code, out, _ = run("--event", event, "--paths", '{"key": "$.detail.object.key"}',
                       "--template", '"new object <key>"')  # fmt: skip
    assert (code, out) == (0, '"new object 2026/05/01/orders.parquet"\n')
