"""Reloading rule files: when to (a file was edited, added or removed, or SIGHUP asked) and how
(read them again off the event loop; an invalid set is refused and logged, the running one stays).

The router (``eventbus run``) and the standalone gateway (``eventbus serve``) both poll one::

    watch = RuleWatch("rules/")
    ruleset = watch.load()                     # the first load: RuleFileError when invalid
    loop.add_signal_handler(signal.SIGHUP, watch.request)
    ...
    if watch.due():                            # every poll
        new = await watch.reload()             # None when refused
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from eventbus.config import RULE_FILE_SUFFIXES, RuleSet
from eventbus.errors import RuleFileError
from eventbus.rule_cache import load_rules_cached
from eventbus.settings import Settings

__all__ = ["RELOAD_POLL_SECONDS", "RuleWatch", "rules_signature"]

log = logging.getLogger("eventbus.rules")

RELOAD_POLL_SECONDS = 1.0


def rules_signature(path: Path) -> tuple[Any, ...]:
    """What changes when a rule file is edited, added or removed."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in RULE_FILE_SUFFIXES)
    else:
        return ()
    out = []
    for p in files:
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


class RuleWatch:
    """The rule files at ``path``: whether they need loading again, and loading them."""

    def __init__(self, path: str | Path, settings: Settings | None = None) -> None:
        self.path = Path(path)
        self.settings = settings
        self._signature: tuple[Any, ...] = ()
        self._requested = False

    def request(self) -> None:
        """Reload at the next poll even if no file changed (SIGHUP)."""
        self._requested = True

    def due(self) -> bool:
        return self._requested or rules_signature(self.path) != self._signature

    def load(self) -> RuleSet:
        """Read the files now; ``RuleFileError`` when they are invalid."""
        # The signature before reading: a file edited during the read is read again next poll.
        self._signature, self._requested = rules_signature(self.path), False
        ruleset = load_rules_cached(self.path, settings=self.settings)
        for warning in ruleset.warnings:
            log.warning("rules loaded with a warning: %s", warning)
        return ruleset

    async def reload(self) -> RuleSet | None:
        """The files read again in a thread; None (problems logged) when they are invalid."""
        try:
            return await asyncio.to_thread(self.load)
        except RuleFileError as e:
            for problem in e.problems:
                log.error("rules refused, the running rules stay: %s", problem)
            return None
