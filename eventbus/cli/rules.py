"""CLI commands: rules."""

from __future__ import annotations
