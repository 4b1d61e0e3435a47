"""The ``architecture`` fixture: each test that takes it runs once per PixelCNN architecture."""

import pytest

from pixelcnn_testing import ARCHITECTURES


@pytest.fixture(params=ARCHITECTURES)
def architecture(request):
    return request.param
