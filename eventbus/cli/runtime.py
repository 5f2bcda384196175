"""CLI commands: runtime."""

from __future__ import annotations
