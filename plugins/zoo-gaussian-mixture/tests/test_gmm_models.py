"""gmm/diagonal and gmm/class-conditional: exact discrete probabilities, sampling, inputs, checkpoints."""

import math

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import InvalidInput
from zoo_core.testing import all_images, check_normalised, check_sampler_matches_log_prob
from zoo_gaussian_mixture.discretised import component_log_probs, log_bin_probs

TINY = [((1, 2, 3), 3), ((3, 1, 2), 2)]


def randomise(model, seed=0, spread=1.0):
    """Random weights, means around the level range and scales from a tenth of a level up."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.logits.copy_(torch.randn(model.logits.shape, generator=g))
        levels = model.num_levels - 1
        model.means.copy_(levels * (torch.rand(model.means.shape, generator=g) * 1.4 - 0.2))
        model.log_scales.copy_(spread * torch.randn(model.log_scales.shape, generator=g) - 0.5)
    return model


def diagonal(event_shape=(1, 2, 3), num_levels=3, **config):
    return randomise(zoo.build("gmm/diagonal", event_shape=event_shape, num_levels=num_levels, **config))


def conditional(event_shape=(1, 2, 3), num_levels=3, **config):
    config.setdefault("num_classes", 3)
    return randomise(zoo.build("gmm/class-conditional", event_shape=event_shape, num_levels=num_levels, **config))


@pytest.mark.parametrize("event_shape, num_levels", TINY)
def test_sum_of_probabilities_is_one_on_tiny_space(event_shape, num_levels):
    model = diagonal(event_shape, num_levels, components=4)
    check_normalised(model, atol=1e-5)
    check_normalised(model.double(), atol=1e-12)  # float64 parameters: float64 answers


@pytest.mark.parametrize("event_shape, num_levels", TINY)
def test_every_class_sums_to_one_on_tiny_space(event_shape, num_levels):
    check_normalised(conditional(event_shape, num_levels, components=3).double(), atol=1e-12)


def test_untrained_model_sums_to_one():
    check_normalised(zoo.build("gmm/diagonal", event_shape=(1, 2, 3), num_levels=3).double(), atol=1e-12)


def test_extreme_means_and_tiny_variances_still_sum_to_one():
    model = zoo.build("gmm/diagonal", event_shape=(1, 2, 3), num_levels=3, components=4).double()
    with torch.no_grad():
        model.means.copy_(torch.tensor([-1e4, -3.0, 0.5, 1.0, 1.5, 2.0, 1e4, 40.0]).repeat(3)[:24].reshape(4, 6))
        model.log_scales.copy_(torch.log(torch.tensor([1e-6, 1e-3, 0.05, 1e3])).repeat_interleave(6).reshape(4, 6))
    check_normalised(model, atol=1e-12)
    x = all_images(model.event_shape, model.num_levels)
    assert not torch.isnan(model.log_prob(x)).any()


def test_tail_bins_match_a_high_precision_reference():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    cases = [(0, 40.0, 1.0), (5, 0.0, 0.01), (1, 300.0, 7.0), (9, -60.0, 1.0), (3, 3.2, 1e-3), (4, 4.0, 1e6)]
    for v, mean, scale in cases:
        value = log_bin_probs(torch.tensor(v), torch.tensor(mean), torch.tensor(scale), 10).item()
        a = -mpmath.inf if v == 0 else (mpmath.mpf(v) - 0.5 - mean) / scale
        b = mpmath.inf if v == 9 else (mpmath.mpf(v) + 0.5 - mean) / scale
        ref = mpmath.log(mpmath.ncdf(b) - mpmath.ncdf(a))
        assert math.isfinite(value) and abs(value - float(ref)) <= 1e-9 * max(1.0, abs(float(ref))), (v, mean, scale)


def test_gradients_are_finite_in_the_tails():
    model = diagonal(num_levels=3, components=2).double()
    with torch.no_grad():
        model.means[0] = 1e3
        model.log_scales[1] = math.log(1e-4)
    model.log_prob(all_images(model.event_shape, 3)).sum().backward()
    for p in model.parameters():
        assert torch.isfinite(p.grad).all()


def test_table_and_direct_paths_agree():
    model = diagonal(num_levels=4, components=3)
    x = torch.randint(4, (9, 6), generator=torch.Generator().manual_seed(1))  # 9 > 4 levels: the table
    by_table = component_log_probs(x, model.means, model.log_scales, 4)
    direct = torch.cat([component_log_probs(row[None], model.means, model.log_scales, 4) for row in x])
    torch.testing.assert_close(by_table, direct, rtol=0, atol=1e-12)


def test_samples_follow_log_prob():
    check_sampler_matches_log_prob(diagonal(components=3))


@pytest.mark.parametrize("label", [0, 2])
def test_class_samples_follow_log_prob(label):
    check_sampler_matches_log_prob(conditional(components=2), y=label)


def test_sampling_is_reproducible_with_a_generator():
    model = conditional(components=2)
    y = torch.tensor([0, 1, 2, 2])
    first = model.sample(y, generator=torch.Generator().manual_seed(3))
    again = model.sample(y, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and first.dtype == torch.long and first.shape == (4, 1, 2, 3)
    assert diagonal().sample(0).shape == (0, 1, 2, 3)


def test_log_prob_is_natural_log_of_shape_batch():
    model = diagonal()
    x = torch.zeros(5, 1, 2, 3, dtype=torch.uint8)
    assert model.log_prob(x).shape == (5,) and model.log_prob(x).dtype == torch.float32


@pytest.mark.parametrize("bad", [
    torch.zeros(2, 1, 2, 3),                       # floats
    torch.zeros(2, 2, 3, dtype=torch.long),        # missing channel
    torch.full((2, 1, 2, 3), 3, dtype=torch.long),  # level out of range
    [[0, 1, 2]],                                    # not a tensor
])
def test_bad_images_raise_invalid_input(bad):
    with pytest.raises(InvalidInput):
        diagonal().log_prob(bad)
    with pytest.raises(InvalidInput):
        conditional().log_prob(bad, torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("labels", [torch.tensor([0, 3]), torch.tensor([0]), torch.tensor([0.0, 1.0])])
def test_bad_labels_raise_invalid_input(labels):
    x = torch.zeros(2, 1, 2, 3, dtype=torch.long)
    with pytest.raises(InvalidInput):
        conditional().log_prob(x, labels)
    if len(labels) == 2 and labels.dtype == torch.long:
        with pytest.raises(InvalidInput):
            conditional().sample(labels)


@pytest.mark.parametrize("config", [
    {"components": 0}, {"iterations": -1}, {"variance_floor": 0.0}, {"init": "k-means"},
    {"num_levels": 1}, {"event_shape": (1, 2)},
])
def test_bad_config_raises_invalid_input(config):
    with pytest.raises(InvalidInput):
        zoo.build("gmm/diagonal", **{"event_shape": (1, 2, 3), "num_levels": 3, **config})


def test_bad_sample_count_raises_invalid_input():
    with pytest.raises(InvalidInput):
        diagonal().sample(-1)


def test_class_names_must_match_num_classes():
    with pytest.raises(InvalidInput):
        zoo.build("gmm/class-conditional", event_shape=(1, 2, 3), num_levels=3, num_classes=2, class_names=["a"])


def test_save_and_load_give_identical_log_prob(tmp_path):
    model = diagonal(components=3)
    x = all_images(model.event_shape, model.num_levels)
    folder = zoo.save(model, tmp_path / "gmm", name="gmm-tiny")
    loaded = zoo.load(folder)
    assert type(loaded) is type(model) and loaded.components == 3
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))


def test_class_conditional_save_and_load_give_identical_log_prob(tmp_path):
    model = conditional(components=2, class_names=["cat", "dog", "owl"])
    x = all_images(model.event_shape, model.num_levels)
    loaded = zoo.load(zoo.save(model, tmp_path / "gmm-cc"))
    assert loaded.class_names == ["cat", "dog", "owl"]
    for label in range(3):
        y = torch.full((len(x),), label)
        assert torch.equal(loaded.log_prob(x, y), model.log_prob(x, y))


def test_registering_the_plugin_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, zoo_gaussian_mixture.hooks; assert 'torch' not in sys.modules, 'hooks imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(zoo.architectures("gmm/*")) == {"gmm/diagonal", "gmm/class-conditional"}


def test_scoring_with_the_cached_bin_table_matches_direct_scoring_and_follows_parameter_changes():
    import torch

    import zoo_core as zoo

    torch.manual_seed(0)
    model = zoo.build("gmm/class-conditional", event_shape=(1, 2, 3), num_levels=5, num_classes=2, components=3)
    x, y = torch.randint(5, (300, 1, 2, 3)), torch.randint(2, (300,))
    for _ in range(2):
        with torch.no_grad():
            model.means.normal_(2, 1)  # an in-place change must not leave a stale table behind
            cached = model.log_prob(x, y)
        direct = model.log_prob(x, y).detach()  # gradients on: the direct CDF path
        assert torch.allclose(cached, direct, rtol=0, atol=1e-9)
