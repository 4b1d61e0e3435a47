"""The hooks a zoo plugin implements, with ``pluggy.HookimplMarker("zoo")``."""

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_register_architectures(register):
    """Register builders: ``register("plugin/arch", builder, task="density")``."""


@hookspec
def zoo_register_models(register):
    """Register models: ``register("name", entry)`` with a dict in registry.yaml's form."""
