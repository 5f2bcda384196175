"""Rule files: every problem in one run, "did you mean" for typos, warnings for pattern keys that
never match, and the checks a target wants done when rules load rather than at a delivery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_rules_config import SETTINGS, problems, write

from eventbus.config import load_rules
from eventbus.targets import load_target_class
from eventbus.targets.base import DeliveryContext, TargetServices


def messages(path: Path) -> dict[str, str]:
    """field → message of every problem of ``path``."""
    return {str(p.field): p.message for p in problems(path)}


def test_a_rule_level_error_does_not_hide_target_or_pattern_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        rules:
          - name: r
            state: ON
            event_pattern: {source: [{prefix: 1}]}
            targets:
              - {id: a, type: log}
              - {id: b, type: http}
              - {id: c, type: redis_stream, stream: s, retry_policy: {maximum_retry_attempts: 999}}
              - {id: d, type: log}
              - {id: e, type: log}
              - {id: f, type: nope}
        """,
    )
    found = messages(path)
    assert set(found) == {
        "state",
        "targets",
        "event_pattern.source",
        "targets[1].url",
        "targets[2].retry_policy.maximum_retry_attempts",
        "targets[5].type",
    }
    assert "at most 5" in found["targets"]


def test_a_wrong_target_does_not_hide_the_rules_own_checks(tmp_path: Path) -> None:
    text = "rules:\n  - name: r\n    targets: [{id: 'a b', type: log}, {id: 'a b', type: log}]\n"
    found = [(p.field, p.message) for p in problems(write(tmp_path, "r.yaml", text))]
    assert sorted(found, key=str) == sorted(
        [
            (None, "a rule needs an event_pattern, a schedule_expression, or both"),
            ("targets", "target ids must be unique in a rule; repeated: ['a b']"),
            ("targets[0].id", "String should match pattern '^[.\\-_A-Za-z0-9]+$' (found 'a b')"),
            ("targets[1].id", "String should match pattern '^[.\\-_A-Za-z0-9]+$' (found 'a b')"),
        ],
        key=str,
    )


@pytest.mark.parametrize(
    ("target", "field", "meant"),
    [
        ("{id: t, type: http, urll: 'http://x'}", "targets[0].urll", "url"),
        ("{id: t, type: redis_stream, stram: s}", "targets[0].stram", "stream"),
        ("{id: t, type: log, retry_polcy: {}}", "targets[0].retry_polcy", "retry_policy"),
        (
            "{id: t, type: log, retry_policy: {maximum_retry_attemps: 3}}",
            "targets[0].retry_policy.maximum_retry_attemps",
            "maximum_retry_attempts",
        ),
    ],
)
def test_an_unknown_field_suggests_the_nearest_known_one(
    tmp_path: Path, target: str, field: str, meant: str
) -> None:
    text = f"rules:\n  - name: r\n    event_pattern: {{source: [a]}}\n    targets: [{target}]\n"
    found = messages(write(tmp_path, "r.yaml", text))
    assert found[field] == f"unknown field; did you mean `{meant}`?"


def test_an_unknown_rule_field_suggests_the_rule_field(tmp_path: Path) -> None:
    text = "rules:\n  - name: r\n    schedule_expresion: rate(1 minute)\n"
    found = messages(write(tmp_path, "r.yaml", text))
    assert found["schedule_expresion"] == "unknown field; did you mean `schedule_expression`?"


def test_an_unknown_field_far_from_every_known_one_gets_no_guess(tmp_path: Path) -> None:
    text = "rules:\n  - name: r\n    event_pattern: {a: [1]}\n    colour: blue\n"
    assert messages(write(tmp_path, "r.yaml", text))["colour"] == "unknown field"


def test_an_unknown_target_type_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    text = "rules:\n  - name: r\n    event_pattern: {a: [1]}\n    targets: [{id: t, type: htp}]\n"
    message = messages(write(tmp_path, "r.yaml", text))["targets[0].type"]
    assert message.startswith("unknown target type 'htp'; did you mean `http`? known types: ")
    far = messages(write(tmp_path, "r.yaml", text.replace("htp", "kafka")))["targets[0].type"]
    assert far.startswith("unknown target type 'kafka'; known types: ")


@pytest.mark.parametrize("pattern", ["{detail_type: [X]}", '\'{"detailType": ["X"]}\''])
def test_a_pattern_key_misspelling_detail_type_is_a_warning(tmp_path: Path, pattern: str) -> None:
    text = (
        f"rules:\n  - name: r\n    event_pattern: {pattern}\n    targets: [{{id: t, type: log}}]\n"
    )
    ruleset = load_rules(write(tmp_path, "r.yaml", text), settings=SETTINGS)
    assert ruleset.rule("default", "r").pattern is not None  # the rule still loads
    (warning,) = ruleset.warnings
    assert warning.warning and warning.line == 3 and warning.rule == "r"
    assert "never matches: the event's top-level field is `detail-type`" in warning.message
    assert ": warning: `" in str(warning)


def test_well_spelt_and_custom_pattern_keys_draw_no_warning(tmp_path: Path) -> None:
    text = (
        "rules:\n  - name: r\n    event_pattern: {detail-type: [X], source: [a], "
        "detail: {detail_type: [1]}, $or: [{id: [a]}, {region: [b]}]}\n"
    )
    assert load_rules(write(tmp_path, "r.yaml", text), settings=SETTINGS).warnings == []


def test_targets_indented_under_the_pattern_get_a_hint(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        rules:
          - name: r
            event_pattern:
              source: [shop]
              targets:
                - id: t
                  type: log
        """,
    )
    (found,) = problems(path)
    assert (found.line, found.field) == (5, "event_pattern.targets")
    assert "did you mean to put `targets` at the rule level?" in found.message
    assert "Unrecognized match type" not in found.message


def test_a_log_target_whose_directory_cannot_be_created_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    path = str(tmp_path / "a-file" / "logs" / "out.jsonl")
    text = f"rules:\n  - name: r\n    event_pattern: {{a: [1]}}\n    targets: [{{id: t, type: log, path: '{path}'}}]\n"  # noqa: E501
    message = messages(write(tmp_path, "r.yaml", text))["targets[0].path"]
    assert "is not a directory" in message and "a-file" in message


def test_a_log_target_pointing_at_a_directory_fails_at_load(tmp_path: Path) -> None:
    text = f"rules:\n  - name: r\n    event_pattern: {{a: [1]}}\n    targets: [{{id: t, type: log, path: '{tmp_path}'}}]\n"  # noqa: E501
    assert "is a directory" in messages(write(tmp_path, "r.yaml", text))["targets[0].path"]


def test_a_log_target_creates_its_missing_directories(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "out.jsonl"
    text = f"rules:\n  - name: r\n    event_pattern: {{a: [1]}}\n    targets: [{{id: t, type: log, path: '{out}'}}]\n"  # noqa: E501
    (loaded,) = (
        load_rules(write(tmp_path, "r.yaml", text), settings=SETTINGS).rule("default", "r").targets
    )
    assert not out.parent.exists()  # checked at load, created at the first delivery
    target = load_target_class("log")(loaded.config, TargetServices(redis=None))
    ctx = DeliveryContext("d", "e", "default", "r", "arn", "t", 1, {})

    async def deliver() -> None:
        await target.send('{"x": 1}', ctx)
        await target.aclose()

    asyncio.run(deliver())
    assert '"payload":"{\\"x\\": 1}"' in out.read_text()


def test_a_python_target_is_imported_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "handlers_at_load.py").write_text("def on_event(payload, ctx):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rule = "rules:\n  - name: r\n    event_pattern: {{a: [1]}}\n    targets: [{{id: t, type: python, function: '{}'}}]\n"  # noqa: E501
    good = write(tmp_path, "r.yaml", rule.format("handlers_at_load:on_event"))
    assert load_rules(good, settings=SETTINGS).rule("default", "r").targets
    missing_module = messages(write(tmp_path, "r.yaml", rule.format("no_such_module_x:f")))
    assert "cannot import module 'no_such_module_x'" in missing_module["targets[0].function"]
    missing_function = messages(write(tmp_path, "r.yaml", rule.format("handlers_at_load:nope")))
    assert "has no attribute 'nope'" in missing_function["targets[0].function"]
