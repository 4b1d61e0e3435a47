"""Every PixelRNN is a normalised, causal distribution whose sampler agrees with its log_prob."""

from __future__ import annotations

import pytest
import torch

import zoo_core as zoo
from zoo_core.testing import all_images, check_causal, check_normalised, check_sampler_matches_log_prob

import zoo_pixelrnn.diagonal_bilstm as diagonal_bilstm
import zoo_pixelrnn.row_lstm as row_lstm
from zoo_pixelrnn.masked import channel_groups
from pixelrnn_helpers import ARCHITECTURES, CONDITIONAL, labels_for, tiny

SPACES = [((1, 2, 3), 3), ((3, 1, 2), 2)]
NON_SQUARE = [(1, 3, 4), (1, 4, 3), (3, 3, 4), (3, 4, 3)]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("event_shape, num_levels", SPACES, ids=["grey-2x3", "rgb-1x2"])
def test_sum_of_probabilities_is_one_on_tiny_spaces_with_default_sizes(architecture, event_shape, num_levels):
    # default hidden_channels and layers: the builders' defaults must also make tiny models;
    # for the conditional model check_normalised sums once per class (10 by default)
    torch.manual_seed(0)
    model = zoo.build(architecture, event_shape=list(event_shape), num_levels=num_levels)
    check_normalised(model)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("event_shape", NON_SQUARE, ids=["grey-3x4", "grey-4x3", "rgb-3x4", "rgb-4x3"])
def test_no_conditional_depends_on_its_own_or_a_later_sub_pixel(architecture, event_shape):
    model = tiny(architecture, event_shape, 4, layers=3)
    check_causal(model, y=labels_for(model, 2))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_log_prob_is_the_sum_of_the_gathered_conditionals(architecture):
    model = tiny(architecture, (3, 2, 3), 5)
    x = torch.randint(5, (4, 3, 2, 3), generator=torch.Generator().manual_seed(1))
    args = () if labels_for(model, 4) is None else (labels_for(model, 4),)
    with torch.no_grad():
        conditionals = model.conditional_log_probs(x, *args)
        expected = conditionals.gather(-1, x.unsqueeze(-1)).flatten(1).sum(1)
        assert conditionals.shape == (4, 3, 2, 3, 5)
        assert torch.allclose(model.log_prob(x, *args), expected)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_green_and_blue_of_a_pixel_see_its_red_and_the_next_pixel_sees_it(architecture):
    # the colour masks must let through what they may: over-masking is causal but wrong
    model = tiny(architecture, (3, 2, 2), 4)
    x = torch.zeros(1, 3, 2, 2, dtype=torch.long)
    moved = x.clone()
    moved[0, 0, 0, 0] = 3  # the red of pixel (0, 0)
    args = () if labels_for(model, 1) is None else (labels_for(model, 1),)
    with torch.no_grad():
        change = (model.conditional_log_probs(moved, *args) - model.conditional_log_probs(x, *args)).abs().amax(-1)
    assert change[0, 0, 0, 0] == 0
    assert change[0, 1, 0, 0] > 1e-4 and change[0, 2, 0, 0] > 1e-4
    assert (change[0, :, 0, 1] > 1e-4).all() and (change[0, :, 1, 0] > 1e-4).all()


def test_the_causality_check_catches_a_right_to_left_direction_that_is_not_shifted_down(monkeypatch):
    monkeypatch.setattr(diagonal_bilstm, "shift_down", lambda x: x)
    model = tiny("pixelrnn/diagonal-bilstm", (1, 3, 4), 4)
    with pytest.raises(AssertionError, match="sees the future"):
        check_causal(model)


@pytest.mark.parametrize("module, architecture", [(row_lstm, "pixelrnn/row-lstm"),
                                                  (diagonal_bilstm, "pixelrnn/diagonal-bilstm")])
def test_the_causality_check_catches_gates_of_one_unit_in_different_colour_groups(monkeypatch, module,
                                                                                 architecture):
    # grouping the 4h pre-activations as one block, rather than unit by unit, mixes colours
    monkeypatch.setattr(module, "gate_groups", lambda hidden, colours: channel_groups(4 * hidden, colours))
    model = tiny(architecture, (3, 2, 3), 4)
    with pytest.raises(AssertionError, match="sees the future"):
        check_causal(model)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("event_shape, num_levels", SPACES, ids=["grey-2x3", "rgb-1x2"])
def test_sample_frequencies_match_exp_log_prob(architecture, event_shape, num_levels):
    model = tiny(architecture, event_shape, num_levels)
    check_sampler_matches_log_prob(model, n=4000, y=None if architecture != CONDITIONAL else 1)


def test_the_label_changes_the_distribution():
    model = tiny(CONDITIONAL, (1, 2, 3), 3)
    x = all_images((1, 2, 3), 3)
    with torch.no_grad():
        first = model.log_prob(x, torch.zeros(len(x), dtype=torch.long))
        second = model.log_prob(x, torch.full((len(x),), 2, dtype=torch.long))
    assert (first - second).abs().max() > 1e-3
