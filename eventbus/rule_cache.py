"""Rule files loaded once per content: the compiled rule set kept on disk, keyed by a hash.

Reading, checking and compiling 10,000 rules takes seconds; unpickling the result a fraction of
that. :func:`load_rules_cached` answers from the cache only when everything the result depends
on is what it was: each rule file's path and bytes, the settings, the Python, pydantic and
eventbus code (each module's size and modification time) and the installed target types (with
their packages' versions). Any difference, or a cache file that cannot be read (corrupt,
truncated, of another version), is a miss: the files are loaded as usual and the cache
rewritten. Only a rule set that loaded without problems is cached, so errors are always found
(and reported with file, line and field) by reading the files.

One cache file per rule path (``<dir>/rules-<hash of the path>.pickle``), written whole to a
temporary file and renamed; the directory is created private to the user, and a cache file
another user could have written is not read (unpickling runs what the file says).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import logging
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic

import eventbus
from eventbus.config import RuleSet, load_rules, rule_files
from eventbus.patterns import CompiledPattern
from eventbus.rule_reader import target_input_of
from eventbus.ruleset import LoadedTarget
from eventbus.settings import Settings, get_settings
from eventbus.targets import registrations

__all__ = ["load_rules_cached"]

log = logging.getLogger("eventbus.rules")

# Bumped when what is pickled changes shape in a way the code stamps would not catch.
_FORMAT = b"eventbus-rules-1"


def load_rules_cached(path: str | Path, *, settings: Settings | None = None) -> RuleSet:
    """:func:`eventbus.config.load_rules`, answered from ``settings.rule_cache_dir`` when the
    files and the code are unchanged (``""``: no cache)."""
    settings = settings or get_settings()
    if not settings.rule_cache_dir:
        with _collector_paused():
            return load_rules(path, settings=settings)
    path = Path(path)
    cache = Path(settings.rule_cache_dir) / f"rules-{_digest(str(path.absolute()))}.pickle"
    key = _key(path, settings)
    cached = _read(cache, key)
    if cached is not None:
        return cached
    with _collector_paused():
        ruleset = load_rules(path, settings=settings)
        _write(cache, key, ruleset)
    return ruleset


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _key(path: Path, settings: Settings) -> bytes:
    """What the loaded rule set depends on, hashed."""
    h = hashlib.sha256(_FORMAT)
    h.update(repr((sys.version, pydantic.VERSION, settings, registrations())).encode())
    package = Path(eventbus.__file__).parent
    for module in sorted(package.rglob("*.py")):
        st = module.stat()
        h.update(f"{module.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for file in rule_files(path):
        data = file.read_bytes()
        h.update(f"{file}:{len(data)}\n".encode())
        h.update(data)
    return h.digest()


def _read(cache: Path, key: bytes) -> RuleSet | None:
    try:
        with cache.open("rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                log.warning("rule cache %s is writable by others: not read", cache)
                return None
            if f.read(len(key)) != key:
                return None  # other files or code: stale
            with _collector_paused():
                ruleset = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as e:  # corrupt, truncated, or classes that changed: read the files
        log.info("rule cache %s not used: %r", cache, e)
        return None
    return ruleset if isinstance(ruleset, RuleSet) else None


def _write(cache: Path, key: bytes, ruleset: RuleSet) -> None:
    try:
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=cache.parent, prefix=".rules-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key)
                _Pickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump(ruleset)
            os.replace(temp, cache)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except Exception as e:  # a read-only or full disk: the next start reads the files again
        log.info("rule cache %s not written: %r", cache, e)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while a rule set is built: it would walk the growing heap
    over and over (two thirds of reading 10,000 rules), and nothing built here is garbage."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Pickler(pickle.Pickler):
    """Compiled parts are pickled as what they were compiled from, and compiled again when
    read: their predicates and getters are closures, which pickle cannot hold. Slotted
    dataclasses (the pattern nodes, the loaded rules: tens of thousands) are pickled as their
    field values, which restores them as their own ``__setstate__`` does, a fifth faster."""

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls is CompiledPattern:
            return CompiledPattern, (obj.branches, obj.source)
        if cls is LoadedTarget:
            return _loaded_target, (obj.id, obj.type, obj.spec, obj.config, obj.retry,
                                    obj.dead_letter_stream)  # fmt: skip
        slotted = _SLOTTED.get(cls)
        if slotted is None:
            setstate = getattr(cls, "__setstate__", None)
            slotted = _SLOTTED[cls] = getattr(setstate, "__name__", "") == "_dataclass_setstate"
        if slotted:
            return _slotted, (cls, tuple(getattr(obj, name) for name in _field_names(cls)))
        return NotImplemented


# Whether a class is a slotted dataclass, by class: asked for every object pickled.
_SLOTTED: dict[type, bool] = {}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _slotted(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    for name, value in zip(_field_names(cls), values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def _loaded_target(*fields: Any) -> LoadedTarget:
    target_id, type_name, spec, config, retry, dead_letter_stream = fields
    return LoadedTarget(target_id, type_name, spec, config, target_input_of(spec), retry,
                        dead_letter_stream)  # fmt: skip
