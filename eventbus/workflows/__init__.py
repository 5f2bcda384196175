"""Amazon States Language workflows: parse, validate and run state machine definitions."""

from __future__ import annotations

from eventbus.workflows.definition import validate_definition

__all__ = ["validate_definition"]
