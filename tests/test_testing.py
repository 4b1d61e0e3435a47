"""The shared checks must catch the faults they exist for."""

import pytest
import torch

import zoo_core as zoo
from zoo_core.testing import all_images, check_causal, check_normalised, check_sampler_matches_log_prob


def test_all_images_enumerates_every_image_once():
    x = all_images((1, 2, 2), 3)
    assert x.shape == (81, 1, 2, 2) and len(torch.unique(x.flatten(1), dim=0)) == 81


def test_a_model_that_does_not_sum_to_one_fails():
    model = zoo.build("testplugin/categorical", event_shape=(1, 1, 2), num_levels=2)
    model.log_prob = lambda x: torch.zeros(len(x))  # every image gets probability one
    with pytest.raises(AssertionError, match="sum to 4"):
        check_normalised(model)


class Autoregressive(torch.nn.Module):
    """Each sub-pixel's distribution depends on the previous one; ``leak`` lets it see the next."""

    autoregressive = True
    event_shape, num_levels = (2, 2, 3), 2

    def __init__(self, leak=False):
        super().__init__()
        self.leak = leak

    def conditional_log_probs(self, x):
        b, c, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(b, -1).float()
        context = torch.cat([torch.zeros(b, 1), flat[:, :-1]], 1)
        if self.leak:
            context = context + torch.cat([flat[:, 1:], torch.zeros(b, 1)], 1)
        logits = torch.stack([context, -context], -1)
        return torch.log_softmax(logits, -1).reshape(b, h, w, c, 2).permute(0, 3, 1, 2, 4)


def test_causality_check_passes_a_causal_model_and_catches_a_leak():
    check_causal(Autoregressive())
    with pytest.raises(AssertionError, match="sees the future"):
        check_causal(Autoregressive(leak=True))


def test_a_sampler_that_disagrees_with_log_prob_fails():
    model = zoo.build("testplugin/categorical", event_shape=(1, 1, 2), num_levels=3)
    with torch.no_grad():
        model.logits.normal_()
    check_sampler_matches_log_prob(model)
    model.sample = lambda n, generator=None: torch.zeros(n, 1, 1, 2, dtype=torch.long)
    with pytest.raises(AssertionError, match="total variation"):
        check_sampler_matches_log_prob(model)
