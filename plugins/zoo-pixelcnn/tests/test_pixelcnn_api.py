"""The architectures register through the entry point, validate their input and round-trip a checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import InvalidInput
from zoo_core.protocols import ConditionalModel, DensityModel

from pixelcnn_testing import ARCHITECTURES, CONDITIONAL, labels_for, tiny


def test_every_architecture_is_registered_with_its_task():
    assert zoo.architectures("pixelcnn/*") == sorted(ARCHITECTURES)
    assert zoo.architectures("pixelcnn/*", task="conditional") == [CONDITIONAL]


def test_listing_the_architectures_imports_no_torch():
    code = "import sys, zoo_core as zoo; zoo.architectures('pixelcnn/*'); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_plugin_is_listed_without_error():
    (plugin,) = [p for p in zoo.list_plugins() if p.name == "pixelcnn"]
    assert plugin.error is None and plugin.package == "zoo-pixelcnn"


def test_models_follow_their_protocols(architecture):
    model = tiny(architecture, (1, 2, 3), 3)
    assert model.autoregressive is True
    assert model.event_shape == (1, 2, 3) and model.num_levels == 3
    if architecture == CONDITIONAL:
        assert isinstance(model, ConditionalModel)
        assert model.num_classes == 3 and model.class_names == ["a", "b", "c"]
    else:
        assert isinstance(model, DensityModel) and not hasattr(model, "num_classes")


BAD_IMAGES = {
    "float": torch.zeros(2, 1, 2, 3),
    "bool": torch.zeros(2, 1, 2, 3, dtype=torch.bool),
    "wrong-shape": torch.zeros(2, 1, 3, 2, dtype=torch.long),
    "no-batch": torch.zeros(1, 2, 3, dtype=torch.long),
    "too-big": torch.full((2, 1, 2, 3), 3),
    "negative": torch.full((2, 1, 2, 3), -1),
    "not-a-tensor": [[[[0, 0, 0], [0, 0, 0]]]],
}


@pytest.mark.parametrize("x", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
@pytest.mark.parametrize("method", ["log_prob", "conditional_log_probs"])
def test_bad_images_raise_invalid_input(architecture, method, x):
    model = tiny(architecture, (1, 2, 3), 3)
    y = labels_for(model, 2)
    with pytest.raises(InvalidInput):
        getattr(model, method)(x, *(() if y is None else (y,)))


BAD_LABELS = {
    "float": torch.tensor([0.0, 1.0]),
    "too-big": torch.tensor([0, 3]),
    "negative": torch.tensor([0, -1]),
    "wrong-length": torch.tensor([0, 1, 2]),
    "2d": torch.tensor([[0], [1]]),
    "missing": None,
}


@pytest.mark.parametrize("y", BAD_LABELS.values(), ids=BAD_LABELS.keys())
@pytest.mark.parametrize("method", ["log_prob", "conditional_log_probs"])
def test_bad_labels_raise_invalid_input(method, y):
    model = tiny(CONDITIONAL, (1, 2, 3), 3)
    with pytest.raises(InvalidInput):
        getattr(model, method)(torch.zeros(2, 1, 2, 3, dtype=torch.long), y)


@pytest.mark.parametrize("architecture, config", [
    ("pixelcnn/gated", {"kernel_size": 4}),
    ("pixelcnn/gated", {"layers": 0}),
    ("pixelcnn/original", {"channels": 1}),
    ("pixelcnn/original", {"first_kernel_size": 2.0}),
    ("pixelcnn/original", {"num_levels": 1}),
    ("pixelcnn/gated", {"event_shape": [1, 2]}),
    (CONDITIONAL, {"num_classes": 2, "class_names": ["only-one"]}),
    (CONDITIONAL, {"num_classes": 0}),
])
def test_bad_builder_arguments_raise_invalid_input(architecture, config):
    with pytest.raises(InvalidInput):
        zoo.build(architecture, **{"event_shape": (1, 2, 3), "num_levels": 3, **config})


def test_uint8_and_long_images_give_the_same_log_prob(architecture):
    model = tiny(architecture, (3, 2, 2), 4)
    x = torch.randint(4, (3, 3, 2, 2), generator=torch.Generator().manual_seed(0))
    y = labels_for(model, 3)
    args = () if y is None else (y,)
    with torch.no_grad():
        assert torch.equal(model.log_prob(x, *args), model.log_prob(x.to(torch.uint8), *args))


def test_save_and_load_round_trip_gives_identical_log_prob(architecture, tmp_path):
    model = tiny(architecture, (3, 2, 3), 4, seed=5)
    folder = zoo.save(model, tmp_path / "checkpoint", name="tiny-pixelcnn", license="MIT")
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == architecture and config["event_shape"] == [3, 2, 3]
    loaded = zoo.load(folder)
    assert type(loaded) is type(model) and loaded.event_shape == (3, 2, 3)
    x = torch.randint(4, (5, 3, 2, 3), generator=torch.Generator().manual_seed(0))
    y = labels_for(model, 5)
    args = () if y is None else (y,)
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(x, *args), model.log_prob(x, *args))
    if architecture == CONDITIONAL:
        assert loaded.class_names == ["a", "b", "c"]


def test_checkpoint_holds_weights_but_not_the_masks(tmp_path):
    from safetensors import safe_open

    folder = zoo.save(tiny("pixelcnn/gated", (1, 2, 3), 3), tmp_path / "checkpoint")
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any(key.endswith("mask") for key in keys)


def test_load_in_float64_gives_the_same_probabilities(tmp_path):
    model = tiny("pixelcnn/gated", (1, 2, 3), 3)
    loaded = zoo.load(zoo.save(model, tmp_path / "checkpoint"), dtype="float64")
    x = torch.randint(3, (4, 1, 2, 3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert loaded.log_prob(x).dtype == torch.float64
        assert torch.allclose(loaded.log_prob(x).float(), model.log_prob(x), atol=1e-5)
