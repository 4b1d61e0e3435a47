"""zoo_core.autoregressive: a model that implements only _logits gets a correct zoo model.

The model here is the smallest autoregressive one: each sub-pixel's logits are a bias plus a
strictly lower-triangular linear map of the sub-pixels before it in raster order (and, for
the conditional one, a per-class offset).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo_core import InvalidInput
from zoo_core.autoregressive import AutoregressiveModel, ClassConditional, inverse_cdf
from zoo_core.protocols import ConditionalModel, DensityModel
from zoo_core.testing import check_causal, check_normalised, check_sampler_matches_log_prob
from zoo_core.validate import check_count, check_size


class Triangular(AutoregressiveModel):
    def __init__(self, event_shape=(1, 2, 2), num_levels=3, *, leak=False):
        super().__init__(event_shape, num_levels)
        d, g = math.prod(self.event_shape), torch.Generator().manual_seed(0)
        self.bias = nn.Parameter(torch.randn(d, num_levels, generator=g))
        self.weight = nn.Parameter(2 * torch.randn(d, d, num_levels, generator=g))
        # row d reads columns e < d; a leak lets it read itself
        self.register_buffer("mask", torch.ones(d, d).tril(diagonal=0 if leak else -1))

    def _offsets(self, labels):
        return 0

    def _logits(self, x, labels):
        b, (c, h, w), levels = len(x), self.event_shape, self.num_levels
        v = self.scale(x).permute(0, 2, 3, 1).reshape(b, -1)  # raster order, channels innermost
        flat = self.bias + torch.einsum("be,del->bdl", v, self.weight * self.mask[:, :, None])
        flat = flat + self._offsets(labels)
        return flat.view(b, h, w, c, levels).permute(0, 3, 4, 1, 2).reshape(b, c * levels, h, w)


class ConditionalTriangular(ClassConditional, Triangular):
    def __init__(self, event_shape=(1, 2, 2), num_levels=3, num_classes=2):
        super().__init__(event_shape, num_levels)
        self._set_classes(num_classes, None)
        g = torch.Generator().manual_seed(1)
        self.offsets = nn.Parameter(3 * torch.randn(num_classes, math.prod(self.event_shape), num_levels, generator=g))

    def _offsets(self, labels):
        return self.offsets[labels]


@pytest.mark.parametrize("shape", [(1, 2, 2), (3, 1, 2)], ids=["grey", "rgb"])
def test_a_model_with_only_logits_is_normalised_causal_and_samples_its_log_prob(shape):
    model = Triangular(shape, 3)
    assert isinstance(model, DensityModel) and model.autoregressive
    check_normalised(model)
    check_causal(model)
    check_sampler_matches_log_prob(model)


def test_the_causality_check_catches_a_model_that_reads_its_own_sub_pixel():
    with pytest.raises(AssertionError, match="sees the future"):
        check_causal(Triangular((1, 2, 2), 3, leak=True))


def test_class_conditional_mixin_makes_a_conditional_model():
    model = ConditionalTriangular()
    assert isinstance(model, ConditionalModel) and model.class_names == ["0", "1"]
    check_normalised(model)
    check_causal(model, y=torch.tensor([0, 1]))
    for y in (0, 1):
        check_sampler_matches_log_prob(model, y=y)
    x = torch.zeros(2, 1, 2, 2, dtype=torch.long)
    assert not torch.equal(model.log_prob(x, torch.tensor([0, 0])), model.log_prob(x, torch.tensor([1, 1])))


def test_without_its_own_cached_sampler_cache_true_is_the_reference():
    model = Triangular((3, 2, 2), 4)
    fast = model.sample(6, generator=torch.Generator().manual_seed(1))
    slow = model.sample(6, generator=torch.Generator().manual_seed(1), cache=False)
    assert torch.equal(fast, slow) and fast.dtype == torch.long and fast.shape == (6, 3, 2, 2)
    assert model.sample(0).shape == (0, 3, 2, 2)


def test_conditional_log_probs_are_what_log_prob_sums():
    model = Triangular((3, 1, 2), 3)
    x = torch.randint(3, (4, 3, 1, 2), generator=torch.Generator().manual_seed(0))
    per_sub_pixel = model.conditional_log_probs(x).gather(-1, x.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(per_sub_pixel.flatten(1).sum(1), model.log_prob(x))


def test_bad_input_is_invalid_input():
    model, conditional = Triangular(), ConditionalTriangular()
    for n in (-1, 2.5, True, "3"):
        with pytest.raises(InvalidInput, match="non-negative integer"):
            model.sample(n)
    with pytest.raises(InvalidInput, match="cache must be True or False"):
        model.sample(2, cache=1)
    with pytest.raises(InvalidInput, match="values"):
        model.log_prob(torch.full((1, 1, 2, 2), 3))
    with pytest.raises(InvalidInput, match="labels in"):
        conditional.sample(torch.tensor([2]))
    with pytest.raises(InvalidInput, match="shape"):
        conditional.log_prob(torch.zeros(2, 1, 2, 2, dtype=torch.long), torch.tensor([0]))
    with pytest.raises(InvalidInput, match="num_classes"):
        ConditionalTriangular(num_classes=0)


def test_the_mixin_must_come_first():
    with pytest.raises(TypeError, match="list ClassConditional before the model class"):
        class Backwards(Triangular, ClassConditional):
            pass


def test_a_model_without_logits_says_so():
    class Empty(AutoregressiveModel):
        def __init__(self):
            super().__init__((1, 1, 1), 2)
            self.p = nn.Parameter(torch.zeros(1))

    with pytest.raises(NotImplementedError, match="Empty must implement _logits"):
        Empty().log_prob(torch.zeros(1, 1, 1, 1, dtype=torch.long))


def test_inverse_cdf_picks_the_level_whose_cdf_step_holds_the_uniform():
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(5, 3)
    u = torch.tensor([0.0, 0.19, 0.21, 0.69, 0.999], dtype=torch.float64)
    assert inverse_cdf(logits, u).tolist() == [0, 0, 1, 1, 2]


def test_count_and_size_checks():
    assert check_count(torch.tensor(3)) == 3 and check_count(0) == 0
    for bad in (torch.tensor(True), torch.tensor([3]), torch.tensor(-2)):
        with pytest.raises(InvalidInput, match="non-negative integer"):
            check_count(bad)
    assert check_size("layers", 2) == 2 and check_size("kernel_size", 3, odd=True) == 3
    for bad in (0, True, 1.0):
        with pytest.raises(InvalidInput, match="layers must be an integer >= 1"):
            check_size("layers", bad)
    with pytest.raises(InvalidInput, match="kernel_size must be an odd integer >= 1; got 4"):
        check_size("kernel_size", 4, odd=True)
    with pytest.raises(InvalidInput, match="hidden must be an integer >= 3; got 2"):
        check_size("hidden", 2, at_least=3)
