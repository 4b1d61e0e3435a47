"""Training: one loop for every model that learns by gradient, and the models' own ``fit``.

The objective follows the task (design.md, "Training contract"): maximum likelihood,
``-log_prob(x).mean()`` for density models and ``-log_prob(x, y).mean()`` for conditional
models, and cross-entropy, the NLL of ``predict_log_proba(x)`` at the labels, for classifiers.
A model with a ``fit(x, y=None, *, generator=None, progress=True) -> dict`` method (EM for
mixtures) is fitted by one call to it instead.

The loop, and what makes it reproducible:

- Adam at ``lr``, on a cosine schedule (from ``lr`` at the first step to 0 after the last,
  no warm-up) or a constant one; the rate is a function of the step number alone.
- Each epoch visits the training images in a random order drawn from ``seed + epoch`` (the
  seeding of ``DistributedSampler``) in ``len // batch_size`` full batches; the last partial
  batch is dropped. Under ``N`` processes each global batch is dealt round-robin, as
  ``DistributedSampler`` deals, so process ``r`` takes images ``r, r+N, ...`` of it, and
  DistributedDataParallel's averaged gradient is the gradient of the whole batch: the run
  is the same computation as on one process, up to the order of float sums.
- The training state (weights, optimizer, position, each process's RNG states) is saved at
  the end of every epoch and every ``save_every`` steps in ``OUT/train_state/``: tensors as
  safetensors, the rest as JSON (never pickle). ``state.json`` is written last and
  atomically and names the folder holding the tensors, so a crash at any moment leaves the
  previous state whole. ``resume=True`` continues from it; the weights come out the same as
  those of a run that never stopped.
- On CUDA: bfloat16 autocast (``precision="bf16"``, the default there) and optionally
  ``torch.compile``. Several processes: torch.distributed (gloo on the CPU, NCCL on CUDA),
  started through torch's elastic launcher (the machinery of ``torchrun``) with a local
  rendezvous on 127.0.0.1, or taken from the environment when the command already runs
  under ``torchrun``. Only rank 0 writes files.

At the end the model is scored on the training images (:func:`zoo_core.metrics.evaluate`)
and written with :func:`zoo_core.checkpoint.save`; the model card carries the recipe.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record

from zoo_core import registry
from zoo_core.errors import InvalidInput, ZooError

__all__ = ["train", "parse_config", "Run", "Options", "Examples", "DEFAULTS", "SCHEDULES", "examples_of", "device_kind",
           "local_device", "under_torchrun", "process_group", "in_group", "launch"]

#: Settings a run takes when they are not given (and not resumed).
DEFAULTS: dict[str, Any] = {"epochs": 10, "batch_size": 64, "lr": 1e-3, "schedule": "cosine", "seed": 0,
                            "config": {}, "limit": None}
SCHEDULES = ("cosine", "constant")
UNDER_TORCHRUN = "this process runs under torchrun, which sets the number of processes: drop --nproc"
STATE = "train_state"  # the sub-folder of OUT holding the training state
_STATE_FORMAT = "zoo-train-state/1"
_BUILDER_DATA_KEYS = ("event_shape", "num_levels", "num_classes", "class_names")
_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


@dataclass(frozen=True)
class Run:
    """What defines a training run: the same Run gives the same weights."""

    architecture: str
    data: str  # the data set's name; the run uses its "train" split
    epochs: int
    batch_size: int  # images per step, over all processes together
    lr: float
    schedule: str  # "cosine" or "constant"
    seed: int
    config: dict[str, Any]  # builder arguments beyond those the data set fixes
    limit: int | None  # train on the first `limit` images only


@dataclass
class Options:
    """How to run it: none of these changes what is computed (except float rounding)."""

    out: Path
    device: str | None = None  # "cpu" or "cuda"; None: cuda when there is one
    precision: str | None = None  # "fp32" or "bf16" (autocast); None: bf16 on cuda, fp32 on cpu
    compile: bool = False
    save_every: int | None = None  # also save the state every this many steps
    name: str | None = None  # the model card's name; default: the folder's name
    keep_state: bool = False  # keep OUT/train_state after the checkpoint is written
    resume: bool = False
    progress: bool = True


@dataclass
class Examples:
    """The images a process works on; plain tensors, so they travel to worker processes."""

    name: str
    split: str
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None  # (N,) long
    num_levels: int
    class_names: list[str]


@dataclass
class _Position:
    """Where the loop stands: the next batch to run is ``step_in_epoch`` of ``epoch``."""

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    wall_time_s: float = 0.0
    epoch_sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # loss x images, correct, images
    history: list[dict[str, float]] = field(default_factory=list)


# --- settings ----------------------------------------------------------------------------


def parse_config(items: Sequence[str]) -> dict[str, Any]:
    """``["channels=64", "event_shape=[1,8,8]"]`` -> ``{"channels": 64, "event_shape": [1, 8, 8]}``.

    Values are read as YAML (numbers, booleans, strings, lists) and must be JSON, since the
    builder config is written to config.json.

    Raises:
        InvalidInput: an item without ``=``, a key that is no Python name, a key given twice,
            a value that is not YAML or not JSON.
    """
    import yaml

    config: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidInput(f"--config takes KEY=VALUE with KEY a builder argument name, e.g. channels=64; "
                               f"got {item!r}")
        if key in config:
            raise InvalidInput(f"--config {key} is given twice")
        try:
            value = yaml.safe_load(text) if text.strip() else None
            if isinstance(value, str) and _EXPONENT.match(value.strip()):
                value = float(value)  # YAML 1.1 reads 1e-3 as text; YAML 1.2 and Python as a number
            json.dumps(value)
        except (yaml.YAMLError, TypeError) as error:
            first = str(error).splitlines()[0]
            raise InvalidInput(f"--config {key}={text}: not a YAML number, string or list ({first})") from None
        config[key] = value
    return config


def _resolve(architecture: str, data: str, given: dict[str, Any], saved: dict | None, out: Path) -> Run:
    if saved is None:
        values = {key: DEFAULTS[key] if given[key] is None else given[key] for key in DEFAULTS}
        run = Run(architecture, data, **values)
    else:
        run = Run(**saved["run"])
        different = [f"{key} (saved {getattr(run, key)!r}, given {value!r})" for key, value in
                     [("architecture", architecture), ("data", data), *given.items()]
                     if value is not None and value != getattr(run, key)]
        if different:
            raise InvalidInput(f"{out} holds a run with other settings: {'; '.join(different)}; --resume continues "
                               f"it as it was started, so drop those options or use another --out")
    if not isinstance(run.epochs, int) or run.epochs < 1:
        raise InvalidInput(f"epochs must be a positive integer; got {run.epochs!r}")
    if not isinstance(run.batch_size, int) or run.batch_size < 1:
        raise InvalidInput(f"batch size must be a positive integer; got {run.batch_size!r}")
    if not isinstance(run.lr, (int, float)) or not run.lr > 0:
        raise InvalidInput(f"the learning rate must be a positive number; got {run.lr!r}")
    if run.schedule not in SCHEDULES:
        raise InvalidInput(f"unknown schedule {run.schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if run.limit is not None and (not isinstance(run.limit, int) or run.limit < 1):
        raise InvalidInput(f"limit must be a positive integer; got {run.limit!r}")
    return run


def examples_of(data, limit: int | None, split: str = "train") -> Examples:
    """The ``split`` of ``data`` (a data set name, or an object with images, labels, ...)."""
    if isinstance(data, str):
        from zoo_core import data as datasets

        data = datasets.load_dataset(data, split)
    images = data.images if limit is None else data.images[:limit]
    labels = getattr(data, "labels", None)
    if labels is not None and limit is not None:
        labels = labels[:limit]
    return Examples(name=data.name, split=getattr(data, "split", split), images=images, labels=labels,
                    num_levels=int(data.num_levels), class_names=list(getattr(data, "class_names", None) or []))


def _build(run: Run, examples: Examples):
    """The untrained model: the data set fixes the event shape, levels and classes."""
    import zoo_core as zoo

    task = registry.architecture(run.architecture).task
    fixed: dict[str, Any] = {"event_shape": list(examples.images.shape[1:]), "num_levels": examples.num_levels}
    if task != "density":
        if examples.labels is None or not examples.class_names:
            raise InvalidInput(f"{run.architecture} is a {task} model and needs labels, which {examples.name} lacks")
        fixed.update(num_classes=len(examples.class_names), class_names=examples.class_names)
    for key in _BUILDER_DATA_KEYS:
        if key in run.config and key in fixed and run.config[key] != fixed[key]:
            raise InvalidInput(f"--config {key}={json.dumps(run.config[key])} contradicts the data set "
                               f"{examples.name}, which has {key}={json.dumps(fixed[key])}: leave it out")
    try:
        return zoo.build(run.architecture, **{**fixed, **run.config})
    except TypeError as error:
        raise InvalidInput(f"{run.architecture} does not take the config {json.dumps(run.config)}: {error}") from None


# --- processes ---------------------------------------------------------------------------


def _torchrun_environment() -> bool:
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def under_torchrun() -> bool:
    """Whether this process is already one of a group: torchrun's environment, or an initialised group."""
    return (dist.is_available() and dist.is_initialized()) or _torchrun_environment()


def device_kind(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise InvalidInput(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("--device cuda, but torch sees no CUDA device here (torch.cuda.is_available() is False)")
    return device


def local_device(kind: str) -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` on CUDA, else the CPU."""
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if kind == "cuda" else torch.device("cpu")


def process_group(kind: str) -> tuple[int, int, bool]:
    """(rank, world size, whether this call started the group) for this process.

    An initialised group is used as it is; else ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the
    environment (torchrun, or :func:`launch`) start one: NCCL on CUDA, gloo on the CPU.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    if not _torchrun_environment() or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1, False
    if kind == "cuda":
        torch.cuda.set_device(local_device(kind))
    elif "OMP_NUM_THREADS" not in os.environ:  # the processes share the cores (torchrun sets it to 1)
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    dist.init_process_group(backend="nccl" if kind == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), True


def in_group(fn: Callable, kind: str, *args):
    """Join the process group (if there is one to join), run ``fn``, leave the group."""
    _, _, started = process_group(kind)
    try:
        return fn(*args)
    finally:
        if started:
            dist.destroy_process_group()


_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "NCCL communicator was aborted")


def _peer_gone(message: str) -> bool:
    """Whether an error says only that another process of the group went away."""
    return any(words in message for words in _PEER_GONE)


@record  # a launched process: its error goes back to the launcher
def _entry(fn: Callable, kind: str, *args):
    try:
        return in_group(fn, kind, *args)
    except Exception as error:
        if _peer_gone(str(error)):  # exit after the process that failed first, so the launcher names it
            time.sleep(1.0)
        raise


def launch(fn: Callable, nproc: int, kind: str, *args) -> dict[int, Any]:
    """Run ``fn(*args)`` in ``nproc`` local processes, each in one process group.

    The processes are started by torch's elastic launcher, the machinery behind ``torchrun``
    (``torch.distributed.launcher.api.elastic_launch``), with a c10d rendezvous on a free
    port of 127.0.0.1 and no restarts. ``fn`` must be importable by name (a module-level
    function), since the processes are spawned.

    Returns:
        Each process's return value, by rank.

    Raises:
        ZooError: a process failed; the message is the first line of its error.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"zoo-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", local_addr="127.0.0.1",
                          max_restarts=0, monitor_interval=0.1)
    try:
        return elastic_launch(config, _entry)(fn, kind, *args)
    except ChildFailedError as error:
        rank, first = _root_cause(error)
        raise ZooError(f"process {rank} of {nproc} failed: {first}") from None


def _root_cause(error) -> tuple[int, str]:
    """The failed process whose error is the cause, and its error's first line.

    When one process raises, the others fail too at their next collective, "connection reset
    by peer"; those wait a moment before they exit (:func:`_entry`), and where the launcher
    still saw several, a zoo error beats any other, and any other beats a broken connection.
    """
    zoo_errors = {cls.__name__ for cls in [ZooError, *ZooError.__subclasses__()]}
    found = []
    for rank, failure in error.failures.items():
        message = failure.message.get("message", "") if isinstance(failure.message, dict) else failure.message
        first = (str(message).strip().splitlines() or [f"exit code {failure.exitcode}"])[0]
        order = 0 if first.split(":")[0] in zoo_errors else 2 if _peer_gone(first) else 1
        found.append((order, failure.timestamp, rank, first))
    _, _, rank, first = min(found)
    return rank, first


# --- the training state ------------------------------------------------------------------


def _read_state(out: Path) -> dict | None:
    path = out / STATE / "state.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ZooError(f"{path}: not valid JSON ({error}); delete {out / STATE} to start again") from None
    if not isinstance(saved, dict) or saved.get("format") != _STATE_FORMAT:
        raise ZooError(f"{path}: not a zoo training state ({_STATE_FORMAT}); delete {out / STATE} to start again")
    return saved


def _optimizer_parts(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state_dict as safetensors tensors plus JSON."""
    tensors: dict[str, torch.Tensor] = {}
    rest: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, values in state["state"].items():
        rest["state"][str(index)] = {}
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                rest["state"][str(index)][key] = value
    return tensors, rest


def _optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict[str, Any]] = {int(index): dict(values) for index, values in rest["state"].items()}
    for name, value in tensors.items():
        index, _, key = name.partition(".")
        state.setdefault(int(index), {})[key] = value
    groups = [{**group, "betas": tuple(group["betas"])} if "betas" in group else group
              for group in rest["param_groups"]]
    return {"state": state, "param_groups": groups}


def _rng_states(world: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Every process's RNG states, gathered on each (a collective: all processes call it)."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    if world == 1:
        return {f"{key}.0": value for key, value in states.items()}
    gathered = {}
    for key, value in states.items():
        value = value.to(device)  # NCCL gathers CUDA tensors only
        parts = [torch.empty_like(value) for _ in range(world)]
        dist.all_gather(parts, value)
        gathered.update({f"{key}.{rank}": part.cpu() for rank, part in enumerate(parts)})
    return gathered


def _training_seed(seed: int, rank: int) -> int:
    """The seed of a process's RNG for the training steps (dropout, noise), once the model is built."""
    return (seed * 1_000_003 + 7919 * (rank + 1)) % (1 << 63)


def _save_state(out: Path, run: Run, model, optimizer, position: _Position, *, rank: int, world: int,
                device: torch.device) -> None:
    """Write the training state; called by every process, written by rank 0."""
    from safetensors.torch import save_file, save_model

    from zoo_core.checkpoint import atomic_write

    rng = _rng_states(world, device)
    if world > 1:  # the figures of the epoch so far, over all processes
        sums = torch.tensor(position.epoch_sums, dtype=torch.float64, device=device)
        dist.all_reduce(sums)
        position = replace(position, epoch_sums=sums.tolist())
    if rank != 0:
        return
    folder = out / STATE
    tag = f"step-{position.step:09d}"
    tensors = folder / tag
    if tensors.exists():  # left by a run that crashed before it named this folder in state.json
        shutil.rmtree(tensors)
    tensors.mkdir(parents=True)
    save_model(model, str(tensors / "model.safetensors"))
    optimizer_tensors, optimizer_rest = _optimizer_parts(optimizer.state_dict())
    save_file(optimizer_tensors, str(tensors / "optimizer.safetensors"))
    save_file(rng, str(tensors / "rng.safetensors"))
    state = {"format": _STATE_FORMAT, "run": asdict(run), "position": asdict(position), "world_size": world,
             "tensors": tag, "optimizer": optimizer_rest}
    atomic_write(folder / "state.json", lambda tmp: Path(tmp).write_text(json.dumps(state, indent=1) + "\n"))
    for old in folder.glob("step-*"):
        if old.name != tag:
            shutil.rmtree(old, ignore_errors=True)


def _load_state(out: Path, saved: dict, model, optimizer, *, seed: int, rank: int, world: int,
                device: torch.device) -> _Position:
    from safetensors.torch import load_file, load_model

    tensors = out / STATE / saved["tensors"]
    load_model(model, str(tensors / "model.safetensors"), device=str(device))
    optimizer.load_state_dict(_optimizer_state(load_file(str(tensors / "optimizer.safetensors")), saved["optimizer"]))
    position = _Position(**saved["position"])
    if rank != 0:  # rank 0 carries the whole epoch's figures so far
        position.epoch_sums = [0.0, 0.0, 0.0]
    rng = load_file(str(tensors / "rng.safetensors"))
    if saved["world_size"] == world:
        torch.set_rng_state(rng[f"cpu.{rank}"])
        if device.type == "cuda" and f"cuda.{rank}" in rng:
            torch.cuda.set_rng_state(rng[f"cuda.{rank}"], device)
    else:  # the data order does not depend on the process count; only the RNG streams do
        if rank == 0:
            print(f"zoo train: resuming a {saved['world_size']}-process run on {world}: the data order is the "
                  f"same, random draws inside the model are not", file=sys.stderr)
        torch.manual_seed(_training_seed(seed, rank) + position.step)
    return position


# --- the loop ----------------------------------------------------------------------------


class _Objective(nn.Module):
    """The loss of a batch as a module's forward, so DistributedDataParallel sees the pass.

    Returns the mean loss in nats and the number of correct predictions (classifiers) or 0.
    """

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, x: torch.Tensor, y: torch.Tensor | None):
        if self.task == "classifier":
            log_p = self.model.predict_log_proba(x).float()
            return nn.functional.nll_loss(log_p, y), (log_p.detach().argmax(1) == y).sum()
        log_p = self.model.log_prob(x) if self.task == "density" else self.model.log_prob(x, y)
        return -log_p.float().mean(), torch.zeros((), device=x.device, dtype=torch.long)


def _batch_size(run: Run, n: int, world: int) -> int:
    """Images per step: the run's, or fewer when there are fewer images; a multiple of ``world``."""
    batch = min(run.batch_size, n - n % world)
    if batch < world or batch % world:
        raise InvalidInput(f"a batch of {batch} images does not split evenly over {world} processes: choose a "
                           f"--batch-size that is a multiple of --nproc")
    return batch


def _lr(run: Run, step: int, total: int) -> float:
    if run.schedule == "constant":
        return run.lr
    return run.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


def _epoch_order(n: int, batch: int, seed: int, epoch: int) -> torch.Tensor:
    """(steps, batch) image indices of one epoch: a permutation from ``seed + epoch``, full batches only."""
    generator = torch.Generator().manual_seed(seed + epoch)
    steps = n // batch
    return torch.randperm(n, generator=generator)[: steps * batch].view(steps, batch)


def _figures(task: str, sums: Sequence[float], dims: int) -> dict[str, float]:
    loss, correct, count = sums
    if count == 0:
        return {}
    if task == "classifier":
        return {"loss": loss / count, "accuracy": correct / count}
    return {"loss": loss / count, "bits_per_dim": loss / count / (dims * math.log(2))}


def _hardware(device: torch.device, world: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    found = {"cpu": cpu, "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        found["gpu"] = torch.cuda.get_device_name(device)
    found.update(torch=str(torch.__version__), nproc=world, device=device.type)
    return found


def _command(run: Run, *, fitted: bool) -> str:
    """The ``zoo train`` command line that repeats ``run``."""
    words = ["zoo", "train", run.architecture, "--data", run.data]
    if not fitted:
        words += ["--epochs", str(run.epochs), "--batch-size", str(run.batch_size), "--lr", f"{run.lr:g}",
                  "--schedule", run.schedule]
    words += ["--seed", str(run.seed)]
    for key, value in run.config.items():
        words += ["--config", f"{key}={json.dumps(value, separators=(',', ':'))}"]
    if run.limit is not None:
        words += ["--limit", str(run.limit)]
    return " ".join(shlex.quote(word) for word in words)


def _fit(model, task: str, examples: Examples, run: Run, *, rank: int, world: int,
         progress: bool) -> tuple[dict[str, Any], dict[str, float]]:
    """Fit a model by its own ``fit`` (one call on the whole training split, on the CPU).

    Returns the recipe's part and the numeric figures ``fit`` reported.
    """
    generator = torch.Generator().manual_seed(run.seed)
    reported = model.fit(examples.images, examples.labels if task != "density" else None, generator=generator,
                         progress=progress and rank == 0) or {}
    if world > 1:  # one model for all: rank 0's, however each process's fit came out
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, 0)
    numbers = {key: float(value) for key, value in reported.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    others = {key: value for key, value in reported.items() if key not in numbers}
    return {"method": "the model's own fit()", "fit": others or None}, numbers


def _descend(model, task: str, examples: Examples, run: Run, options: Options, *, rank: int, world: int,
             device: torch.device, precision: str, started: float) -> tuple[dict[str, Any], float]:
    """The gradient loop, from the saved state when resuming. Returns the recipe's part and the
    seconds that earlier sessions of the run spent."""
    from tqdm.auto import tqdm

    n, dims = len(examples.images), math.prod(examples.images.shape[1:])
    batch = _batch_size(run, n, world)
    local_batch = torch.tensor(float(batch // world), dtype=torch.float64, device=device)
    steps = n // batch
    total = steps * run.epochs
    images = examples.images.to(device)
    labels = examples.labels.to(device) if examples.labels is not None else None
    objective = _Objective(model, task)
    optimizer = torch.optim.Adam(model.parameters(), lr=run.lr)
    saved = _read_state(options.out) if options.resume else None
    if saved is not None:
        position = _load_state(options.out, saved, model, optimizer, seed=run.seed, rank=rank, world=world,
                               device=device)
    else:
        position = _Position()
        torch.manual_seed(_training_seed(run.seed, rank))
    step_fn: Callable = objective
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_fn = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)
    if options.compile:
        step_fn = torch.compile(step_fn)
    model.train()
    wall_before = position.wall_time_s

    def save() -> None:
        position.wall_time_s = wall_before + time.monotonic() - started
        _save_state(options.out, run, model, optimizer, position, rank=rank, world=world, device=device)

    for epoch in range(position.epoch, run.epochs):
        order = _epoch_order(n, batch, run.seed, epoch).to(device)
        first = position.step_in_epoch if epoch == position.epoch else 0
        sums = torch.tensor(position.epoch_sums if epoch == position.epoch else [0.0, 0.0, 0.0],
                            dtype=torch.float64, device=device)
        bar = tqdm(range(first, steps), initial=first, total=steps, desc=f"epoch {epoch + 1}/{run.epochs}",
                   unit="step", file=sys.stderr, disable=not options.progress or rank != 0, dynamic_ncols=True)
        for k in bar:
            index = order[k, rank::world]
            x = images[index]
            y = labels[index] if labels is not None else None
            for group in optimizer.param_groups:
                group["lr"] = _lr(run, position.step, total)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss, correct = step_fn(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            position.step += 1
            sums += torch.stack([loss.detach().double() * local_batch, correct.double(), local_batch])
            if (k + 1) % 10 == 0 or k + 1 == steps:  # .tolist() waits for the GPU: not every step
                now = _figures(task, sums.tolist(), dims)
                if not math.isfinite(now["loss"]):
                    raise ZooError(f"the training loss became {now['loss']} at step {position.step}: lower --lr "
                                   f"(now {run.lr:g}) or check the model")
                bar.set_postfix({key: f"{value:.4f}" for key, value in now.items()}, refresh=False)
            if options.save_every and position.step % options.save_every == 0 and k + 1 < steps:
                position.epoch, position.step_in_epoch, position.epoch_sums = epoch, k + 1, sums.tolist()
                save()
        bar.close()
        if world > 1:
            dist.all_reduce(sums)
        position.history.append({"epoch": epoch + 1, **_figures(task, sums.tolist(), dims)})
        position.epoch, position.step_in_epoch, position.epoch_sums = epoch + 1, 0, [0.0, 0.0, 0.0]
        save()
    recipe = {"method": "maximum likelihood" if task != "classifier" else "cross-entropy", "optimizer": "Adam",
              "lr": run.lr, "schedule": run.schedule, "epochs": run.epochs, "batch_size": batch, "steps": total,
              "last_epoch": position.history[-1] if position.history else None}
    return recipe, wall_before


def _train_process(run: Run, examples: Examples, options: Options) -> Path:
    """One process's share of the run (the only one when there is one process)."""
    from zoo_core.metrics import evaluate

    started = time.monotonic()
    kind = device_kind(options.device)
    rank, world, _ = process_group(kind)
    device = local_device(kind)
    precision = options.precision or ("bf16" if kind == "cuda" else "fp32")
    task = registry.architecture(run.architecture).task
    torch.manual_seed(run.seed)
    model = _build(run, examples)
    if not isinstance(model, nn.Module):
        raise InvalidInput(f"{run.architecture} built a {type(model).__name__}, not a torch.nn.Module: zoo train "
                           f"trains modules")
    if task == "classifier" and isinstance(getattr(model, "label_counts", None), torch.Tensor):
        with torch.no_grad():
            model.label_counts.copy_(torch.bincount(examples.labels, minlength=model.num_classes))
    model.to(device)
    has_fit = callable(getattr(model, "fit", None))
    recipe: dict[str, Any] = {"command": _command(run, fitted=has_fit), "dataset": run.data, "split": "train",
                              "images": len(examples.images), "limit": run.limit, "seed": run.seed,
                              "config": run.config or None}
    if has_fit:
        part, metrics = _fit(model, task, examples, run, rank=rank, world=world, progress=options.progress)
        wall_before = 0.0
    else:
        part, wall_before = _descend(model, task, examples, run, options, rank=rank, world=world, device=device,
                                     precision=precision, started=started)
        metrics = {}
    recipe.update(part)
    model.eval()
    metrics = {**evaluate(model, examples, batch_size=min(run.batch_size, 1024), progress=options.progress),
               **metrics}
    recipe.update(precision=precision, compile=options.compile,
                  wall_time_s=round(wall_before + time.monotonic() - started, 1), hardware=_hardware(device, world))
    recipe = {key: value for key, value in recipe.items() if value is not None}
    if rank == 0:
        import zoo_core as zoo

        zoo.save(model.cpu(), options.out, name=options.name or options.out.resolve().name, dataset=run.data,
                 recipe=recipe, metrics=metrics)
        if not options.keep_state:
            shutil.rmtree(options.out / STATE, ignore_errors=True)
    if world > 1:
        dist.barrier()
    return options.out


def train(architecture: str, data, out, *, epochs: int | None = None, batch_size: int | None = None,
          lr: float | None = None, schedule: str | None = None, config: dict[str, Any] | None = None,
          seed: int | None = None, limit: int | None = None, resume: bool = False, nproc: int = 1,
          device: str | None = None, precision: str | None = None, compile: bool = False,
          save_every: int | None = None, name: str | None = None, keep_state: bool = False,
          progress: bool = True) -> Path:
    """Train ``architecture`` on the training split of ``data`` and write the checkpoint to ``out``.

    Args:
        architecture: a registered architecture, e.g. ``"pixelcnn/gated"``.
        data: a data set name (``"fashion-mnist"``, ``"digits"``, ``"cifar10"``), or an object
            with ``images``, ``labels``, ``num_levels``, ``class_names`` and ``name``.
        out: the checkpoint folder to write (config.json, model.safetensors, README.md).
        epochs, batch_size, lr, schedule, seed: the run (defaults in :data:`DEFAULTS`);
            ``batch_size`` counts the images of a step over all processes.
        config: builder arguments; the data set fixes event_shape, num_levels and the classes.
        limit: train on the first ``limit`` images only (smoke runs, tests).
        resume: continue the run saved in ``out/train_state``; the settings come from it, and
            one given that differs is an error. Without a saved state it starts afresh.
        nproc: processes on this machine (DistributedDataParallel). Under torchrun (or in an
            initialised process group) leave it at 1: the environment says how many there are.
        device: ``"cpu"`` or ``"cuda"`` (default: cuda when torch sees one).
        precision: ``"bf16"`` (autocast) or ``"fp32"``; default bf16 on cuda, fp32 on cpu.
        compile: ``torch.compile`` the training step.
        save_every: also save the training state every this many steps (it is always saved at
            the end of each epoch).
        name: the model card's name; default: the name of ``out``.
        keep_state: keep ``out/train_state`` after the checkpoint is written.
        progress: tqdm progress bars on stderr.

    Returns:
        ``out`` as a Path.

    Raises:
        ZooError: unknown architecture or data set, a bad config, a folder that already holds
            a checkpoint or another run, a loss that became NaN, a failed process.
    """
    out = Path(out)
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "schedule": schedule, "config": config,
             "seed": seed, "limit": limit}
    saved = _read_state(out) if resume else None
    if saved is None and (out / "config.json").exists():
        raise ZooError(f"{out} already holds a checkpoint: choose another --out, or delete it to train again")
    if not resume and (out / STATE).exists():
        raise ZooError(f"{out} holds an unfinished training run: pass --resume to continue it, or choose another "
                       f"--out")
    data_name = data if isinstance(data, str) else data.name
    run = _resolve(architecture, data_name, given, saved, out)
    if precision not in (None, "fp32", "bf16"):
        raise InvalidInput(f"precision must be 'fp32' or 'bf16'; got {precision!r}")
    kind = device_kind(device)
    options = Options(out=out, device=kind, precision=precision, compile=compile, save_every=save_every, name=name,
                      keep_state=keep_state, resume=resume, progress=progress)
    registry.architecture(run.architecture)  # an unknown one fails before the data set is read
    examples = examples_of(data, run.limit)
    if under_torchrun():
        if nproc != 1:
            raise InvalidInput(UNDER_TORCHRUN)
        return in_group(_train_process, kind, run, examples, options)
    if not isinstance(nproc, int) or nproc < 1:
        raise InvalidInput(f"nproc must be a positive integer; got {nproc!r}")
    if nproc == 1:
        return _train_process(run, examples, options)
    _build(run, examples)  # a bad config fails here, once, rather than in every process
    _batch_size(run, len(examples.images), nproc)
    launch(_train_process, nproc, kind, run, examples, options)
    return out
