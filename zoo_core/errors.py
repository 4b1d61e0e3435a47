"""The errors zoo raises. Every message says what went wrong and what to do next."""

__all__ = [
    "ZooError",
    "UnknownModel",
    "PluginNotInstalled",
    "WeightsUnavailable",
    "IntegrityError",
    "InvalidInput",
    "RegistryError",
]


class ZooError(Exception):
    """Base class of every error zoo raises on purpose."""


class UnknownModel(ZooError, LookupError):
    """A name that is neither a registry entry, a registered architecture nor a checkpoint."""


class PluginNotInstalled(ZooError):
    """The plugin that provides an architecture is missing or failed to import."""


class WeightsUnavailable(ZooError):
    """Weights cannot be had: none published, not cached while offline, Hub unreachable, ..."""


class IntegrityError(ZooError):
    """A file is corrupt or not what it should be: a sha256 mismatch, a truncated data file, a non-safetensors checkpoint."""


class InvalidInput(ZooError, ValueError):
    """Bad input to a model: shape, dtype, value range or label range."""


class RegistryError(ZooError):
    """A malformed or conflicting registry entry, architecture or plugin."""
