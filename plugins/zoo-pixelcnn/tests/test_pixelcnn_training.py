"""The engine's objective, -log_prob(x[, y]).mean(), trains every parameter and goes down."""

from __future__ import annotations

import torch

from pixelcnn_testing import labels_for, tiny


def _batch(model, n=8):
    x = torch.randint(model.num_levels, (n, *model.event_shape), generator=torch.Generator().manual_seed(0))
    y = labels_for(model, n)
    return x, () if y is None else (y,)


def test_every_parameter_gets_a_gradient(architecture):
    # DistributedDataParallel (zoo train --nproc) fails on parameters the loss never reaches
    model = tiny(architecture, (3, 3, 4), 4).train()
    x, y = _batch(model)
    (-model.log_prob(x, *y).mean()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


def test_a_few_adam_steps_lower_the_negative_log_likelihood(architecture):
    model = tiny(architecture, (3, 4, 4), 4, channels=24).train()
    _, y = _batch(model)
    # flat images, one level each: every sub-pixel after the first is predictable from the one before
    x = (torch.arange(8) % 4)[:, None, None, None].expand(8, 3, 4, 4)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = -model.log_prob(x, *y).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], f"loss went {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_the_cifar10_entry_is_architecture_only_and_says_how_to_get_weights():
    import pytest

    import zoo_core as zoo
    from zoo_core.errors import WeightsUnavailable

    with pytest.raises(WeightsUnavailable, match="zoo train pixelcnn/gated --data cifar10"):
        zoo.load("pixelcnn-cifar10")
    model = zoo.load("pixelcnn-cifar10", pretrained=False)
    assert model.event_shape == (3, 32, 32) and model.num_levels == 256


def test_the_gated_architecture_trains_a_step_on_rgb_32x32():
    import torch

    import zoo_core as zoo

    torch.manual_seed(0)
    model = zoo.build("pixelcnn/gated", event_shape=(3, 32, 32), num_levels=256, channels=16, layers=3)
    x = torch.randint(0, 256, (4, 3, 32, 32))
    x[:, :, :16] = 0  # learnable structure: the top half is black
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = -model.log_prob(x).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
