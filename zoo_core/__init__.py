"""zoo: a plugin-based zoo of probabilistic image models, one API for p(x), p(x|y) and p(y|x).

``import zoo_core as zoo``. Listing the zoo imports no torch: the names that need it are
imported on first use.
"""

from zoo_core.errors import (
    IntegrityError,
    InvalidInput,
    PluginNotInstalled,
    RegistryError,
    UnknownModel,
    WeightsUnavailable,
    ZooError,
)
from zoo_core.plugins import list_plugins
from zoo_core.protocols import Classifier, ConditionalModel, DensityModel
from zoo_core.registry import architectures, info, list_models

__all__ = [
    "load", "build", "save", "bayes", "generative_classifier", "marginal", "with_rejection", "bits_per_dim", "list_models", "architectures", "info", "list_plugins",
    "DensityModel", "ConditionalModel", "Classifier",
    "ZooError", "UnknownModel", "PluginNotInstalled", "WeightsUnavailable", "IntegrityError",
    "InvalidInput", "RegistryError",
]

_LAZY = {
    "load": "zoo_core.checkpoint", "build": "zoo_core.checkpoint", "save": "zoo_core.checkpoint",
    "bayes": "zoo_core.compose", "generative_classifier": "zoo_core.compose", "marginal": "zoo_core.compose",
    "with_rejection": "zoo_core.compose", "bits_per_dim": "zoo_core.metrics",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo_core' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(__all__))
