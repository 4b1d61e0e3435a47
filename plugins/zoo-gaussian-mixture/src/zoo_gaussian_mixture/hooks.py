"""Registers the Gaussian mixture architectures through zoo's hooks; imports no torch."""

from zoo_core.hookspecs import hookimpl


def _diagonal(**config):
    from zoo_gaussian_mixture.models import DiagonalGMM

    return DiagonalGMM(**config)


def _class_conditional(**config):
    from zoo_gaussian_mixture.models import ClassConditionalGMM

    return ClassConditionalGMM(**config)


@hookimpl
def zoo_register_architectures(register):
    register("gmm/diagonal", _diagonal, task="density")
    register("gmm/class-conditional", _class_conditional, task="conditional")
