"""The model index: registry.yaml, plugin entries and private ``ZOO_REGISTRY`` files, merged.

Nothing here imports torch or model code: listing the zoo is cheap. Entries come from, in
order, the registry.yaml packaged with zoo_core, each plugin's ``zoo_register_models`` hook,
and the files in ``ZOO_REGISTRY`` (``f1.yaml:f2.yaml``). A name defined twice is an error
naming both places; a malformed entry is an error naming the file, the entry and the field.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from zoo_core.errors import PluginNotInstalled, RegistryError, UnknownModel
from zoo_core.protocols import TASKS

__all__ = ["ModelEntry", "Weights", "Architecture", "list_models", "info", "architectures", "architecture"]

#: pip names of the first-party plugins, by entry-point name, for "install it" messages.
FIRST_PARTY = {
    "pixelcnn": "zoo-pixelcnn",
    "pixelrnn": "zoo-pixelrnn",
    "gmm": "zoo-gaussian-mixture",
    "softmax": "zoo-softmax-classifier",
}
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
ARCH_NAME = re.compile(r"^([a-z0-9][a-z0-9_-]*)/[a-z0-9][a-z0-9._-]*$")
SHA1 = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
REQUIRED_HASHES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class Weights:
    """Where an entry's checkpoint folder lives; exactly one of bundled, local, hub."""

    # source
    bundled: str | None = None  # "package/sub/folder", package data of an installed plugin
    local: Path | None = None  # a folder, absolute or relative to its registry file
    hub_repo: str | None = None  # "org/name" on the Hugging Face Hub (HF_ENDPOINT)
    hub_revision: str | None = None  # a pinned 40-hex commit, never a branch
    # integrity
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> hex digest


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry, readable without torch."""

    # identity
    name: str
    architecture: str | None  # None for a composition
    task: str
    # how to build and where the weights are
    config: dict[str, Any] = field(default_factory=dict)
    weights: Weights | None = None
    # provenance
    dataset: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    paper: str | None = None
    license: str | None = None
    source: str = ""  # the file or plugin that defined the entry
    # composition (zoo_core.compose): e.g. bayes of {"classifier": NAME, "density": NAME}
    compose: str | None = None
    parts: dict[str, str] = field(default_factory=dict)
    prior: str | None = None

    @property
    def pretrained(self) -> bool:
        return self.weights is not None or self.compose is not None

    @property
    def plugin(self) -> str | None:
        return None if self.architecture is None else self.architecture.split("/", 1)[0]

    def describe(self) -> str:
        """The architecture, or the composition as ``bayes(classifier, density)``."""
        if self.compose is None:
            return self.architecture
        return f"{self.compose}({', '.join(self.parts.values())})"


@dataclass(frozen=True)
class Architecture:
    name: str  # "plugin/arch"
    builder: Callable[..., Any]  # builder(**config) -> model
    task: str
    plugin: str


def _entry_error(source, name, fieldname, problem) -> RegistryError:
    return RegistryError(f"{source}: entry '{name}': field '{fieldname}': {problem}")


def parse_entry(name: Any, raw: Any, source: str, base: Path | None = None) -> ModelEntry:
    """Validate one entry of registry.yaml's form; ``base`` resolves relative ``local`` paths."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise RegistryError(f"{source}: entry {name!r}: a model name is lower-case letters, digits, '.', '_', '-'")
    if not isinstance(raw, dict):
        raise RegistryError(f"{source}: entry '{name}': expected a mapping of fields, got {type(raw).__name__}")
    if raw.get("compose") is not None:
        return _parse_composition(name, raw, source)
    known = {"architecture", "task", "dataset", "config", "weights", "metrics", "paper", "license"}
    for key in raw:
        if key not in known:
            raise _entry_error(source, name, key, f"unknown field (known: {', '.join(sorted(known))})")
    arch = raw.get("architecture")
    if not isinstance(arch, str) or not ARCH_NAME.match(arch):
        raise _entry_error(source, name, "architecture", f"expected 'plugin/arch', got {arch!r}")
    task = raw.get("task")
    if task not in TASKS:
        raise _entry_error(source, name, "task", f"expected one of {', '.join(TASKS)}, got {task!r}")
    config = raw.get("config", {}) or {}
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise _entry_error(source, name, "config", "expected a mapping of builder arguments")
    metrics = raw.get("metrics", {}) or {}
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in metrics.items()
    ):
        raise _entry_error(source, name, "metrics", "expected a mapping of names to numbers")
    for key in ("dataset", "paper", "license"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _entry_error(source, name, key, f"expected text, got {type(raw[key]).__name__}")
    weights = None if raw.get("weights") is None else _parse_weights(raw["weights"], name, source, base)
    return ModelEntry(
        name=name, architecture=arch, task=task, config=dict(config), weights=weights,
        dataset=raw.get("dataset"), metrics={k: float(v) for k, v in metrics.items()},
        paper=raw.get("paper"), license=raw.get("license"), source=source,
    )


#: The compositions a registry entry can name: their parts, and the task of the result.
COMPOSITIONS = {
    "bayes": (("classifier", "density"), "conditional"),
    "generative_classifier": (("conditional",), "classifier"),
    "marginal": (("conditional",), "density"),
}


def _parse_composition(name: str, raw: dict, source: str) -> ModelEntry:
    kind = raw["compose"]
    if kind not in COMPOSITIONS:
        raise _entry_error(source, name, "compose", f"expected one of {', '.join(COMPOSITIONS)}, got {kind!r}")
    part_fields, task = COMPOSITIONS[kind]
    known = {"compose", *part_fields, "prior", "task", "dataset", "config", "metrics", "paper", "license"}
    for key in raw:
        if key not in known:
            raise _entry_error(source, name, key, f"unknown field for compose: {kind} (known: {', '.join(sorted(known))})")
    parts = {}
    for key in part_fields:
        if not isinstance(raw.get(key), str) or not MODEL_NAME.match(raw[key]):
            raise _entry_error(source, name, key, f"expected the registry name of the {key}, got {raw.get(key)!r}")
        parts[key] = raw[key]
    if raw.get("task", task) != task:
        raise _entry_error(source, name, "task", f"compose: {kind} gives a {task} model, not {raw['task']!r}")
    priors = ("implied", "uniform", "data") if kind == "bayes" else ("uniform", "data")
    prior = raw.get("prior", priors[0])
    if prior not in priors:
        raise _entry_error(source, name, "prior", f"expected one of {', '.join(priors)}, got {prior!r}")
    config = raw.get("config", {}) or {}
    if not isinstance(config, dict) or set(config) - {"prior_samples", "seed"}:
        raise _entry_error(source, name, "config", "a composition takes only prior_samples and seed")
    metrics = raw.get("metrics", {}) or {}
    if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
        raise _entry_error(source, name, "metrics", "expected a mapping of names to numbers")
    return ModelEntry(name=name, architecture=None, task=task, config=dict(config), dataset=raw.get("dataset"),
                      metrics={k: float(v) for k, v in metrics.items()}, paper=raw.get("paper"),
                      license=raw.get("license"), source=source, compose=kind, parts=parts, prior=prior)


def _parse_weights(raw: Any, name: str, source: str, base: Path | None) -> Weights:
    if not isinstance(raw, dict):
        raise _entry_error(source, name, "weights", "expected a mapping with one of bundled, local, hub and sha256")
    for key in raw:
        if key not in ("bundled", "local", "hub", "sha256"):
            raise _entry_error(source, name, f"weights.{key}", "unknown field (known: bundled, local, hub, sha256)")
    where = [key for key in ("bundled", "local", "hub") if raw.get(key) is not None]
    if len(where) != 1:
        raise _entry_error(source, name, "weights", f"give exactly one of bundled, local, hub; got {where or 'none'}")
    sha = raw.get("sha256")
    if not isinstance(sha, dict) or any(not isinstance(v, str) or not SHA256.match(v) for v in sha.values()):
        raise _entry_error(source, name, "weights.sha256", "expected a mapping of file names to 64-hex sha256 digests")
    missing = [f for f in REQUIRED_HASHES if f not in sha]
    if missing:
        raise _entry_error(source, name, "weights.sha256", f"missing {', '.join(missing)} (compute with sha256sum)")
    kind = where[0]
    if kind == "hub":
        hub = raw["hub"]
        if not isinstance(hub, dict) or not isinstance(hub.get("repo"), str) or hub["repo"].count("/") != 1:
            raise _entry_error(source, name, "weights.hub.repo", "expected {repo: org/name, revision: <40-hex commit>}")
        if not isinstance(hub.get("revision"), str) or not SHA1.match(hub["revision"]):
            raise _entry_error(source, name, "weights.hub.revision",
                               f"expected a pinned 40-hex commit sha (never a branch), got {hub.get('revision')!r}")
        return Weights(hub_repo=hub["repo"], hub_revision=hub["revision"], sha256=dict(sha))
    value = raw[kind]
    if not isinstance(value, str) or not value:
        raise _entry_error(source, name, f"weights.{kind}", f"expected a path, got {value!r}")
    if kind == "bundled":
        if value.startswith("/") or ".." in Path(value).parts:
            raise _entry_error(source, name, "weights.bundled", "expected 'package/folder' inside an installed package")
        return Weights(bundled=value, sha256=dict(sha))
    path = Path(value).expanduser()
    return Weights(local=path if path.is_absolute() or base is None else base / path, sha256=dict(sha))


def _read_file(path: Path, source: str) -> dict[str, ModelEntry]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RegistryError(f"{source}: cannot read registry file: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise RegistryError(f"{source}: not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"models"} or not isinstance(data.get("models") or {}, dict):
        raise RegistryError(f"{source}: expected a mapping with one key 'models' holding the entries")
    return {name: parse_entry(name, raw, source, path.parent) for name, raw in (data.get("models") or {}).items()}


def _add(found: dict[str, ModelEntry], entry: ModelEntry) -> None:
    if entry.name in found:
        raise RegistryError(f"model '{entry.name}' is defined twice: by {found[entry.name].source} and by {entry.source}")
    found[entry.name] = entry


def _call_hooks(hook_name: str, make_register: Callable[[str], Callable]) -> None:
    """Call one hook of every plugin separately, so one that raises is set aside alone."""
    from zoo_core import plugins

    pm = plugins.load_plugins()
    names = plugins.allowed()
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if names is not None and impl.plugin_name not in names:
            continue  # loaded earlier in this process, before ZOO_PLUGINS changed
        try:
            impl.function(make_register(impl.plugin_name))
        except RegistryError:
            raise
        except Exception as error:
            plugins.set_broken(impl.plugin_name, error)


#: The source of the entries in the registry.yaml packaged with zoo_core.
PACKAGED = "zoo_core/registry.yaml"
_cache: dict[tuple, Any] = {}


def packaged_file() -> Path:
    """The registry.yaml packaged with zoo_core (in a checkout, a link to the repository's)."""
    return Path(str(resources.files("zoo_core").joinpath("registry.yaml")))


def reload() -> None:
    """Forget what was read, so that the next lookup reads the registry files again."""
    _cache.clear()


def _key(kind: str) -> tuple:
    return kind, os.environ.get("ZOO_REGISTRY", ""), os.environ.get("ZOO_PLUGINS")


def _models() -> dict[str, ModelEntry]:
    key = _key("models")
    if key in _cache:
        return _cache[key]
    found: dict[str, ModelEntry] = {}
    for entry in _read_file(packaged_file(), PACKAGED).values():
        _add(found, entry)

    def make_register(plugin: str):
        def register(name: str, entry: dict) -> None:
            _add(found, parse_entry(name, entry, f"plugin '{plugin}'"))
        return register

    _call_hooks("zoo_register_models", make_register)
    for item in filter(None, os.environ.get("ZOO_REGISTRY", "").split(os.pathsep)):
        for entry in _read_file(Path(item).expanduser(), item).values():
            _add(found, entry)
    _cache[key] = found
    return found


def _architectures() -> dict[str, Architecture]:
    key = _key("architectures")
    if key in _cache:
        return _cache[key]
    found: dict[str, Architecture] = {}

    def make_register(plugin: str):
        def register(name: str, builder: Callable, *, task: str) -> None:
            match = ARCH_NAME.match(name) if isinstance(name, str) else None
            if match is None or match.group(1) != plugin:
                raise RegistryError(f"plugin '{plugin}' registered architecture {name!r}: names are '{plugin}/<arch>'")
            if task not in TASKS:
                raise RegistryError(f"plugin '{plugin}' registered '{name}' with task {task!r}: expected one of {TASKS}")
            if not callable(builder):
                raise RegistryError(f"plugin '{plugin}' registered '{name}' with a builder that is not callable")
            if name in found:
                raise RegistryError(f"architecture '{name}' is registered twice: by plugin "
                                    f"'{found[name].plugin}' and by plugin '{plugin}'")
            found[name] = Architecture(name, builder, task, plugin)
        return register

    _call_hooks("zoo_register_architectures", make_register)
    _cache[key] = found
    return found


def list_models(pattern: str = "*", *, task: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Names of registry entries matching a shell-style ``pattern``, sorted.

    Args:
        pattern: e.g. ``"pixelcnn-*"``.
        task: keep only ``"density"``, ``"conditional"`` or ``"classifier"`` entries.
        pretrained: keep only entries with (True) or without (False) weights.
    """
    if task is not None and task not in TASKS:
        raise RegistryError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return sorted(
        name for name, entry in _models().items()
        if fnmatch.fnmatchcase(name, pattern)
        and (task is None or entry.task == task)
        and (pretrained is None or entry.pretrained == pretrained)
    )


def info(name: str) -> ModelEntry:
    """The registry entry of ``name``; raises :class:`UnknownModel` with close matches."""
    models = _models()
    if name not in models:
        close = [m for m in models if name in m or m in name][:5]
        hint = f"; did you mean {', '.join(close)}?" if close else "; `zoo list` shows every model"
        raise UnknownModel(f"no model named '{name}' in the registry{hint}")
    return models[name]


def architectures(pattern: str = "*", *, task: str | None = None) -> list[str]:
    """Names of the architectures that installed plugins register, e.g. ``"pixelcnn/gated"``."""
    if task is not None and task not in TASKS:
        raise RegistryError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return sorted(
        name for name, arch in _architectures().items()
        if fnmatch.fnmatchcase(name, pattern) and (task is None or arch.task == task)
    )


def architecture(name: str) -> Architecture:
    """The registered architecture ``name``; says which plugin to install when it is missing."""
    found = _architectures()
    if name in found:
        return found[name]
    from zoo_core import plugins

    plugin = name.split("/", 1)[0]
    failed = plugins.broken(plugin)
    if failed is not None:
        raise PluginNotInstalled(f"plugin '{plugin}' ({failed.package}) is installed but broken: {failed.error}")
    names = plugins.allowed()
    if names is not None and plugin not in names:
        raise PluginNotInstalled(f"architecture '{name}' needs the plugin '{plugin}', which ZOO_PLUGINS="
                                 f"{os.environ['ZOO_PLUGINS']} leaves out; add it there")
    if any(p.name == plugin for p in plugins.list_plugins()):
        known = ", ".join(a for a in found if a.startswith(plugin + "/")) or "none"
        raise UnknownModel(f"plugin '{plugin}' has no architecture '{name}' (it has: {known})")
    if plugin in FIRST_PARTY:
        package = FIRST_PARTY[plugin]
        raise PluginNotInstalled(
            f"architecture '{name}' needs the plugin {package}: pip install {package} "
            f"(from a zoo checkout: pip install ./plugins/{package})")
    raise PluginNotInstalled(
        f"architecture '{name}' needs a plugin named '{plugin}', which is not installed; "
        f"install the package that provides it (`zoo plugins` lists those installed)")
