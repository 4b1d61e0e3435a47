"""The plugin manager: every plugin, first-party or not, arrives through the ``zoo`` entry points.

``ZOO_PLUGINS=a,b`` limits which entry points load. A plugin that fails to import, or whose
hook raises, is set aside with its error (``zoo plugins`` shows it); the others keep working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

import pluggy

from zoo_core import hookspecs

__all__ = ["PluginInfo", "load_plugins", "list_plugins", "broken", "set_broken"]

pm = pluggy.PluginManager("zoo")
pm.add_hookspecs(hookspecs)
_found: dict[str, "PluginInfo"] = {}


@dataclass(frozen=True)
class PluginInfo:
    name: str  # the entry point's name, also the prefix of its architectures
    package: str  # the distribution that provides it, what `pip install` takes
    version: str
    hooks: tuple[str, ...] = ()
    error: str | None = None  # why it does not work, if it does not


def allowed() -> set[str] | None:
    """The plugin names ``ZOO_PLUGINS`` allows, or None when it is unset (all of them)."""
    names = os.environ.get("ZOO_PLUGINS")
    return None if names is None else {name.strip() for name in names.split(",")}


def load_plugins() -> pluggy.PluginManager:
    """Load every allowed entry point once; later calls return the same manager."""
    allowed_names = allowed()
    for ep in entry_points(group="zoo"):
        dist = (ep.dist.name, ep.dist.version) if ep.dist else (ep.value, "?")
        if ep.name in _found and _found[ep.name].package != dist[0]:
            from zoo_core.errors import RegistryError

            raise RegistryError(f"two plugins are named '{ep.name}': {_found[ep.name].package} and {dist[0]}; "
                                f"uninstall one of them")
        if ep.name in _found or (allowed_names is not None and ep.name not in allowed_names):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as error:  # a broken plugin must not take the others down
            _found[ep.name] = PluginInfo(ep.name, *dist, error=f"{type(error).__name__}: {error}")
            continue
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(module) or ()))
        _found[ep.name] = PluginInfo(ep.name, *dist, hooks=hooks)
    return pm


def list_plugins() -> list[PluginInfo]:
    """Every allowed plugin found, working or broken (an import or a hook failed), sorted by name."""
    from zoo_core import registry  # running the hooks is what tells a plugin whose hook raises

    registry.architectures()
    registry.list_models()
    names = allowed()
    return sorted((p for p in _found.values() if names is None or p.name in names), key=lambda p: p.name)


def broken(name: str) -> PluginInfo | None:
    """The plugin of that entry-point name if it was found but does not work."""
    load_plugins()
    info = _found.get(name)
    return info if info is not None and info.error else None


def set_broken(name: str, error: BaseException) -> None:
    """Set aside a plugin whose hook raised, keeping the error for ``zoo plugins``."""
    pm.unregister(name=name)
    old = _found[name]
    _found[name] = PluginInfo(name, old.package, old.version, error=f"{type(error).__name__}: {error}")
