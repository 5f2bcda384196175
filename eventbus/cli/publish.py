"""CLI commands: publishing (put) and the embedded Redis."""

from __future__ import annotations
