"""p(x) is a proper distribution over the discrete images, autoregressive in raster order."""

from __future__ import annotations

import pytest
import torch

import zoo_core as zoo
from zoo_core.testing import check_causal, check_normalised, check_sampler_matches_log_prob

from pixelcnn_testing import ARCHITECTURES, CONDITIONAL, labels_for, tiny

GREY, RGB = ((1, 2, 3), 3), ((3, 1, 2), 2)


@pytest.mark.parametrize("event_shape, num_levels", [GREY, RGB], ids=["grey", "rgb"])
def test_probabilities_sum_to_one_on_tiny_space(architecture, event_shape, num_levels):
    check_normalised(tiny(architecture, event_shape, num_levels))  # every class, for the conditional


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_default_configuration_builds_tiny_model_that_sums_to_one(architecture):
    torch.manual_seed(0)
    classes = {"num_classes": 2} if architecture == CONDITIONAL else {}  # fewer classes, fewer sums to check
    check_normalised(zoo.build(architecture, event_shape=(1, 2, 3), num_levels=3, **classes))


@pytest.mark.parametrize("event_shape", [(1, 3, 4), (3, 2, 3), (2, 4, 2)], ids=["grey", "rgb", "two-channel"])
def test_no_conditional_sees_its_own_or_a_later_subpixel(architecture, event_shape):
    model = tiny(architecture, event_shape, 4).double()
    check_causal(model, y=labels_for(model, 2))


@pytest.mark.parametrize("event_shape, num_levels", [GREY, RGB], ids=["grey", "rgb"])
def test_sample_frequencies_match_log_prob(architecture, event_shape, num_levels):
    model = tiny(architecture, event_shape, num_levels)
    check_sampler_matches_log_prob(model, n=4000, y=1 if architecture == CONDITIONAL else None)


def test_log_prob_is_the_sum_of_the_gathered_conditionals(architecture):
    model = tiny(architecture, (3, 2, 3), 5)
    x = torch.randint(5, (4, 3, 2, 3), generator=torch.Generator().manual_seed(0))
    y = labels_for(model, 4)
    args = () if y is None else (y,)
    with torch.no_grad():
        conditionals = model.conditional_log_probs(x, *args)
        log_prob = model.log_prob(x, *args)
    assert conditionals.shape == (4, 3, 2, 3, 5)
    assert torch.allclose(conditionals.exp().sum(-1), torch.ones(4, 3, 2, 3))
    gathered = conditionals.gather(-1, x.unsqueeze(-1)).sum(dim=(1, 2, 3, 4))
    assert log_prob.shape == (4,) and torch.allclose(log_prob, gathered)


def test_conditional_model_depends_on_the_label():
    model = tiny(CONDITIONAL, (1, 2, 3), 3)
    x = torch.randint(3, (2, 1, 2, 3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        by_class = [model.log_prob(x, torch.full((2,), k)) for k in range(3)]
    assert not torch.allclose(by_class[0], by_class[1])


def _influence(model, event_shape, pixel):
    """Which input pixels the logits at ``pixel`` depend on: a (H, W) bool map, by gradient."""
    x = torch.rand(1, *event_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x.requires_grad_(True)
    model.network(x)[0, :, pixel[0], pixel[1]].sum().backward()
    return x.grad[0].abs().sum(0) > 0


def _before(shape, pixel):
    rows, cols = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
    return (rows < pixel[0]) | ((rows == pixel[0]) & (cols < pixel[1]))


def test_gated_pixelcnn_sees_every_earlier_pixel_within_reach():
    model = tiny("pixelcnn/gated", (1, 5, 5), 3, layers=4, first_kernel_size=3).double()
    for pixel in [(4, 2), (2, 0), (1, 4), (4, 4)]:
        seen = _influence(model, (1, 5, 5), pixel)
        assert torch.equal(seen, _before((5, 5), pixel)), f"pixel {pixel} sees\n{seen.int()}"


def test_original_pixelcnn_has_the_blind_spot_that_gated_removes():
    model = tiny("pixelcnn/original", (1, 5, 5), 3, layers=4, first_kernel_size=3).double()
    seen = _influence(model, (1, 5, 5), (4, 1))
    before = _before((5, 5), (4, 1))
    assert not (seen & ~before).any()
    # masked 3x3 convolutions reach up and to the right no faster than diagonally
    assert not seen[3, 3] and not seen[3, 4], f"pixel (4, 1) sees\n{seen.int()}"
