"""Softmax classifiers for zoo: ``softmax/linear`` and ``softmax/cnn``.

The hooks live in ``zoo_softmax_classifier.hooks``, the models in ``models``.
"""
