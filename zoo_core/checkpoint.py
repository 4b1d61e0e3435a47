"""Build, save and load models: every checkpoint, wherever it comes from, loads through here.

A checkpoint folder has the Hugging Face layout: ``config.json`` (architecture, builder
config, task, event shape, levels, classes, zoo-core version), ``model.safetensors`` and a
``README.md`` model card with YAML metadata. Weights are read with safetensors only.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import yaml

from zoo_core import hub, registry
from zoo_core.errors import IntegrityError, UnknownModel, WeightsUnavailable, ZooError
from zoo_core.protocols import Classifier, ConditionalModel, DensityModel

__all__ = ["build", "save", "load"]

_PROTOCOLS = {"density": DensityModel, "conditional": ConditionalModel, "classifier": Classifier}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def build(architecture: str, **config: Any):
    """An untrained model of a registered architecture, e.g. ``build("pixelcnn/gated")``.

    ``config`` goes to the plugin's builder (``event_shape``, ``num_levels``, ...). The
    model remembers its architecture and config so that :func:`save` can write them: the
    config given, plus the defaults of the model class for the arguments left out (see
    :func:`_resolved`), so that a checkpoint builds the same model after a default changes.

    Raises:
        PluginNotInstalled: no installed plugin provides ``architecture``.
        RegistryError: the builder returned something without the members its task needs.
    """
    arch = registry.architecture(architecture)
    model = arch.builder(**config)
    protocol = _PROTOCOLS[arch.task]
    if not isinstance(model, protocol):
        raise registry.RegistryError(
            f"architecture '{architecture}' (plugin '{arch.plugin}') built a {type(model).__name__}, which lacks "
            f"the members of {protocol.__name__}")
    model.zoo_architecture = architecture
    model.zoo_config = _resolved(arch.builder, model, config)
    return model


def _resolved(builder, model, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the defaults of the arguments it leaves out, as far as they are knowable.

    A builder with named parameters states its own defaults: those are recorded. A builder
    that takes only ``**config`` is taken to hand it to the model class unchanged (the plugin
    contract, CONTRIBUTING.md), so the defaults of ``type(model)``'s constructor are recorded.
    Only defaults that survive a JSON round trip are written, as copies; positional-only
    parameters and a constructor that cannot take ``config`` as it is (or takes ``**kwargs``)
    leave the config as given.
    """
    try:
        signature = inspect.signature(builder)
        named = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
        if not named:
            signature = inspect.signature(type(model))
        bound = signature.bind(**config)
    except (TypeError, ValueError):
        return dict(config)
    if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in signature.parameters.values()):
        return dict(config)
    resolved = dict(config)
    for name, parameter in signature.parameters.items():
        if name in bound.arguments or parameter.default is parameter.empty or parameter.kind == parameter.POSITIONAL_ONLY:
            continue
        value = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
        try:
            copied = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            continue  # not something config.json can hold: left to the code
        if copied == value:
            resolved[name] = copied
    return resolved


def atomic_write(path: Path, write, *, mode: int | None = None) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a file.

    ``write(tmp)`` writes the temporary file. A symbolic link at ``path`` is followed, so the
    file it points to is replaced, not the link. The file gets ``mode``, by default the usual
    permissions for a new file (0666 less the umask).
    """
    path = Path(path).resolve()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # not mkstemp's 0600
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _config_of(model) -> dict[str, Any]:
    arch = getattr(model, "zoo_architecture", None)
    if arch is None:
        raise ZooError(f"cannot save a {type(model).__name__} that zoo did not build: make it with zoo.build or zoo.load")
    config = {
        "architecture": arch,
        "config": model.zoo_config,
        "task": registry.architecture(arch).task,
        "event_shape": list(model.event_shape),
        "num_levels": int(model.num_levels),
        "zoo_core_version": metadata.version("zoo-core"),
    }
    if hasattr(model, "num_classes"):
        config["num_classes"] = int(model.num_classes)
        config["class_names"] = list(model.class_names)
    try:
        json.dumps(config)
    except TypeError as error:
        raise ZooError(f"cannot save: the builder config of {arch} is not JSON ({error})") from None
    return config


def model_card(config: dict[str, Any], *, name: str | None = None, description: str | None = None,
               dataset: str | None = None, license: str | None = None, paper: str | None = None,
               metrics: dict[str, float] | None = None, recipe: dict[str, Any] | None = None) -> str:
    """The README.md of a checkpoint: Hugging Face YAML metadata, then a readable summary."""
    name = name or config["architecture"].replace("/", "-")
    header: dict[str, Any] = {"library_name": "zoo"}
    if license:
        header["license"] = license
    header["tags"] = ["zoo", config["architecture"], config["task"]]
    if dataset:
        header["datasets"] = [dataset]
    if metrics:
        splits: dict[str | None, list] = {}  # "test_bits_per_dim" is a figure on the test split
        for key, value in metrics.items():
            split = key.split("_", 1)[0] if key.split("_", 1)[0] in ("train", "test", "validation") else None
            splits.setdefault(split, []).append({"type": key, "value": float(value)})
        header["model-index"] = [{"name": name, "results": [{
            "task": {"type": config["task"]},
            **({"dataset": {"name": dataset, "type": dataset, **({"split": split} if split else {})}} if dataset else {}),
            "metrics": figures,
        } for split, figures in splits.items()]}]
    lines = ["---", yaml.safe_dump(header, sort_keys=False).rstrip(), "---", "", f"# {name}", ""]
    if description:
        lines += [description, ""]
    lines += [f"A `{config['architecture']}` {config['task']} model for images of shape "
              f"{tuple(config['event_shape'])} with {config['num_levels']} levels, for "
              f"[zoo](https://pypi.org/project/zoo-core/).", "",
              "```python", "import zoo_core as zoo", f'model = zoo.load("{name}")', "```", ""]
    if paper:
        lines += [f"Paper: {paper}", ""]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {key} | {value:.4g} |" for key, value in metrics.items()] + [""]
    if recipe:
        lines += ["## Training recipe", "", "```yaml", yaml.safe_dump(recipe, sort_keys=False, width=1000).rstrip(), "```", ""]
    return "\n".join(lines)


def save(model, folder, **card: Any) -> Path:
    """Write ``model`` as a checkpoint folder: config.json, model.safetensors, README.md.

    Each file is written whole or not at all. ``card`` fills the model card: ``name``,
    ``description``, ``dataset``, ``license``, ``paper``, ``metrics`` (a dict) and
    ``recipe`` (a dict describing how it was trained).

    Returns:
        The folder, as a ``Path``.
    """
    from safetensors.torch import save_model

    folder = Path(folder)
    config = _config_of(model)
    text = model_card(config, **card)  # a bad card argument fails before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "model.safetensors", lambda tmp: save_model(model, tmp, metadata={"format": "pt"}))
    atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    atomic_write(folder / "README.md", lambda tmp: Path(tmp).write_text(text))
    return folder


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise WeightsUnavailable(f"{folder} is not a zoo checkpoint: it has no config.json")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IntegrityError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str) \
            or not isinstance(config.get("config", {}), dict):
        raise IntegrityError(f"{path}: expected an object with 'architecture' and 'config' (write it with zoo.save)")
    return config


def _weights_file(folder: Path) -> Path:
    path = folder / "model.safetensors"
    if path.is_file():
        return path
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise IntegrityError(
            f"{folder}: refusing the pickle checkpoint {', '.join(pickles)}: loading pickle can run arbitrary "
            f"code, and zoo reads weights only from model.safetensors (convert it with safetensors.torch.save_model)")
    raise WeightsUnavailable(f"{folder}: no model.safetensors in the checkpoint folder")


def load_folder(folder, *, pretrained: bool = True, architecture: str | None = None):
    """Build the model that ``folder``'s config.json describes and load its safetensors weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    folder = Path(folder)
    config = _read_config(folder)
    if architecture is not None and config["architecture"] != architecture:
        raise IntegrityError(f"{folder / 'config.json'} describes a '{config['architecture']}', "
                             f"but the registry entry says '{architecture}'")
    weights = _weights_file(folder) if pretrained else None
    model = build(config["architecture"], **config.get("config", {}))
    if weights is not None:
        try:
            missing, unexpected = load_model(model, weights, strict=False)
        except (SafetensorError, OSError, ValueError) as error:
            raise IntegrityError(f"{weights}: not a readable safetensors file ({error})") from None
        except RuntimeError as error:  # shapes differ from the architecture's
            raise IntegrityError(f"{weights}: does not fit {config['architecture']}: {error}") from None
        if missing or unexpected:
            raise IntegrityError(f"{weights}: does not fit {config['architecture']}: "
                                 f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    return model


def registry_folder(entry: registry.ModelEntry) -> Path:
    weights = entry.weights
    if weights is None:
        raise WeightsUnavailable(
            f"'{entry.name}' has no published weights: zoo.load('{entry.name}', pretrained=False) builds it "
            f"untrained; train it with `zoo train {entry.architecture} --data {entry.dataset or 'DATA'} --out DIR`, "
            f"or publish weights with `zoo publish`")
    if weights.hub_repo is not None:
        folder = hub.download(weights.hub_repo, weights.hub_revision)
    elif weights.local is not None:
        folder = weights.local
    else:
        package, _, rest = weights.bundled.partition("/")
        try:
            folder = Path(str(resources.files(package).joinpath(rest)))
        except ModuleNotFoundError:
            raise WeightsUnavailable(f"'{entry.name}' bundles its weights in the package '{package}', which is not "
                                     f"installed") from None
    if not folder.is_dir():
        raise WeightsUnavailable(f"'{entry.name}': its checkpoint folder {folder} does not exist")
    hub.verify(folder, weights.sha256)
    return folder


def load(ref: str, *, pretrained: bool = True, device=None, dtype=None, revision: str | None = None):
    """Load a model by registry name, ``"hf:org/repo[@rev]"`` or checkpoint folder.

    Args:
        ref: a registry name (``"pixelcnn-fashion-mnist"``), a Hub reference, or a folder.
        pretrained: False builds the architecture untrained from the same config.
        device, dtype: passed to ``model.to``; ``dtype`` may be a name such as ``"float64"``.
        revision: branch, tag or commit for ``hf:`` references (same as ``@rev``).

    Returns:
        The model, in eval mode.

    Raises:
        UnknownModel, PluginNotInstalled, WeightsUnavailable, IntegrityError.
    """
    if not isinstance(ref, (str, os.PathLike)):
        raise UnknownModel(f"expected a registry name, hf:org/name or a folder; got {type(ref).__name__}")
    text = os.fspath(ref)
    if text.startswith(hub.HF_PREFIX):
        repo, at = hub.parse_hf_ref(text)
        if at and revision and at != revision:
            raise WeightsUnavailable(f"'{text}' names revision '{at}' but revision='{revision}' was also given")
        files = hub.CHECKPOINT_FILES if pretrained else ("config.json",)
        model = load_folder(hub.download(repo, at or revision, files=files), pretrained=pretrained)
    else:
        is_entry = text in registry.list_models()
        if is_entry and Path(text).is_dir():
            raise UnknownModel(f"'{text}' is both a registry name and a folder here: write ./{text} for the folder")
        if revision is not None:
            raise WeightsUnavailable("revision= applies to hf: references; registry entries pin their own revision")
        if is_entry:
            entry = registry.info(text)
            if entry.compose is not None:
                model = _compose(entry, pretrained=pretrained)
            elif not pretrained:
                registry.architecture(entry.architecture)
                model = build(entry.architecture, **entry.config)
            else:
                model = load_folder(registry_folder(entry), architecture=entry.architecture)
        elif Path(text).is_dir():
            model = load_folder(Path(text), pretrained=pretrained)
        else:
            registry.info(text)  # raises UnknownModel with suggestions
    if isinstance(dtype, str):
        import torch

        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise ZooError(f"unknown dtype '{dtype}': use a torch dtype or its name, e.g. 'float32', 'float64'")
        dtype = resolved
    if hasattr(model, "to") and (device is not None or dtype is not None):
        model = model.to(device=device, dtype=dtype)
    return model.eval() if hasattr(model, "eval") else model


def _compose(entry: registry.ModelEntry, *, pretrained: bool):
    """Load a composition entry's parts by name and compose them (zoo_core.compose)."""
    import torch

    from zoo_core import compose

    parts = {role: load(name, pretrained=pretrained) for role, name in entry.parts.items()}
    if entry.compose == "bayes":
        generator = torch.Generator().manual_seed(int(entry.config.get("seed", 0)))
        return compose.bayes(parts["classifier"], parts["density"], prior=entry.prior, generator=generator,
                             prior_samples=int(entry.config.get("prior_samples", 512)))
    return getattr(compose, entry.compose)(parts["conditional"], prior=entry.prior)
