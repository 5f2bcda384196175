"""CLI commands: patterns."""

from __future__ import annotations
