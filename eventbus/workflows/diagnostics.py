"""The problems a definition check reports, and the interface the rule modules report through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["SCHEMA", "Checker", "Diagnostic"]

SCHEMA = "SCHEMA_VALIDATION_FAILED"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, as ValidateStateMachineDefinition reports it. ``location`` is a path such
    as ``/States/Choose/Choices[0]/Next``; None means the whole machine."""

    code: str
    message: str
    location: str | None

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.location is not None:
            out["location"] = self.location
        return out


class Checker(Protocol):
    """What the rule modules (Choice rules, retriers and catchers) need from the schema walk."""

    def fail(self, location: str, message: str) -> None: ...

    def expect_type(self, value: Any, kind: type, location: str) -> bool: ...

    def require(self, obj: Mapping[str, Any], fields: tuple[str, ...], location: str) -> None: ...

    def check_template(self, value: Any, location: str) -> None: ...

    def check_reference_path(self, key: str, value: Any, location: str) -> None: ...

    def check_assign(self, value: Any, location: str, language: str) -> None: ...
