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


def main() -> None:
    cli(prog_name="zoo")


if __name__ == "__main__":
    sys.exit(main())
