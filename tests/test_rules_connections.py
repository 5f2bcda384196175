"""Rule files' ``connections:`` section: connections for workflow HTTP tasks, their ARNs, and
their problems located by file, line and field like every other rule problem."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventbus.cli import app
from eventbus.config import load_rules
from eventbus.connections import connection_arn, connection_name
from eventbus.errors import RuleFileError, RuleProblem
from eventbus.rule_cache import load_rules_cached
from eventbus.settings import Settings

SETTINGS = Settings(account="123456789012", region="eu-test-1")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[RuleProblem]:
    with pytest.raises(RuleFileError) as caught:
        load_rules(path, settings=SETTINGS)
    return caught.value.problems


def test_connections_load_with_the_http_targets_auth_blocks(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """\
        connections:
          - name: shop-api
            auth: {type: api_key, header: x-api-key, value_env: SHOP_KEY}
            rate_limit_per_second: 20
          - name: open
        rules:
          - name: r
            event_pattern: {source: [shop]}
            targets: [{id: t, type: log}]
        """,
    )
    write(tmp_path, "b.yaml", "bus: other\nconnections:\n  - {name: b, timeout_seconds: 5}\n")
    connections = load_rules(tmp_path, settings=SETTINGS).connections
    assert sorted(connections) == ["b", "open", "shop-api"]
    shop = connections["shop-api"]
    assert shop.auth is not None and shop.auth.type == "api_key"
    assert (shop.rate_limit_per_second, shop.timeout_seconds) == (20, 60.0)
    assert connections["b"].timeout_seconds == 5


def test_a_connection_problem_names_its_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        """\
        connections:
          - name: ok
          - name: shop
            auth: {type: basic, username: u, password_env: "not a name"}
            timeout_seconds: 0
          - name: "bad/name"
        """,
    )
    found = {(p.line, p.field) for p in problems(path)}
    assert found == {
        (4, "connections[1].auth.basic.password_env"),
        (5, "connections[1].timeout_seconds"),
        (6, "connections[2].name"),
    }


def test_a_secret_written_in_a_connection_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "connections:\n  - {name: s, password: hunter2}\n")
    [problem] = problems(path)
    assert (problem.line, problem.field, problem.message) == (2, "connections[0].password",
                                                             "unknown field")  # fmt: skip


def test_connection_names_are_unique_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "connections:\n  - name: shop\n")
    write(tmp_path, "b.yaml", "bus: b\nconnections:\n  - name: other\n  - name: shop\n")
    [problem] = problems(tmp_path)
    assert (problem.file, problem.line, problem.field) == (
        str(tmp_path / "b.yaml"),
        4,
        "connections[1].name",
    )
    assert f"already declared at {tmp_path / 'a.yaml'}:2" in problem.message


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:events:eu-test-1:123456789012:connection/shop", "shop"),
        ("arn:aws:events:us-east-1:111122223333:connection/shop/2b4f-11aa", "shop"),
        ("arn:aws:events:us-east-1:111122223333:event-bus/shop", None),
        ("shop", None),
    ],
)
def test_a_connection_arn_names_its_connection(arn: str, name: str | None) -> None:
    assert connection_name(arn) == name


def test_connection_arns_use_our_region_and_account() -> None:
    arn = connection_arn("shop", SETTINGS)
    assert arn == "arn:aws:events:eu-test-1:123456789012:connection/shop"
    assert connection_name(arn) == "shop"


def test_rules_validate_counts_the_connections(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "connections:\n  - name: a\n  - name: b\n")
    result = CliRunner().invoke(app, ["rules", "validate", str(tmp_path)])
    assert (result.exit_code, result.output) == (0, "ok: 0 rule(s) on 1 bus(es), 2 connection(s)\n")


def test_connections_come_back_from_the_rule_cache(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    write(rules, "a.yaml", "connections:\n  - {name: a, auth: {type: bearer, token_env: T}}\n")
    settings = dataclasses.replace(SETTINGS, rule_cache_dir=str(tmp_path / "cache"))
    first = load_rules_cached(rules, settings=settings)
    again = load_rules_cached(rules, settings=settings)
    assert list((tmp_path / "cache").iterdir())  # the second load was answered from the cache
    assert again.connections == first.connections
    assert again.connections["a"].auth is not None


def test_a_workflow_worker_refuses_rules_with_a_bad_connection(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "connections:\n  - {name: c, timeout_seconds: -1}\n")
    result = CliRunner().invoke(app, ["workflows", "worker", "--rules", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: connections[0].timeout_seconds" in result.output


def test_the_shipped_rules_declare_the_connections_the_example_workflows_name() -> None:
    root = Path(__file__).parent.parent
    arns = [
        arn
        for path in (root / "workflows").glob("*.asl.json")
        for arn in re.findall(r'"ConnectionArn": "([^"]+)"', path.read_text())
    ]
    connections = load_rules(root / "rules", settings=SETTINGS).connections
    assert arns
    assert all(connection_name(arn) in connections for arn in arns)
