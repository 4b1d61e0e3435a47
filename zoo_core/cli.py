"""The ``zoo`` command line. Errors are one line and exit 1; ``zoo --debug ...`` shows the traceback."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from zoo_core import registry
from zoo_core.errors import ZooError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZooError as error:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.version_option(package_name="zoo-core")
def cli(debug: bool) -> None:
    """zoo: probabilistic image models — p(x), p(x|y) and p(y|x) behind one API."""


def _entry_dict(entry: registry.ModelEntry) -> dict:
    data = asdict(entry)
    if entry.weights is not None and entry.weights.local is not None:
        data["weights"]["local"] = str(entry.weights.local)
    return data


def _weights_kind(entry: registry.ModelEntry) -> str:
    w = entry.weights
    if entry.compose is not None:
        return "parts"
    return "-" if w is None else "hub" if w.hub_repo else "local" if w.local else "bundled"


@cli.command("list")
@click.argument("pattern", default="*")
@click.option("--task", type=click.Choice(["density", "conditional", "classifier"]), help="Only this kind of model.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(pattern: str, task: str | None, as_json: bool) -> None:
    """List registry models matching PATTERN (shell-style, e.g. 'pixelcnn-*')."""
    entries = [registry.info(name) for name in registry.list_models(pattern, task=task)]
    if as_json:
        click.echo(json.dumps([_entry_dict(e) for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"no models match '{pattern}'" + (f" with task {task}" if task else ""))
        return
    rows = [("NAME", "TASK", "ARCHITECTURE", "DATA", "WEIGHTS", "METRICS")]
    rows += [(e.name, e.task, e.describe(), e.dataset or "-", _weights_kind(e),
              " ".join(f"{k}={v:g}" for k, v in e.metrics.items()) or "-") for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(name: str, as_json: bool) -> None:
    """Show the registry entry of NAME."""
    data = _entry_dict(registry.info(name))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if value not in (None, {}, ""):
            click.echo(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins, with the error of any that failed to load."""
    from zoo_core.plugins import list_plugins

    found = list_plugins()
    if as_json:
        click.echo(json.dumps([asdict(p) for p in found], indent=2))
        return
    if not found:
        click.echo("no plugins installed (pip install zoo-pixelcnn, for example)")
    for p in found:
        status = f"BROKEN: {p.error}" if p.error else ", ".join(registry.architectures(p.name + "/*")) or "-"
        click.echo(f"{p.name}  {p.package} {p.version}  {status}")


@cli.command()
@click.argument("ref")
def download(ref: str) -> None:
    """Fetch and verify the weights of REF (a registry name or hf:org/name[@rev]) into the cache."""
    from zoo_core import checkpoint, hub

    if ref.startswith(hub.HF_PREFIX):
        click.echo(str(hub.download(*hub.parse_hf_ref(ref))))
        return
    entry = registry.info(ref)
    for part in entry.parts.values():  # a composition: each of its parts
        click.echo(str(checkpoint.registry_folder(registry.info(part))))
    if entry.compose is None:
        click.echo(str(checkpoint.registry_folder(entry)))


@cli.command("train")
@click.argument("architecture")
@click.option("--data", required=True, help="Data set to train on (its train split): fashion-mnist, digits, cifar10.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Checkpoint folder to write.")
@click.option("--epochs", type=click.IntRange(min=1), help="Passes over the training images  [default: 10]")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Images per step, over all processes together  [default: 64]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Adam's learning rate  [default: 0.001]")
@click.option("--schedule", type=click.Choice(["cosine", "constant"]),
              help="Learning rate over the steps; cosine decays from --lr to 0  [default: cosine]")
@click.option("--config", "config_items", multiple=True, metavar="KEY=VALUE",
              help="A builder argument, its value read as YAML (repeat it), e.g. channels=64 or event_shape=[1,8,8].")
@click.option("--seed", type=int, help="Seeds the initial weights, the data order and random draws  [default: 0]")
@click.option("--resume", is_flag=True, help="Continue the run saved in OUT/train_state, with its settings.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes on this machine (DistributedDataParallel; gloo on cpu, NCCL on cuda).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where to train  [default: cuda if there is one]")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]),
              help="bf16 trains under autocast  [default: bf16 on cuda, fp32 on cpu]")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step.")
@click.option("--limit", type=click.IntRange(min=1), help="Train on the first N images only (smoke runs).")
@click.option("--save-every", type=click.IntRange(min=1), metavar="STEPS",
              help="Also save the training state every STEPS steps (it is always saved at the end of an epoch).")
@click.option("--name", help="The model's name in its card  [default: OUT's folder name]")
@click.option("--keep-state", is_flag=True, help="Keep OUT/train_state after the checkpoint is written.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train_command(architecture: str, data: str, out: str, epochs, batch_size, lr, schedule, config_items, seed,
                  resume: bool, nproc: int, device, precision, compile_: bool, limit, save_every, name,
                  keep_state: bool, quiet: bool) -> None:
    """Train ARCHITECTURE (e.g. pixelcnn/gated) on a data set; write the checkpoint folder OUT.

    Density and conditional models learn by maximum likelihood, classifiers by cross-entropy,
    with Adam; a model with its own fit() (EM) is fitted by it. The training state is saved
    in OUT/train_state at the end of each epoch, so --resume continues where a run stopped.
    """
    import os

    from zoo_core.train import parse_config, train

    folder = train(architecture, data, out, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule,
                   config=parse_config(config_items) if config_items else None, seed=seed, limit=limit,
                   resume=resume, nproc=nproc, device=device, precision=precision, compile=compile_,
                   save_every=save_every, name=name, keep_state=keep_state, progress=not quiet)
    if int(os.environ.get("RANK", 0)) == 0:
        click.echo(f"wrote {folder}: config.json, model.safetensors, README.md")


@cli.command("eval")
@click.argument("ref")
@click.option("--data", help="Data set to score on  [default: the registry entry's]")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--write-registry", is_flag=True,
              help="Record the figures in REF's registry entry (its YAML file) and its checkpoint's model card.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where to compute  [default: cuda if there is one]")
@click.option("--limit", type=click.IntRange(min=1), help="Score the first N images only (smoke runs).")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes sharing the images (their sums are all-reduced).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def eval_command(ref: str, data, split: str, batch_size: int, as_json: bool, write_registry: bool, device, limit,
                 nproc: int, quiet: bool) -> None:
    """Score REF (registry name, hf:org/name or folder) on a data split.

    Density models: bits/dim. Conditional models: conditional bits/dim, -log2 p(x|y) per
    sub-pixel. Classifiers: accuracy and NLL in nats. Keys: SPLIT_bits_per_dim,
    SPLIT_accuracy, SPLIT_nll.
    """
    import os

    from zoo_core import metrics

    if write_registry:
        if ref not in registry.list_models():
            raise click.ClickException(f"--write-registry records figures in a registry entry; '{ref}' is none "
                                       f"(`zoo list` shows them)")
        if limit is not None:
            raise click.ClickException("--write-registry records figures over the whole split: drop --limit")
        metrics.recordable(ref, data)  # an entry that cannot be written fails before the work
    result = metrics.evaluate_ref(ref, data, split=split, batch_size=batch_size, device=device, limit=limit,
                                  nproc=nproc, progress=not quiet)
    if int(os.environ.get("RANK", 0)) != 0:
        return
    written = metrics.record(ref, result["metrics"], dataset=result["dataset"]) if write_registry else None
    if as_json:
        click.echo(json.dumps({**result, "written": None if written is None else str(written)}, indent=2))
        return
    click.echo(f"{ref} ({result['task']}) on {result['dataset']} {result['split']}, {result['images']} images: "
               f"{result['measure']}")
    width = max(len(key) for key in result["metrics"])
    for key, value in result["metrics"].items():
        unit = " bits/dim" if key.endswith("bits_per_dim") else " nats" if key.endswith("_nll") else ""
        click.echo(f"{key.ljust(width)}  {value:.4f}{unit}")
    if written is not None:
        click.echo(f"recorded in {written}")


@cli.command()
@click.argument("ref")
@click.option("-n", "count", type=click.IntRange(1), default=8, show_default=True,
              help="Images to draw (per label for a conditional model).")
@click.option("--label", help="Draw only this label (a class name or number) from a conditional model.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the sampler's generator.")
@click.option("--device", help="Where to sample, e.g. cpu or cuda.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="PNG file to write the grid to.")
def sample(ref: str, count: int, label: str | None, seed: int, device: str | None, out: str) -> None:
    """Draw images from REF (a registry name, hf:org/name[@rev] or folder) into a PNG grid.

    A conditional model gives one row per label unless --label picks one.
    """
    import math

    import torch
    from tqdm import tqdm

    from zoo_core import checkpoint
    from zoo_core.errors import InvalidInput
    from zoo_core.images import grid, write_png

    model = checkpoint.load(ref, device=device)
    generator = torch.Generator().manual_seed(seed)
    if hasattr(model, "predict_log_proba"):
        raise InvalidInput(f"'{ref}' is a classifier, p(y|x): it has no sampler; sample a density or conditional model")
    if not hasattr(model, "num_classes"):
        if label is not None:
            raise InvalidInput(f"'{ref}' is a density model, p(x): --label needs a conditional model")
        chunks = [min(16, count - i) for i in range(0, count, 16)]
        with torch.no_grad():
            images = torch.cat([model.sample(k, generator=generator).cpu() for k in tqdm(chunks, desc="sample", unit="batch")])
        columns = math.ceil(math.sqrt(count))
    else:
        names = list(model.class_names)
        if label is None:
            labels = list(range(model.num_classes))
        elif label in names:
            labels = [names.index(label)]
        elif label.isdigit() and int(label) < model.num_classes:
            labels = [int(label)]
        else:
            raise InvalidInput(f"--label {label!r}: expected a class name ({', '.join(names)}) or a number below "
                               f"{model.num_classes}")
        with torch.no_grad():
            images = torch.cat([model.sample(torch.full((count,), y, dtype=torch.long), generator=generator).cpu()
                                for y in tqdm(labels, desc="sample", unit="label")])
        columns = count
    write_png(grid(images, model.num_levels, columns=columns), out)
    info = getattr(model, "last_sample_info", None)
    click.echo(f"wrote {out}" + (f" ({info['method']}, acceptance {info['acceptance_rate']:.3f})" if info else ""))


@cli.command("check")
@click.argument("architectures", nargs=-1, required=True, metavar="ARCH...")
def check_command(architectures: tuple[str, ...]) -> None:
    """Run the conformance kit on ARCH: a name (pixelcnn/gated) or a pattern ('pixelcnn/*').

    Builds each architecture tiny and runs every check of zoo_core.testing that applies to
    it, printing one line per check; exits 1 if any check fails.
    """
    import time

    from zoo_core import testing

    names: list[str] = []
    for pattern in architectures:
        if any(c in pattern for c in "*?["):
            found = registry.architectures(pattern)
            if not found:
                raise click.ClickException(f"no installed architecture matches '{pattern}' (`zoo plugins` lists them)")
            names += found
        else:
            registry.architecture(pattern)  # not installed: one line saying what to install
            names.append(pattern)
    failed = ran = 0
    for name in dict.fromkeys(names):
        for check in testing.checks_for(name):
            start = time.perf_counter()
            try:
                reason = testing.run_check(name, check)
            except AssertionError as error:
                failed, ran = failed + 1, ran + 1
                click.echo(f"FAIL  {error}")
                continue
            if reason is None:
                ran += 1
                click.echo(f"ok    {name}: {check} ({time.perf_counter() - start:.2f} s)")
            else:
                click.echo(f"skip  {name}: {check}: {reason}")
    if failed:
        raise click.ClickException(f"{failed} of {ran} checks failed")
    click.echo(f"all {ran} checks passed")


@cli.command("new-plugin")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder in which to create the package folder zoo-NAME.")
def new_plugin_command(name: str, directory: str) -> None:
    """Write a pip-installable plugin package zoo-NAME that passes its own tests as generated.

    It has a pyproject.toml with the `zoo` entry point, a model (NAME/categorical), the hooks
    that register it and a registry entry, tests that run the conformance kit, and a README
    that walks through testing, training and publishing.
    """
    from zoo_core.scaffold import new_plugin

    folder = new_plugin(name, directory)
    click.echo(f"wrote {folder}")
    click.echo(f"next: pip install -e {folder} && python -m pytest {folder / 'tests'} && zoo check {name}/categorical")


@cli.command("publish")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--repo", required=True, help="Hub repository org/name; created if absent, else a new commit.")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--message", "-m", help="Commit message  [default: 'Publish ARCH with zoo']")
def publish_command(folder: str, repo: str, private: bool, message: str | None) -> None:
    """Publish the checkpoint FOLDER to the Hugging Face Hub as --repo.

    Loads FOLDER, runs the conformance kit on its architecture, refreshes its model card,
    uploads config.json, model.safetensors and README.md in one commit (HF_TOKEN or
    `hf auth login`; HF_ENDPOINT is honoured), then prints the commit sha and the
    registry.yaml entry that pins it.
    """
    from zoo_core import hub

    result = hub.publish(folder, repo, private=private, message=message)
    click.echo(f"published {result.repo} at commit {result.revision}")
    click.echo(f'load it with zoo.load("hf:{result.repo}@{result.revision}"), or add this entry to a registry file '
               f"(ZOO_REGISTRY) or to a plugin's zoo_register_models hook:")
    click.echo("")
    click.echo(result.snippet().rstrip())


def main() -> None:
    cli(prog_name="zoo")


if __name__ == "__main__":
    sys.exit(main())
