"""The target registry: type name → class, through the ``eventbus.targets`` entry point group.

Built-ins are declared in eventbus's own ``pyproject.toml`` under that group, exactly as a
third-party plugin declares its own, so ``pip install some-plugin`` adds a ``type``.
Classes are imported only when a rule uses them.

Checking a rule file needs only a type's settings model, which a type registers apart from its
class under ``eventbus.target_configs`` (same name), in a module that imports no transport: the
rule loader then never imports aiohttp or redis. A type registered only under ``eventbus.targets``
still works; its class (and whatever it imports) is loaded for its ``config_model``.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from eventbus.targets.base import DeliveryContext, Target, TargetConfig

__all__ = [
    "DeliveryContext",
    "Target",
    "TargetConfig",
    "known_target_types",
    "load_target_class",
    "load_target_config",
    "registrations",
]

GROUP = "eventbus.targets"
CONFIG_GROUP = "eventbus.target_configs"


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


@lru_cache(maxsize=1)
def _config_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=CONFIG_GROUP)}


def registrations() -> list[tuple[str, str, str, str]]:
    """Every registered type and settings model: (group, name, where, providing package and
    version), which changes when a plugin is installed, removed or upgraded."""
    out = []
    # Each package's metadata file read once: every entry point has a distribution object of
    # its own, whose name and version each parse the file again (a tenth of a second a start).
    packages: dict[str, str] = {}
    for group, eps in ((GROUP, _entry_points()), (CONFIG_GROUP, _config_entry_points())):
        for name, ep in sorted(eps.items()):
            package = ""
            if ep.dist is not None:
                where = str(getattr(ep.dist, "_path", id(ep.dist)))
                package = packages.get(where, "")
                if not package:
                    metadata = ep.dist.metadata
                    package = packages[where] = f"{metadata['Name']} {metadata['Version']}"
            out.append((group, name, ep.value, package))
    return out


def known_target_types() -> list[str]:
    """Every installed target type, sorted."""
    return sorted(_entry_points())


# Once per type, not per rule: an entry point's load is an import lookup and an attribute walk,
# a tenth of a second at start-up over 10,000 targets. A failure is not kept (tried again).
@cache
def load_target_class(type_name: str) -> Any:
    """The class registered for ``type_name``; ``KeyError`` naming the known types otherwise."""
    ep = _entry_points().get(type_name)
    if ep is None:
        known = ", ".join(known_target_types())
        raise KeyError(f"unknown target type {type_name!r}; known types: {known}")
    try:
        return ep.load()
    except ImportError as e:
        raise KeyError(
            f"target type {type_name!r} could not be imported ({e}); "
            f"reinstall the package that provides it ({ep.value})"
        ) from e


@cache
def load_target_config(type_name: str) -> type[TargetConfig]:
    """The settings model of ``type_name``, without importing its class when the type registers
    the model on its own; ``KeyError`` naming the problem otherwise."""
    ep = _config_entry_points().get(type_name)
    if ep is None:
        config: type[TargetConfig] = load_target_class(type_name).config_model
        return config
    try:
        loaded: type[TargetConfig] = ep.load()
    except ImportError as e:
        raise KeyError(
            f"target type {type_name!r} could not be imported ({e}); "
            f"reinstall the package that provides it ({ep.value})"
        ) from e
    return loaded
