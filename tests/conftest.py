"""Fixtures shared by the core tests; plain helpers live in zoo_test_helpers.py (a unique module name,
so that plugin test folders can have their own conftest.py)."""

from __future__ import annotations

import pytest

from zoo_core import registry
from zoo_test_helpers import LocalHub


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch):
    """Each test sees the environment it sets, not a registry cached by an earlier test."""
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    registry.reload()
    yield
    registry.reload()


@pytest.fixture
def site(tmp_path):
    return tmp_path / "site"


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A checkpoint folder of the test plugin's categorical model, written by zoo.save."""
    import torch

    import zoo_core as zoo

    torch.manual_seed(1)
    model = zoo.build("testplugin/categorical", event_shape=[1, 2, 3], num_levels=3)
    with torch.no_grad():
        model.logits.normal_()
    return zoo.save(model, tmp_path / "tiny", name="tiny", dataset="none", license="MIT")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running local Hub; HF_ENDPOINT and a fresh HF_HUB_CACHE point at it for this test."""
    server = LocalHub(tmp_path / "hub")
    server.root.mkdir()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server.start()
    yield server
    server.stop()
