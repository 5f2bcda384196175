"""Hostile and random rule files: every one is a located problem (``file:line: ...``) from
``eventbus rules validate`` and from a reload, never a crash, and refused without first building
what it would expand to."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from typer.testing import CliRunner

from eventbus.cli import app
from eventbus.config import load_rules
from eventbus.errors import RuleFileError
from eventbus.settings import Settings
from eventbus.worker import Router, RouterOptions
from eventbus.yaml_load import MAX_DEPTH, MAX_NODES

SETTINGS = Settings(account="123456789012", region="eu-test-1")
TARGETS = "    targets: [{id: t, type: log}]\n"
LAUGHS = "".join(
    f"{a}: &{a} [{', '.join([f'*{b}'] * 9)}]\n" for b, a in zip("abcdefgh", "bcdefghi", strict=True)
)

# name → (rule file text, line of the problem, what the message says)
HOSTILE = {
    "a sequence as a mapping key": (
        "rules:\n  - name: r\n    event_pattern: {? [a, b] : [1]}\n" + TARGETS,
        3,
        "a mapping key must be a scalar",
    ),
    "an alias to a list as a mapping key": (
        "rules:\n  - name: r\n    event_pattern: {source: &s [a], *s : [1]}\n" + TARGETS,
        3,
        "a mapping key must be a scalar",
    ),
    "a start date before year 1 in UTC": (
        "rules:\n  - name: r\n    schedule_expression: rate(1 minute)\n"
        "    start_date: 0001-01-01T00:00:00+01:00\n" + TARGETS,
        4,
        "start_date: 0001-01-01T00:00:00+01:00 is outside the supported range",
    ),
    "an at() past what a zone can convert": (
        "rules:\n  - name: r\n    schedule_expression: at(9999-12-31T23:59:59)\n"
        "    timezone: America/New_York\n" + TARGETS,
        3,
        "the year must be from 1970 to 2199",
    ),
    "a 5,000-deep flow sequence": (
        "rules:\n  - name: r\n    event_pattern: {a: " + "[" * 5000 + "]" * 5000 + "}\n" + TARGETS,
        3,
        f"nesting is deeper than {MAX_DEPTH} levels",
    ),
    "a 5,000-deep block sequence": (
        "rules:\n" + "".join("  " * i + "- \n" for i in range(5000)),
        MAX_DEPTH + 1,
        f"nesting is deeper than {MAX_DEPTH} levels",
    ),
    "the billion laughs": (
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + LAUGHS,
        6,
        f"the document expands to more than {MAX_NODES} values",
    ),
    "an integer of 5,000 digits": ("bus: default\nx: " + "9" * 5000 + "\n", None, "YAML value"),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", HOSTILE)
def test_validate_locates_each_hostile_file(name: str, tmp_path: Path) -> None:
    text, line, message = HOSTILE[name]
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["rules", "validate", str(path)])
    assert result.exit_code == 1, result.output
    [problem] = result.stdout.splitlines()
    assert problem.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert message in problem


def test_the_billion_laughs_is_a_few_hundred_bytes() -> None:
    assert len(HOSTILE["the billion laughs"][0]) < 500


def test_aliases_within_the_budget_still_load(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: a, event_pattern: {source: [x]}, targets: &log [{id: t, type: log}]}\n"
        "  - {name: b, event_pattern: {source: [y]}, targets: *log}\n"
    )
    ruleset = load_rules(path, settings=SETTINGS)
    assert ruleset.rule("default", "b").targets[0].id == "t"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.timeout(20)
async def test_a_reload_refuses_each_hostile_file_and_keeps_the_running_rules(
    redis: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = "rules:\n  - name: r\n    event_pattern: {source: [a]}\n" + TARGETS
    (tmp_path / "rules.yaml").write_text(good)
    router = Router(redis, tmp_path, RouterOptions())
    await router.start()
    before = router.table.ruleset
    for name, (text, line, message) in HOSTILE.items():
        caplog.clear()
        (tmp_path / "rules.yaml").write_text(text)
        with caplog.at_level(logging.ERROR, logger="eventbus"):
            assert await router.reload() is False, name
        where = f"{tmp_path / 'rules.yaml'}:{line}: " if line else f"{tmp_path / 'rules.yaml'}: "
        assert any(where in r.getMessage() and message in r.getMessage() for r in caplog.records)
        assert router.table.ruleset is before


# --- random rule files -------------------------------------------------------------------------

YAML_BITS = st.sampled_from(
    ["[", "]", "{", "}", ":", ": ", ",", "- ", "? ", "&a ", "*a", "!!str ", "!x ", "|", ">", "'",
     '"', "#", "\n", "  ", "rules", "name", "r", "1", "-1.5e9", "null", "true", "~", "<<: ",
     "event_pattern", "schedule_expression", "targets", "0001-01-01T00:00:00Z"]
)  # fmt: skip


FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the file is rewritten by every example


def check_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_rules(path, settings=SETTINGS)
    except RuleFileError as e:
        assert all(p.file == str(path) for p in e.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(bits=st.lists(YAML_BITS, max_size=40))
def test_any_yaml_like_text_loads_or_is_a_rule_file_error(tmp_path: Path, bits: list[str]) -> None:
    check_file(tmp_path, "".join(bits))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = {
    "name": st.one_of(st.just("r"), VALUES),
    "state": st.sampled_from(["ENABLED", "DISABLED", "on"]),
    "event_pattern": VALUES,
    "schedule_expression": st.one_of(
        st.sampled_from(["rate(1 minute)", "cron(0 0 * * ? *)", "at(9999-12-31T23:59:59)"]),
        st.text(max_size=20),
    ),
    "timezone": st.sampled_from(["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "../etc", "x" * 60]),
    "start_date": st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2030-01-01T00:00:00Z", "x"]
    ),
    "end_date": st.sampled_from(["9999-12-31T23:59:59+14:00", "2031-01-01T00:00:00Z", 5]),
    "catch_up": st.sampled_from(["all", "none", 1]),
    "flexible_time_window": VALUES,
    "targets": st.one_of(st.just([{"id": "t", "type": "log"}]), VALUES),
}


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(rule=st.fixed_dictionaries({}, optional=FIELDS))
def test_any_rule_loads_or_is_a_rule_file_error(tmp_path: Path, rule: dict[str, object]) -> None:
    check_file(tmp_path, orjson.dumps({"rules": [rule]}).decode())
