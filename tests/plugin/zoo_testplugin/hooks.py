"""Registers the test models exactly as a third-party plugin would; imports no torch."""

from zoo_core.hookspecs import hookimpl


def _categorical(**config):
    from zoo_testplugin.models import Categorical

    return Categorical(**config)


def _conditional(**config):
    from zoo_testplugin.models import ConditionalCategorical

    return ConditionalCategorical(**config)


def _classifier(**config):
    from zoo_testplugin.models import LinearClassifier

    return LinearClassifier(**config)


@hookimpl
def zoo_register_architectures(register):
    register("testplugin/categorical", _categorical, task="density")
    register("testplugin/conditional", _conditional, task="conditional")
    register("testplugin/linear", _classifier, task="classifier")


@hookimpl
def zoo_register_models(register):
    register("testplugin-tiny", {
        "architecture": "testplugin/categorical",
        "task": "density",
        "config": {"event_shape": [1, 2, 3], "num_levels": 3},
        "weights": {
            "bundled": "zoo_testplugin/checkpoints/testplugin-tiny",
            "sha256": {
                "config.json": "98250663b0d117f29eefbea42a021261033c7ef17696ba618a84c046f3abfbd4",
                "model.safetensors": "5e6328eb9c3f722bc6ab07e3466c3c560b0317720932f4bac4bb67b585a3e063",
            },
        },
        "license": "MIT",
    })
