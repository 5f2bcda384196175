"""The rule cache: an unchanged rule set is read from it and behaves as the files do; an edit,
a corrupt or foreign cache file, or invalid rules mean the files are read (and errors reported
as always)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from eventbus import rule_cache
from eventbus.config import RuleSet, load_rules
from eventbus.errors import RuleFileError
from eventbus.rule_cache import load_rules_cached
from eventbus.settings import Settings
from eventbus.transform import InputContext

EXAMPLES = Path(__file__).parent.parent / "rules"
ORDER = {
    "id": "e1",
    "source": "shop.orders",
    "detail-type": "OrderPlaced",
    "detail": {"currency": "EUR", "total": 250, "channel": "web", "order_id": "o-1",
               "customer": {"id": "c-9"}},
}  # fmt: skip


class Reads:
    """Counts the loads that read the files."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        monkeypatch.setattr(rule_cache, "load_rules", self)

    def __call__(self, *args: Any, **kw: Any) -> RuleSet:
        self.count += 1
        return load_rules(*args, **kw)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    shutil.copytree(EXAMPLES, directory)
    return directory


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(rule_cache_dir=str(tmp_path / "cache"))


def behaviour(ruleset: RuleSet) -> list[Any]:
    """What a rule set does with an event: the rules each bus matches, each target's payload."""
    out: list[Any] = []
    for name in sorted(ruleset.buses):
        out.append((name, ruleset.matcher(name).match(ORDER)))
    for bus, rule, target in ruleset.deliveries():
        ctx = InputContext(rule_name=rule.name, rule_arn=rule.arn)
        try:
            payload = target.input.render(ORDER, ctx)
        except Exception as e:
            payload = repr(e)
        out.append((bus, rule.name, rule.model, rule.file, rule.line, target.id, target.config,
                    payload, rule.schedule is not None))  # fmt: skip
    return out


def test_an_unchanged_rule_set_comes_from_the_cache_and_behaves_as_the_files_do(
    rules: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch)
    first = load_rules_cached(rules, settings=settings)
    again = load_rules_cached(rules, settings=settings)
    assert reads.count == 1
    assert behaviour(again) == behaviour(first) == behaviour(load_rules(rules))
    assert again.warnings == first.warnings


def test_an_edited_rule_file_is_read_again(
    rules: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch)
    load_rules_cached(rules, settings=settings)
    orders = rules / "orders.yaml"
    orders.write_text(orders.read_text().replace("big-orders", "large-orders"))
    edited = load_rules_cached(rules, settings=settings)
    assert reads.count == 2
    assert "large-orders" in edited.buses["shop"].rules


@pytest.mark.parametrize("damage", [b"", b"not a pickle", None])
def test_a_corrupt_cache_file_is_ignored_and_written_again(
    rules: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, damage: bytes | None
) -> None:
    reads = Reads(monkeypatch)
    expected = behaviour(load_rules_cached(rules, settings=settings))
    [cache] = Path(settings.rule_cache_dir).iterdir()
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) // 2] if damage is None else data[:32] + damage)
    assert behaviour(load_rules_cached(rules, settings=settings)) == expected
    assert behaviour(load_rules_cached(rules, settings=settings)) == expected
    assert reads.count == 2


def test_a_cache_file_others_could_write_is_not_read(
    rules: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch)
    load_rules_cached(rules, settings=settings)
    [cache] = Path(settings.rule_cache_dir).iterdir()
    cache.chmod(0o666)
    load_rules_cached(rules, settings=settings)
    assert reads.count == 2


def test_invalid_rules_are_reported_with_file_line_and_field_and_never_cached(
    rules: Path, settings: Settings
) -> None:
    load_rules_cached(rules, settings=settings)
    orders = rules / "orders.yaml"
    orders.write_text(orders.read_text().replace("type: redis_stream", "type: no_such_type", 1))
    for _ in range(2):
        with pytest.raises(RuleFileError) as caught:
            load_rules_cached(rules, settings=settings)
        [problem] = caught.value.problems
        assert problem.file == str(orders)
        assert problem.line is not None and problem.field is not None
    assert "no_such_type" in str(caught.value)


def test_no_cache_directory_reads_the_files_every_time(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch)
    for _ in range(2):
        load_rules_cached(rules, settings=Settings(rule_cache_dir=""))
    assert reads.count == 2
