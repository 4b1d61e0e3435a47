"""softmax/linear and softmax/cnn: normalised p(y|x), inputs, label counts, checkpoints, training."""

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import InvalidInput
from zoo_core.protocols import Classifier
from zoo_core.testing import all_images, check_normalised

ARCHITECTURES = ["softmax/linear", "softmax/cnn"]
TINY = [((1, 2, 3), 3), ((3, 1, 2), 2)]


def build(architecture, event_shape=(1, 2, 3), num_levels=3, seed=0, **config):
    torch.manual_seed(seed)
    return zoo.build(architecture, event_shape=event_shape, num_levels=num_levels, **config)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("event_shape, num_levels", TINY)
def test_class_probabilities_sum_to_one_for_every_image(architecture, event_shape, num_levels):
    model = build(architecture, event_shape, num_levels, num_classes=4)
    assert isinstance(model, Classifier)
    check_normalised(model.eval(), atol=1e-5)
    check_normalised(model.train(), atol=1e-5)  # dropout and batch statistics too


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_predict_is_the_most_probable_class(architecture):
    model = build(architecture, num_classes=5).eval()
    x = all_images(model.event_shape, model.num_levels)
    prediction = model.predict(x)
    assert prediction.dtype == torch.long and prediction.shape == (len(x),)
    assert torch.equal(prediction, model.predict_log_proba(x).argmax(-1))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_label_counts_is_a_float_buffer_of_zeros(architecture):
    model = build(architecture, num_classes=3)
    assert torch.equal(model.label_counts, torch.zeros(3)) and model.label_counts.dtype == torch.float32
    assert "label_counts" in dict(model.named_buffers()) and "label_counts" in model.state_dict()


@pytest.mark.parametrize("event_shape", [(1, 28, 28), (3, 32, 32), (1, 1, 1), (1, 2, 3), (3, 1, 2), (1, 64, 48)])
def test_cnn_builds_and_runs_on_any_image_size_under_a_million_parameters(event_shape):
    model = build("softmax/cnn", event_shape, 256).eval()
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    x = torch.randint(256, (2, *event_shape), dtype=torch.uint8)
    assert model.predict_log_proba(x).shape == (2, 10)


def test_default_cnn_is_small():
    parameters = sum(p.numel() for p in zoo.build("softmax/cnn").parameters())
    assert 100_000 < parameters < 600_000


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("bad", [
    torch.zeros(2, 1, 2, 3),                        # floats
    torch.zeros(2, 1, 3, 2, dtype=torch.long),      # wrong shape
    torch.full((2, 1, 2, 3), -1, dtype=torch.long),  # level out of range
    "images",
])
def test_bad_images_raise_invalid_input(architecture, bad):
    model = build(architecture)
    with pytest.raises(InvalidInput):
        model.predict_log_proba(bad)
    with pytest.raises(InvalidInput):
        model.predict(bad)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("config", [{"num_classes": 1}, {"num_classes": 3, "class_names": ["a", "b"]},
                                    {"num_levels": 1}, {"event_shape": (2, 3)}])
def test_bad_config_raises_invalid_input(architecture, config):
    with pytest.raises(InvalidInput):
        zoo.build(architecture, **{"event_shape": (1, 2, 3), "num_levels": 3, **config})


@pytest.mark.parametrize("config", [{"channels": []}, {"hidden": 0}, {"dropout": 1.0}])
def test_bad_cnn_config_raises_invalid_input(config):
    with pytest.raises(InvalidInput):
        zoo.build("softmax/cnn", event_shape=(1, 2, 3), num_levels=3, **config)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_save_and_load_give_identical_predictions(architecture, tmp_path):
    model = build(architecture, (1, 4, 4), 3, num_classes=3, class_names=["a", "b", "c"])
    x = torch.randint(3, (64, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    model.train()
    model.predict_log_proba(x)  # a training-mode pass moves batch-norm statistics off their defaults
    with torch.no_grad():
        model.label_counts.copy_(torch.tensor([5.0, 3.0, 2.0]))
    model.eval()
    loaded = zoo.load(zoo.save(model, tmp_path / "classifier"))
    assert loaded.class_names == ["a", "b", "c"] and not loaded.training
    assert torch.equal(loaded.label_counts, model.label_counts)
    assert torch.equal(loaded.predict_log_proba(x), model.predict_log_proba(x))
    assert torch.equal(loaded.predict(x), model.predict(x))


def separable(n=128, seed=0):
    """8x8 images whose label says which half (left or right) is brighter."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(2, (n,), generator=g)
    x = torch.randint(0, 128, (n, 1, 8, 8), generator=g)
    bright = torch.randint(128, 256, (n, 1, 8, 4), generator=g)
    x[y == 0, :, :, :4] = bright[y == 0]
    x[y == 1, :, :, 4:] = bright[y == 1]
    return x, y


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_few_adam_steps_lower_the_training_loss(architecture):
    x, y = separable()
    model = build(architecture, (1, 8, 8), 256, num_classes=2).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.nll_loss(model.predict_log_proba(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert (model.eval().predict(x) == y).float().mean() > 0.9


def test_registering_the_plugin_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, zoo_softmax_classifier.hooks; assert 'torch' not in sys.modules, 'hooks imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(zoo.architectures("softmax/*", task="classifier")) == {"softmax/linear", "softmax/cnn"}
