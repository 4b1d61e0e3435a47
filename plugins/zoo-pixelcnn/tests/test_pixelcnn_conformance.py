"""The conformance kit (zoo_core.testing) on every PixelCNN architecture: one test per architecture and check.

Select one with -k, e.g. `pytest -k "pixelcnn/gated:causal-rgb"`.
"""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks(["pixelcnn/original", "pixelcnn/gated", "pixelcnn/gated-conditional"])
def test_architecture_passes_the_conformance_kit(architecture, check):
    check(architecture)
