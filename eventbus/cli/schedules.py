"""CLI commands: schedules."""

from __future__ import annotations
