"""EM: monotone likelihood, cluster recovery, re-seeding, and what ``fit`` returns."""

import math

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import InvalidInput
from zoo_core.testing import check_normalised
from zoo_gaussian_mixture import em

CENTRES = torch.tensor([4.0, 16.0, 27.0])
WEIGHTS = torch.tensor([0.5, 0.3, 0.2])


def clusters(n=600, d=6, levels=32, seed=0):
    """Integer images (n, 1, 1, d) from three well-separated clusters, and their cluster index."""
    g = torch.Generator().manual_seed(seed)
    which = torch.multinomial(WEIGHTS, n, replacement=True, generator=g)
    values = CENTRES[which, None] + 1.5 * torch.randn(n, d, generator=g)
    return values.round().clamp(0, levels - 1).long().reshape(n, 1, 1, d), which


def test_em_increases_the_training_log_likelihood_monotonically():
    x, _ = clusters()
    fit = em.fit_mixture(x.flatten(1), 5, iterations=25, init="random", dtype=torch.float64,
                         generator=torch.Generator().manual_seed(1), progress=False)
    steps = torch.tensor(fit.log_likelihood).diff()
    assert fit.reseeded == 0 and len(fit.log_likelihood) == 26
    assert (steps >= -1e-12).all(), f"log-likelihood fell by {-steps.min():.3g} nats/dim in one EM step"
    assert fit.log_likelihood[-1] > fit.log_likelihood[0] + 0.1


def test_float32_em_tracks_float64_em():
    x, _ = clusters()
    fits = [em.fit_mixture(x.flatten(1), 3, iterations=10, dtype=dtype, progress=False,
                           generator=torch.Generator().manual_seed(2)) for dtype in (torch.float32, torch.float64)]
    assert abs(fits[0].log_likelihood[-1] - fits[1].log_likelihood[-1]) < 1e-5
    torch.testing.assert_close(fits[0].means, fits[1].means, rtol=0, atol=1e-3)


@pytest.mark.parametrize("init", em.INITS)
def test_em_recovers_well_separated_clusters(init):
    x, _ = clusters()
    model = zoo.build("gmm/diagonal", event_shape=(1, 1, 6), num_levels=32, components=3, iterations=20, init=init)
    model.fit(x, generator=torch.Generator().manual_seed(0), progress=False)
    order = model.means.mean(1).argsort()
    torch.testing.assert_close(model.means[order], CENTRES[:, None].expand(3, 6), rtol=0, atol=0.5)
    torch.testing.assert_close(model.logits.softmax(0)[order], WEIGHTS, rtol=0, atol=0.06)
    # scales: the 1.5 levels the clusters were drawn with, once Sheppard's 1/12 is taken off
    torch.testing.assert_close(model.log_scales.exp(), torch.full((3, 6), 1.5), rtol=0.15, atol=0)


def test_empty_component_is_reseeded_at_the_data():
    x, _ = clusters()
    start = (torch.log(torch.tensor([0.4, 0.3, 0.2, 0.1])),
             torch.tensor([4.0, 16.0, 27.0, 1e4])[:, None].expand(4, 6),  # the last one is nowhere near the data
             torch.full((4, 6), 4.0))
    fit = em.fit_mixture(x.flatten(1), 4, iterations=5, start=start, progress=False,
                         generator=torch.Generator().manual_seed(0))
    assert fit.reseeded >= 1
    assert fit.means.max() < 32 and (fit.logits.exp() > 0).all()
    assert math.isclose(fit.logits.exp().sum().item(), 1.0, rel_tol=1e-9)


def test_sheppard_removes_the_dequantisation_variance_down_to_the_floor():
    variances = torch.tensor([1 / 12, 0.1, 2.0])
    torch.testing.assert_close(em.sheppard(variances, 0.02), torch.tensor([0.02, 0.02, 2.0 - 1 / 12]))


def test_fit_survives_fewer_distinct_images_than_components():
    x = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 2, 0, 0, 0]]).repeat(10, 1).reshape(20, 1, 2, 3)
    model = zoo.build("gmm/diagonal", event_shape=(1, 2, 3), num_levels=3, components=3, iterations=5)
    figures = model.fit(x, generator=torch.Generator().manual_seed(0), progress=False)
    assert all(math.isfinite(v) for v in figures.values())
    check_normalised(model.double(), atol=1e-10)
    assert model.log_prob(x[:2]).exp().sum() > 0.6  # most of the mass on the two images seen


def test_discrete_bits_per_dim_are_at_most_the_dequantised_bound():
    x, _ = clusters(n=400)
    model = zoo.build("gmm/diagonal", event_shape=(1, 1, 6), num_levels=32, components=3, iterations=10)
    figures = model.fit(x, generator=torch.Generator().manual_seed(0), progress=False)
    discrete = -model.log_prob(x).mean().item() / (6 * math.log(2))
    assert discrete <= figures["train_bits_per_dim_dequantised"] + 0.02
    assert set(figures) == {"train_bits_per_dim_dequantised", "em_iterations", "reseeded_components", "fit_seconds"}


def test_fit_is_reproducible_with_a_generator():
    x, _ = clusters(n=200)
    models = []
    for _ in range(2):
        model = zoo.build("gmm/diagonal", event_shape=(1, 1, 6), num_levels=32, components=4, iterations=3)
        model.fit(x, generator=torch.Generator().manual_seed(5), progress=False)
        models.append(model)
    assert all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters()))


def test_class_conditional_fits_one_mixture_per_class():
    x, which = clusters()
    y = (which == 2).long()  # class 1: the third cluster; class 0: the other two
    model = zoo.build("gmm/class-conditional", event_shape=(1, 1, 6), num_levels=32, num_classes=2,
                      components=2, iterations=10)
    figures = model.fit(x, y, generator=torch.Generator().manual_seed(0), progress=False)
    assert math.isfinite(figures["train_bits_per_dim_dequantised"])
    own = model.log_prob(x, y)
    other = model.log_prob(x, 1 - y)
    assert (own > other).float().mean() > 0.99
    torch.testing.assert_close(model.means[1].mean(1), torch.full((2,), 27.0), rtol=0, atol=1.0)


def test_fit_rejects_bad_data():
    x, which = clusters(n=50)
    model = zoo.build("gmm/class-conditional", event_shape=(1, 1, 6), num_levels=32, num_classes=3, components=4)
    with pytest.raises(InvalidInput, match="labels"):
        model.fit(x, progress=False)
    with pytest.raises(InvalidInput, match="at least"):
        model.fit(x, torch.zeros(50, dtype=torch.long), progress=False)  # classes 1 and 2 have no images
    with pytest.raises(InvalidInput):
        model.fit(x.float(), which, progress=False)
    with pytest.raises(InvalidInput, match="at least"):
        zoo.build("gmm/diagonal", event_shape=(1, 1, 6), num_levels=32, components=60).fit(x, progress=False)


def test_fast_product_equals_addmm():
    g = torch.Generator().manual_seed(0)
    a, w, c = torch.rand(300, 40, generator=g) * 255, torch.randn(7, 40, generator=g), torch.randn(7, generator=g)
    torch.testing.assert_close(em._affine(a, w, c), torch.addmm(c, a, w.T), rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_runs_on_cuda_with_a_cpu_generator():
    x, _ = clusters()
    model = zoo.build("gmm/diagonal", event_shape=(1, 1, 6), num_levels=32, components=3, iterations=10).cuda()
    model.fit(x, generator=torch.Generator().manual_seed(0), progress=False)
    on_cpu = zoo.build("gmm/diagonal", event_shape=(1, 1, 6), num_levels=32, components=3, iterations=10)
    on_cpu.fit(x, generator=torch.Generator().manual_seed(0), progress=False)
    torch.testing.assert_close(model.means.cpu(), on_cpu.means, rtol=0, atol=1e-3)
    sample = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert sample.device.type == "cuda" and torch.isfinite(model.log_prob(sample)).all()
