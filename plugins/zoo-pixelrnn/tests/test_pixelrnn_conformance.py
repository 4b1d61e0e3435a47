"""The conformance kit (zoo_core.testing) on every PixelRNN architecture: one test per architecture and check.

Select one with -k, e.g. `pytest -k "pixelrnn/row-lstm:sampler-grey"`.
"""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks(["pixelrnn/row-lstm", "pixelrnn/row-lstm-conditional", "pixelrnn/diagonal-bilstm"])
def test_architecture_passes_the_conformance_kit(architecture, check):
    check(architecture)
