"""Reloading rule files, and the workflow files beside them: when to (a file was edited, added or
removed, or SIGHUP asked) and how (read them again off the event loop; an invalid set is refused
and logged, the running one stays).

The rules and the workflows are one set: both are read and checked on every load, and either
both are taken or neither (``watch.workflows`` is the catalog in force). The router (``eventbus
run``) and the standalone gateway (``eventbus serve``, rules only) both poll one::

    watch = RuleWatch("rules/", workflows="workflows/")
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
from eventbus.errors import RuleFileError, RuleProblem, WorkflowFileError
from eventbus.rule_cache import load_rules_cached
from eventbus.settings import Settings
from eventbus.workflows.catalog import WorkflowCatalog, load_workflows, workflow_files

__all__ = ["RELOAD_POLL_SECONDS", "RuleWatch", "load_rules_and_workflows", "rules_signature"]

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
    return _files_signature(files)


def _files_signature(files: list[Path]) -> tuple[Any, ...]:
    out = []
    for p in files:
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_rules_and_workflows(
    rules: Path, workflows: Path | None, settings: Settings | None = None
) -> tuple[RuleSet, WorkflowCatalog]:
    """The rules and the workflows (none without ``workflows``), each checked in full:
    ``RuleFileError`` listing every problem of both (a ``WorkflowFileError`` when only the
    workflows have problems)."""
    ruleset, catalog = None, WorkflowCatalog()
    refused: list[RuleFileError] = []
    try:
        ruleset = load_rules_cached(rules, settings=settings)
    except RuleFileError as e:
        refused.append(e)
    if workflows is not None:
        try:
            catalog = load_workflows(workflows)
        except WorkflowFileError as e:
            refused.append(e)
    if ruleset is not None and not refused:  # a catalog refused would make every name unknown
        unknown = _unknown_machines(ruleset, catalog)
        if unknown:
            refused.append(RuleFileError(unknown))
    if len(refused) == 1:
        raise refused[0]
    if refused:
        problems = [p for e in refused for p in e.problems]
        raise RuleFileError(problems, [w for e in refused for w in e.warnings])
    assert ruleset is not None
    return ruleset, catalog


def _unknown_machines(ruleset: RuleSet, catalog: WorkflowCatalog) -> list[RuleProblem]:
    """A problem for each ``workflow`` target naming a state machine the catalog lacks."""
    problems = []
    for _, rule, target in ruleset.deliveries():
        machine = getattr(target.config, "state_machine", None)
        if target.type != "workflow" or machine is None or catalog.get(machine) is not None:
            continue
        known = ", ".join(sorted(m.name for m in catalog)) or "none"
        position = rule.targets.index(target)
        message = f"no state machine named {machine!r} in the workflow files (known: {known})"
        problems.append(RuleProblem(rule.file, message, rule.line, rule.name,
                                    f"targets[{position}].state_machine"))
    return problems


class RuleWatch:
    """The rule files at ``path``, and the workflow files at ``workflows``: whether they need
    loading again, and loading them. ``workflows`` (the attribute) is the catalog in force."""

    def __init__(
        self,
        path: str | Path,
        settings: Settings | None = None,
        *,
        workflows: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.settings = settings
        self.workflows_path = Path(workflows) if workflows is not None else None
        self.workflows = WorkflowCatalog()
        self._signature: tuple[Any, ...] = ()
        self._requested = False

    def request(self) -> None:
        """Reload at the next poll even if no file changed (SIGHUP)."""
        self._requested = True

    def _current(self) -> tuple[Any, ...]:
        signature = rules_signature(self.path)
        if self.workflows_path is not None:
            signature += _files_signature(workflow_files(self.workflows_path))
        return signature

    def due(self) -> bool:
        return self._requested or self._current() != self._signature

    def load(self) -> RuleSet:
        """Read the files now; ``RuleFileError`` when they are invalid (the workflows in force
        then stay as they were)."""
        # The signature before reading: a file edited during the read is read again next poll.
        self._signature, self._requested = self._current(), False
        ruleset, self.workflows = load_rules_and_workflows(
            self.path, self.workflows_path, self.settings
        )
        for warning in ruleset.warnings:
            log.warning("rules loaded with a warning: %s", warning)
        for warning in self.workflows.warnings:
            log.warning("workflows loaded with a warning: %s", warning)
        return ruleset

    async def reload(self) -> RuleSet | None:
        """The files read again in a thread; None (problems logged) when they are invalid."""
        try:
            return await asyncio.to_thread(self.load)
        except RuleFileError as e:
            kept = "rules and workflows" if self.workflows_path is not None else "rules"
            for problem in e.problems:
                log.error("%s refused, the running %s stay: %s", kept, kept, problem)
            return None
