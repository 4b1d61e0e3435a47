"""The cached sampler draws exactly what the reference sampler draws, and draws are reproducible."""

from __future__ import annotations

import pytest
import torch

from zoo_core.errors import InvalidInput

from pixelrnn_helpers import ARCHITECTURES, CONDITIONAL, draw, tiny

SHAPES = [((1, 3, 4), 5), ((1, 4, 3), 7), ((3, 2, 3), 4), ((3, 3, 2), 3), ((1, 1, 5), 4), ((3, 1, 1), 3)]
SHAPE_IDS = ["grey-3x4", "grey-4x3", "rgb-2x3", "rgb-3x2", "grey-1x5", "rgb-1x1"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("event_shape, num_levels", SHAPES, ids=SHAPE_IDS)
def test_cached_sampler_draws_exactly_what_the_reference_draws(architecture, event_shape, num_levels):
    # one uniform per sub-pixel, drawn up front and consumed in the same order by both; the
    # cached logits are bitwise those of a full pass, so the draws are equal, not just close
    model = tiny(architecture, event_shape, num_levels)
    assert torch.equal(draw(model, 6, seed=3, cache=True), draw(model, 6, seed=3, cache=False))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_cached_sampler_matches_on_a_deeper_wider_model_in_float64(architecture):
    extra = {} if architecture == "pixelrnn/diagonal-bilstm" else {"kernel_size": 5}
    model = tiny(architecture, (3, 4, 5), 6, hidden_channels=9, layers=4, **extra).double()
    assert torch.equal(draw(model, 3, seed=1, cache=True), draw(model, 3, seed=1, cache=False))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_samples_are_reproducible_with_a_generator_and_vary_with_the_seed(architecture):
    model = tiny(architecture, (1, 3, 4), 5)
    first, second = draw(model, 8, seed=7, cache=True), draw(model, 8, seed=7, cache=True)
    assert torch.equal(first, second)
    assert first.dtype == torch.long and first.shape == (8, 1, 3, 4)
    assert first.min() >= 0 and first.max() < 5
    assert not torch.equal(first, draw(model, 8, seed=8, cache=True))


def test_sampling_zero_images_gives_an_empty_batch():
    assert tiny("pixelrnn/row-lstm", (1, 2, 3), 3).sample(0).shape == (0, 1, 2, 3)
    model = tiny(CONDITIONAL, (1, 2, 3), 3)
    assert model.sample(torch.zeros(0, dtype=torch.long)).shape == (0, 1, 2, 3)


@pytest.mark.parametrize("bad", [-1, 2.0, True, "3", None])
def test_a_bad_sample_count_raises_invalid_input(bad):
    with pytest.raises(InvalidInput, match="non-negative integer"):
        tiny("pixelrnn/diagonal-bilstm", (1, 2, 3), 3).sample(bad)


def test_a_bad_cache_flag_or_label_raises_invalid_input():
    model = tiny(CONDITIONAL, (1, 2, 3), 3)
    with pytest.raises(InvalidInput, match="cache"):
        model.sample(torch.tensor([0]), cache="yes")
    with pytest.raises(InvalidInput, match="labels in"):
        model.sample(torch.tensor([0, 3]))
    with pytest.raises(InvalidInput, match="dtype"):
        model.sample(torch.tensor([0.0]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sampling_on_cuda_with_a_cpu_generator_matches_the_reference(architecture):
    model = tiny(architecture, (3, 3, 4), 5).cuda()
    cached, reference = draw(model, 5, seed=2, cache=True), draw(model, 5, seed=2, cache=False)
    assert cached.device.type == "cuda" and torch.equal(cached, reference)
    again = draw(model, 5, seed=2, cache=True, device="cuda")
    assert again.device.type == "cuda" and again.shape == (5, 3, 3, 4)
