"""The data-driven cases in tests/cases/, loaded once with YAML 1.2 (JSON types only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventbus.yaml_load import load_yaml

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"


def load_cases(name: str) -> list[dict[str, Any]]:
    document = load_yaml((CASES_DIR / name).read_text("utf-8"))
    assert document is not None, name
    cases: list[dict[str, Any]] = document.data
    return cases


def case_id(case: dict[str, Any]) -> str:
    return str(case["name"])
