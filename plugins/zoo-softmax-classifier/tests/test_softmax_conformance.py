"""The conformance kit (zoo_core.testing) on every softmax classifier architecture: one test per architecture and check.

Select one with -k, e.g. `pytest -k "softmax/cnn:save-load"`.
"""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks(["softmax/linear", "softmax/cnn"])
def test_architecture_passes_the_conformance_kit(architecture, check):
    check(architecture)
