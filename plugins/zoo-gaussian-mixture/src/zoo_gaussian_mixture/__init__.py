"""Discretised mixtures of diagonal Gaussians for zoo: ``gmm/diagonal`` and ``gmm/class-conditional``.

The hooks live in ``zoo_gaussian_mixture.hooks``; the models in ``models``, the exact bin
probabilities in ``discretised`` and the EM fit in ``em``.
"""
