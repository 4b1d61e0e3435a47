"""Registers the softmax classifiers through zoo's hooks; imports no torch."""

from zoo_core.hookspecs import hookimpl


def _linear(**config):
    from zoo_softmax_classifier.models import LinearSoftmax

    return LinearSoftmax(**config)


def _cnn(**config):
    from zoo_softmax_classifier.models import SmallCNN

    return SmallCNN(**config)


@hookimpl
def zoo_register_architectures(register):
    register("softmax/linear", _linear, task="classifier")
    register("softmax/cnn", _cnn, task="classifier")
