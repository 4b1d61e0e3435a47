"""Figures of merit: computing them over a data set, and recording them where they are shown.

- Density models: bits/dim = −log₂ p(x) / D with D = C·H·W sub-pixels, from ``log_prob``'s
  natural logs: −log p(x) / (D ln 2).
- Conditional models: the same with p(x | y), the image's own label given; reported under
  the same key (``test_bits_per_dim``), and named "conditional" wherever it is shown.
- Classifiers: accuracy (fraction of images whose most probable class is the label) and NLL,
  −log p(y | x) in nats, both averaged over the images.

:func:`evaluate` names each figure ``{split}_bits_per_dim``, ``{split}_accuracy``,
``{split}_nll``. :func:`record` writes figures into a registry entry and its model card,
so that no figure in the registry or a card is typed by hand.
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
from pathlib import Path
from typing import Any

from zoo_core import registry
from zoo_core.errors import InvalidInput, RegistryError

__all__ = ["bits_per_dim", "evaluate", "evaluate_ref", "task_of", "MEASURES", "record", "recordable",
           "registry_file", "refresh_card"]

#: What each task's headline figure measures, as the CLI and model cards say it.
MEASURES = {
    "density": "bits/dim, -log2 p(x) / D",
    "conditional": "conditional bits/dim, -log2 p(x | y) / D",
    "classifier": "accuracy and NLL in nats, -ln p(y | x)",
}


def task_of(model) -> str:
    """``"density"``, ``"conditional"`` or ``"classifier"``: which protocol ``model`` follows.

    A model that zoo built answers with its architecture's registered task; any other object
    by its members (``predict_log_proba``: classifier; ``log_prob`` and ``num_classes``:
    conditional; ``log_prob``: density).
    """
    arch = getattr(model, "zoo_architecture", None)
    if arch is not None:
        return registry.architecture(arch).task
    if hasattr(model, "predict_log_proba"):
        return "classifier"
    if hasattr(model, "log_prob"):
        return "conditional" if hasattr(model, "num_classes") else "density"
    raise InvalidInput(f"a {type(model).__name__} is no zoo model: it has neither log_prob nor predict_log_proba")


def _device_of(model):
    import torch

    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        try:
            return next(model.buffers()).device
        except (AttributeError, StopIteration):
            return torch.device("cpu")


def bits_per_dim(model, x, y=None) -> float:
    """Mean bits per sub-pixel of the images ``x`` under ``model``: −mean log p / (D ln 2).

    Args:
        model: a density model, or a conditional model (then ``y`` is required).
        x: integer images (B, C, H, W) with values in [0, num_levels).
        y: labels (B,) for a conditional model.

    Raises:
        InvalidInput: a classifier (it has no p(x)), a missing or unexpected ``y``, bad input.
    """
    import torch

    task = task_of(model)
    if task == "classifier":
        raise InvalidInput("bits/dim needs p(x) or p(x | y); a classifier gives p(y | x): use evaluate() for "
                           "its accuracy and NLL")
    if (task == "conditional") != (y is not None):
        raise InvalidInput("a conditional model needs the labels y" if y is None else
                           "a density model takes no labels: call bits_per_dim(model, x)")
    device = _device_of(model)
    with torch.no_grad():
        args = (x.to(device),) if y is None else (x.to(device), y.to(device))
        log_p = model.log_prob(*args).double()
    return float(-log_p.mean().item() / (math.prod(model.event_shape) * math.log(2)))


def _check_fits(model, task: str, images, labels, levels: int | None, name: str) -> None:
    shape = tuple(images.shape[1:])
    if tuple(model.event_shape) != shape:
        raise InvalidInput(f"the model takes images of shape {tuple(model.event_shape)}, but {name} has {shape}")
    if levels is not None and levels != model.num_levels:
        raise InvalidInput(f"the model takes images with {model.num_levels} levels, but {name} has {levels}")
    if task != "density" and labels is None:
        raise InvalidInput(f"a {task} model needs labels, and {name} has none")
    if task != "density" and len(labels) and int(labels.max()) >= model.num_classes:
        raise InvalidInput(f"{name} has labels up to {int(labels.max())}, but the model has {model.num_classes} "
                           f"classes")


def evaluate(model, dataset, *, batch_size: int = 256, device=None, limit: int | None = None,
             split: str | None = None, progress: bool = True) -> dict[str, float]:
    """The model's figures over a whole data split, in batches, without gradients.

    Args:
        model: a density, conditional or classifier model (any object with the members).
        dataset: has ``images`` (N, C, H, W) integers, ``labels`` (N,) and ``split``
            (e.g. a :func:`zoo_core.data.load_dataset` result).
        batch_size: images per forward pass.
        device: where to compute (``"cpu"``, ``"cuda"``, ...); None keeps the model's device.
        limit: only the first ``limit`` images (for smoke runs; such figures are not the split's).
        split: the key prefix; defaults to ``dataset.split``.
        progress: show a tqdm progress bar on stderr.

    When ``torch.distributed`` is initialised, each process takes every ``world_size``-th
    image and the sums are all-reduced, so every process returns the whole split's figures.

    Returns:
        ``{split}_bits_per_dim`` for density and conditional models (the latter conditional,
        −log₂ p(x | y) / D); ``{split}_accuracy`` (a fraction) and ``{split}_nll`` (nats per
        image) for classifiers.

    Raises:
        InvalidInput: the data do not fit the model (shape, levels, classes).
    """
    import torch
    import torch.distributed as dist
    from tqdm.auto import tqdm

    task = task_of(model)
    split = split or getattr(dataset, "split", None) or "test"
    images = dataset.images if limit is None else dataset.images[:limit]
    labels = getattr(dataset, "labels", None)
    labels = labels if labels is None or limit is None else labels[:limit]
    _check_fits(model, task, images, labels, getattr(dataset, "num_levels", None),
                f"{getattr(dataset, 'name', 'the data set')} ({split})")
    if device is not None and hasattr(model, "to"):
        model = model.to(device)
    device = _device_of(model)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() \
        else (0, 1)
    mine = torch.arange(rank, len(images), world)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    # sums: -log p in nats, correct predictions, images; float64 so that a large split loses nothing
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    batches = range(0, len(mine), batch_size)
    try:
        with torch.no_grad():
            for start in tqdm(batches, desc=f"eval {split}", unit="batch", file=sys.stderr,
                              disable=not progress or rank != 0, leave=False):
                index = mine[start:start + batch_size]
                x = images[index].to(device)
                if task == "classifier":
                    y = labels[index].to(device)
                    log_p = model.predict_log_proba(x).double()
                    sums[0] -= log_p.gather(1, y[:, None]).sum()
                    sums[1] += (log_p.argmax(1) == y).sum()
                else:
                    args = (x,) if task == "density" else (x, labels[index].to(device))
                    sums[0] -= model.log_prob(*args).double().sum()
                sums[2] += len(index)
    finally:
        if was_training:
            model.train()
    if world > 1:
        dist.all_reduce(sums)
    nll, correct, count = sums.tolist()
    if count == 0:
        raise InvalidInput(f"no images to evaluate in {getattr(dataset, 'name', 'the data set')} ({split})")
    if task == "classifier":
        return {f"{split}_accuracy": correct / count, f"{split}_nll": nll / count}
    return {f"{split}_bits_per_dim": nll / count / (math.prod(images.shape[1:]) * math.log(2))}


def _evaluate_process(ref: str, examples, kind: str, batch_size: int, progress: bool) -> tuple[dict, str]:
    """One process's part of :func:`evaluate_ref` (module level: launched processes import it)."""
    import zoo_core as zoo
    from zoo_core.train import local_device

    model = zoo.load(ref, device=local_device(kind))
    return evaluate(model, examples, batch_size=batch_size, progress=progress), task_of(model)


def evaluate_ref(ref: str, data: str | None = None, *, split: str = "test", batch_size: int = 256,
                 device: str | None = None, limit: int | None = None, nproc: int = 1,
                 progress: bool = True) -> dict[str, Any]:
    """Load ``ref`` and :func:`evaluate` it on ``split`` of the data set ``data``: ``zoo eval``.

    Args:
        ref: a registry name, ``hf:org/name[@rev]`` or a checkpoint folder.
        data: a data set name; default: the registry entry's data set.
        nproc: processes sharing the images (all-reduced sums); under torchrun, its own.
        split, batch_size, device, limit, progress: as for :func:`evaluate`.

    Returns:
        ``{"model", "task", "measure", "dataset", "split", "images", "metrics"}``, where
        ``metrics`` is what :func:`evaluate` returns and ``measure`` says what it measures.

    Raises:
        ZooError: no data set given and none in the entry; unknown model or data set; data
            that do not fit the model; a failed process.
    """
    from zoo_core import train as engine

    if data is None:
        entry = registry.info(ref) if ref in registry.list_models() else None
        data = entry.dataset if entry is not None else None
        if data is None:
            raise InvalidInput(f"which data set? {ref} names none: give --data (fashion-mnist, digits, cifar10)")
    examples = engine.examples_of(data, limit, split)
    kind = engine.device_kind(device)
    if engine.under_torchrun() and nproc != 1:
        raise InvalidInput(engine.UNDER_TORCHRUN)
    if nproc == 1:
        figures, task = engine.in_group(_evaluate_process, kind, ref, examples, kind, batch_size, progress)
    else:
        figures, task = engine.launch(_evaluate_process, nproc, kind, ref, examples, kind, batch_size, progress)[0]
    return {"model": ref, "task": task, "measure": MEASURES[task], "dataset": data, "split": split,
            "images": len(examples.images), "metrics": figures}


# --- recording figures: registry entries and model cards ------------------------------------


def _rounded(value: float) -> float:
    return float(f"{value:.6g}")


def registry_file(entry) -> Path:
    """The YAML file that defines ``entry``; plugin entries live in code and cannot be written."""
    if entry.source.startswith("plugin "):
        raise RegistryError(
            f"'{entry.name}' is defined by {entry.source}'s zoo_register_models hook, in code, which zoo cannot "
            f"rewrite: move the entry to a registry YAML file (ZOO_REGISTRY) so that `zoo eval --write-registry` "
            f"can record its figures")
    if entry.source == registry.PACKAGED:
        return registry.packaged_file()
    return Path(entry.source).expanduser()


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    import yaml

    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    if match is None:
        return {}, text
    header = yaml.safe_load(match.group(1)) or {}
    return (header if isinstance(header, dict) else {}), text[match.end():]


def _section(body: str, title: str) -> tuple[int, int] | None:
    """Start and end offsets of the markdown section ``## title`` in ``body``, or None."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n", body, re.M)
    if match is None:
        return None
    following = re.search(r"^## ", body[match.end():], re.M)
    return match.start(), match.end() + following.start() if following else len(body)


def _card_metrics(text: str) -> dict[str, float]:
    """The metrics in a model card's ``model-index`` metadata."""
    header, _ = _split_front_matter(text)
    found: dict[str, float] = {}
    for model in header.get("model-index") or []:
        for result in (model or {}).get("results") or []:
            for metric in (result or {}).get("metrics") or []:
                if isinstance(metric, dict) and isinstance(metric.get("value"), (int, float)):
                    found[str(metric.get("type"))] = float(metric["value"])
    return found


def refresh_card(text: str, config: dict[str, Any], *, name: str, dataset: str | None,
                 metrics: dict[str, float]) -> str:
    """``text`` (a README.md model card) with its metrics replaced by ``metrics``.

    The metadata header's ``model-index`` and the "## Metrics" section are rewritten from
    :func:`zoo_core.checkpoint.model_card`; everything else in the card stays as it is.
    """
    import yaml

    from zoo_core.checkpoint import model_card

    fresh_header, fresh_body = _split_front_matter(model_card(config, name=name, dataset=dataset, metrics=metrics))
    header, body = _split_front_matter(text)
    if dataset and "datasets" not in header:
        header["datasets"] = [dataset]
    header["model-index"] = fresh_header["model-index"]
    order = ["library_name", "license", "tags", "datasets", "model-index"]
    header = {key: header[key] for key in order if key in header} | \
        {key: value for key, value in header.items() if key not in order}
    where = _section(fresh_body, "Metrics")
    table = fresh_body[where[0]:where[1]].rstrip("\n") + "\n"
    old = _section(body, "Metrics")
    if old is not None:
        start, end = old
    else:  # a card written without metrics: they go before the recipe, where model_card puts them
        recipe = _section(body, "Training recipe")
        start = end = recipe[0] if recipe is not None else len(body)
    before, after = body[:start], body[end:]
    if before and not before.endswith("\n\n"):
        before = before.rstrip("\n") + "\n\n"
    body = before + table + ("\n" if after else "") + after
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip() + "\n---\n" + body


def _rewrite(path: Path, text: str) -> None:
    """Replace a file's text in one step, keeping its permissions."""
    import stat

    from zoo_core.checkpoint import atomic_write

    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), mode=mode)


def recordable(name: str, dataset: str | None = None):
    """The registry entry ``name`` and the file to write its figures in, if :func:`record` can.

    Raises:
        UnknownModel: no such entry.
        RegistryError: the entry comes from a plugin's hook, or is a model of another data set.
    """
    entry = registry.info(name)
    if dataset is not None and entry.dataset is not None and dataset != entry.dataset:
        raise RegistryError(f"'{name}' is a model of {entry.dataset}: figures measured on {dataset} do not belong "
                            f"in its entry")
    return entry, registry_file(entry)


def record(name: str, figures: dict[str, float], *, dataset: str | None = None) -> Path:
    """Write ``figures`` into the metrics of registry entry ``name``, in the YAML file defining it.

    Other entries, other metrics of this entry, the file's leading comment lines and the key
    order are kept. When the entry's weights are a local or bundled folder, the ``README.md``
    model card there gets the entry's metrics too (on top of those it has), and a sha256 pin of ``README.md`` in the
    entry is updated to the new card.

    Returns:
        The registry file written.

    Raises:
        RegistryError: the entry comes from a plugin's hook (code, not a file), or ``dataset``
            differs from the entry's data set.
    """
    import json

    import yaml

    from zoo_core import checkpoint, registry

    entry, path = recordable(name, dataset)
    text = path.read_text(encoding="utf-8")
    leading = []  # the comment lines (and blank lines) above the first key, kept as they are
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        leading.append(line)
    data = yaml.safe_load(text)
    raw = data["models"][name]
    metrics = dict(raw.get("metrics") or {})
    metrics.update({key: _rounded(value) for key, value in figures.items()})
    raw["metrics"] = metrics

    card = None
    weights = entry.weights
    if weights is not None and weights.hub_repo is None:
        folder = checkpoint.registry_folder(entry)  # verifies the pinned files first
        readme = folder / "README.md"
        config = json.loads((folder / "config.json").read_text())
        old = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        shown = {**_card_metrics(old), **metrics}  # the card keeps figures the entry lacks (training figures)
        card = (readme, refresh_card(old, config, name=name, dataset=dataset or entry.dataset, metrics=shown))
        if "README.md" in weights.sha256:
            raw["weights"]["sha256"]["README.md"] = hashlib.sha256(card[1].encode("utf-8")).hexdigest()
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=4096)
    new_text = "".join(leading) + dumped
    if card is not None:
        _rewrite(*card)
    _rewrite(path, new_text)
    registry.reload()  # the next lookup reads the new figures
    return path
