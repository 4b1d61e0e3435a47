"""The conformance kit (zoo_core.testing) on every Gaussian mixture architecture: one test per architecture and check.

Select one with -k, e.g. `pytest -k "gmm/diagonal:normalised-rgb"`.
"""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks(["gmm/diagonal", "gmm/class-conditional"])
def test_architecture_passes_the_conformance_kit(architecture, check):
    check(architecture)
