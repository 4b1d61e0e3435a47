"""The cached sampler draws exactly what the reference sampler draws, and draws are reproducible."""

from __future__ import annotations

import pytest
import torch

from zoo_core.errors import InvalidInput

from pixelcnn_testing import CONDITIONAL, labels_for, tiny


def _draw(model, n, *, seed, cache, device=None):
    generator = torch.Generator(device=device or "cpu").manual_seed(seed)
    y = labels_for(model, n)
    if y is None:
        return model.sample(n, generator=generator, cache=cache)
    return model.sample(y.to(device or "cpu"), generator=generator, cache=cache)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("event_shape, num_levels", [((1, 3, 4), 5), ((3, 2, 3), 4), ((1, 5, 2), 7),
                                                    ((3, 1, 1), 3)], ids=["grey-3x4", "rgb-2x3", "grey-5x2", "rgb-1x1"])
def test_cached_sampler_draws_what_the_reference_draws(architecture, event_shape, num_levels, dtype):
    # One uniform per sub-pixel, drawn up front, consumed by inverse CDF in the same order by both
    # samplers; the cached logits equal the full pass up to round-off, which flips no draw here.
    model = tiny(architecture, event_shape, num_levels).to(dtype)
    reference = _draw(model, 6, seed=3, cache=False)
    cached = _draw(model, 6, seed=3, cache=True)
    assert torch.equal(cached, reference)


def test_cached_sampler_matches_on_a_deeper_model_with_wide_kernels(architecture):
    model = tiny(architecture, (3, 4, 5), 6, layers=4, kernel_size=5, first_kernel_size=7).double()
    assert torch.equal(_draw(model, 3, seed=1, cache=True), _draw(model, 3, seed=1, cache=False))


def test_samples_are_reproducible_with_a_generator_and_vary_without(architecture):
    model = tiny(architecture, (1, 3, 4), 5)
    first, second = _draw(model, 8, seed=7, cache=True), _draw(model, 8, seed=7, cache=True)
    assert torch.equal(first, second)
    assert first.dtype == torch.long and first.shape == (8, 1, 3, 4)
    assert first.min() >= 0 and first.max() < 5
    assert not torch.equal(first, _draw(model, 8, seed=8, cache=True))


def test_sample_of_zero_images_is_empty():
    model = tiny("pixelcnn/gated", (1, 2, 3), 3)
    assert model.sample(0).shape == (0, 1, 2, 3)
    conditional = tiny(CONDITIONAL, (1, 2, 3), 3)
    assert conditional.sample(torch.zeros(0, dtype=torch.long)).shape == (0, 1, 2, 3)


@pytest.mark.parametrize("n", [-1, 2.5, "3", True, None])
def test_bad_sample_counts_raise_invalid_input(n):
    with pytest.raises(InvalidInput, match="non-negative integer"):
        tiny("pixelcnn/original", (1, 2, 3), 3).sample(n)


def test_cache_must_be_a_bool():
    with pytest.raises(InvalidInput, match="cache must be True or False"):
        tiny("pixelcnn/gated", (1, 2, 3), 3).sample(2, cache="no")


@pytest.mark.parametrize("y", [torch.tensor([0.0, 1.0]), torch.tensor([0, 3]), torch.tensor([-1]),
                               torch.tensor([[0, 1]]), [0, 1]], ids=["float", "too-big", "negative", "2d", "list"])
def test_bad_labels_to_sample_raise_invalid_input(y):
    with pytest.raises(InvalidInput):
        tiny(CONDITIONAL, (1, 2, 3), 3).sample(y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("generator_device", ["cpu", "cuda"])
def test_cached_sampler_draws_what_the_reference_draws_on_cuda(architecture, generator_device, dtype):
    model = tiny(architecture, (3, 3, 4), 6).to(dtype).cuda()
    cached = _draw(model, 5, seed=2, cache=True, device=generator_device)
    reference = _draw(model, 5, seed=2, cache=False, device=generator_device)
    assert cached.device.type == "cuda" and torch.equal(cached, reference)
    if generator_device == "cpu":  # the same uniforms, wherever the model runs
        assert torch.equal(cached.cpu(), _draw(model.cpu(), 5, seed=2, cache=True))
