"""Every YAML rule example in docs/targets.md loads, so a doc example cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventbus.config import load_rules
from eventbus.targets import known_target_types

DOC = Path(__file__).parents[2] / "docs" / "targets.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def as_rule_file(block: str) -> str:
    """A bare ``- id: ...`` target entry becomes a one-rule file; a whole file stays as it is."""
    if not block.lstrip().startswith("- id"):
        return block
    target = "".join(f"      {line}\n" for line in block.splitlines())
    return f"rules:\n  - name: example\n    event_pattern: {{source: [x]}}\n    targets:\n{target}"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_doc_example_loads(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = re.search(r"type: (\w+)", block)
    if kind and kind.group(1) not in known_target_types():
        pytest.skip(f"target type {kind.group(1)} is not registered in this installation")
    function = re.search(r"function: ([\w.]+):(\w+)", block)
    if function:  # python targets are imported when rules load: give the example its module
        module = tmp_path / "modules" / Path(*function.group(1).split("."))
        module.parent.mkdir(parents=True)
        module.with_suffix(".py").write_text(f"def {function.group(2)}(payload, ctx): pass\n")
        monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    path = tmp_path / "example.yaml"
    path.write_text(as_rule_file(block))
    assert load_rules(path).buses
