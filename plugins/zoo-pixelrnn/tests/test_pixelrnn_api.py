"""The plugin registers its architectures like any third party, and the models keep zoo's contracts."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import InvalidInput

from zoo_pixelrnn.diagonal_bilstm import inside_image, shift_down, skew, unskew
from pixelrnn_helpers import ARCHITECTURES, CONDITIONAL, labels_for, tiny

TASKS = {"pixelrnn/row-lstm": "density", "pixelrnn/diagonal-bilstm": "density", CONDITIONAL: "conditional"}


def test_the_architectures_are_registered_with_their_tasks():
    for name, task in TASKS.items():
        assert name in zoo.architectures("pixelrnn/*", task=task)
    plugin = next(p for p in zoo.list_plugins() if p.name == "pixelrnn")
    assert plugin.package == "zoo-pixelrnn" and plugin.error is None


def test_listing_the_plugin_imports_no_torch_and_no_model_code():
    code = ("import sys, zoo_pixelrnn.hooks; "
            "bad = [m for m in sys.modules if m == 'torch' "
            "       or m.startswith('zoo_pixelrnn.') and m != 'zoo_pixelrnn.hooks']; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_models_follow_their_protocol(architecture):
    model = tiny(architecture, (1, 2, 3), 3)
    protocol = zoo.ConditionalModel if architecture == CONDITIONAL else zoo.DensityModel
    assert isinstance(model, protocol) and model.autoregressive is True
    assert model.event_shape == (1, 2, 3) and model.num_levels == 3
    if architecture == CONDITIONAL:
        assert model.num_classes == 3 and model.class_names == ["a", "b", "c"]


def test_the_defaults_suit_fashion_mnist():
    model = zoo.build("pixelrnn/row-lstm")
    assert model.event_shape == (1, 28, 28) and model.num_levels == 256 and model.hidden_channels == 64
    conditional = zoo.build(CONDITIONAL)
    assert conditional.num_classes == 10 and conditional.class_names == [str(k) for k in range(10)]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bad_images_raise_invalid_input(architecture):
    model = tiny(architecture, (1, 2, 3), 3)
    y = labels_for(model, 2)
    args = () if y is None else (y,)
    good = torch.zeros(2, 1, 2, 3, dtype=torch.long)
    for bad, message in [(good.float(), "dtype"), (good[:, :, :1], "shape"), (good + 3, "values"),
                         (good - 1, "values"), (good.numpy(), "ndarray")]:
        with pytest.raises(InvalidInput, match=message):
            model.log_prob(bad, *args)
        with pytest.raises(InvalidInput, match=message):
            model.conditional_log_probs(bad, *args)


def test_bad_labels_raise_invalid_input():
    model = tiny(CONDITIONAL, (1, 2, 3), 3)
    x = torch.zeros(2, 1, 2, 3, dtype=torch.long)
    for bad, message in [(torch.tensor([0, 3]), "labels in"), (torch.tensor([0]), "shape"),
                         (torch.tensor([0.0, 1.0]), "dtype"), ([0, 1], "list")]:
        with pytest.raises(InvalidInput, match=message):
            model.log_prob(x, bad)


@pytest.mark.parametrize("config, message", [
    ({"hidden_channels": 2, "event_shape": [3, 2, 2]}, "hidden_channels"),
    ({"hidden_channels": 0}, "hidden_channels"),
    ({"layers": 0}, "layers"),
    ({"kernel_size": 2}, "kernel_size"),
    ({"num_levels": 1}, "num_levels"),
    ({"event_shape": [1, 0, 3]}, "event_shape"),
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 2, "class_names": ["only one"]}, "class_names"),
])
def test_bad_builder_arguments_raise_invalid_input(config, message):
    with pytest.raises(InvalidInput, match=message):
        zoo.build(CONDITIONAL, **{"event_shape": [1, 2, 3], "num_levels": 3, **config})


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_save_and_load_give_the_same_log_prob(architecture, tmp_path):
    model = tiny(architecture, (3, 2, 3), 4)
    x = torch.randint(4, (5, 3, 2, 3), generator=torch.Generator().manual_seed(0))
    args = () if labels_for(model, 5) is None else (labels_for(model, 5),)
    zoo.save(model, tmp_path / "checkpoint")
    loaded = zoo.load(str(tmp_path / "checkpoint"))
    assert type(loaded) is type(model)
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(x, *args), model.log_prob(x, *args))
    if architecture == CONDITIONAL:
        assert loaded.class_names == ["a", "b", "c"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_few_training_steps_lower_the_loss(architecture):
    model = tiny(architecture, (1, 3, 3), 4).train()
    # two patterns, each its own label: learnable structure
    x = torch.tensor([[0, 1, 2], [1, 2, 3], [2, 3, 3]]).expand(8, 1, 3, 3).clone()
    x[4:] = 3 - x[4:]
    y = (torch.arange(8) >= 4).long()
    args = () if architecture != CONDITIONAL else (y,)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(15):
        loss = -model.log_prob(x, *args).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_skew_puts_pixel_i_j_in_column_i_plus_j_and_unskew_inverts_it():
    x = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).float() + 1
    skewed = skew(x)
    assert skewed.shape == (2, 3, 4, 8)
    for i in range(4):
        assert torch.equal(skewed[:, :, i, i:i + 5], x[:, :, i])
    assert torch.equal(skewed != 0, inside_image(4, 5).expand_as(skewed))
    assert torch.equal(unskew(skewed), x)


def test_shift_down_moves_every_row_down_one():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    assert torch.equal(shift_down(x), torch.cat([torch.zeros(1, 1, 1, 4), x[:, :, :2]], dim=2))
