"""CLI commands: gateway."""

from __future__ import annotations
