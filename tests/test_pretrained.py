"""Every bundled first-party checkpoint loads against its sha256 pins and still earns its figure.

For each entry of the packaged registry with bundled weights, `zoo.load` verifies the pinned
files and builds the model strictly, and the model is scored again on the test split:
- over the whole split, through the code `zoo eval` runs, the figure must be the recorded one
  (up to the 6 significant digits the registry keeps);
- the three Fashion-MNIST PixelCNN/PixelRNN models are too slow for that on 2 CPU cores: their
  figure on the first 256 test images must be the one pinned below, printed by
  `zoo eval NAME --limit 256 --device cpu` when their checkpoints landed (a regression pin), and
  lie within four standard errors of the recorded whole-split figure.
A swapped, retrained or mis-pinned checkpoint, or a change to a model's code that alters what
old weights compute, fails here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import zoo_core as zoo
from zoo_core import registry
from zoo_core.data import load_dataset
from zoo_core.metrics import evaluate_ref, task_of

FASHION = Path("/usr/share/datasets/fashion-mnist")
SLOW_IMAGES = 256
SLOW = {  # test bits/dim of the first SLOW_IMAGES test images, on the CPU in float32
    "pixelcnn-fashion-mnist": 2.7243423804907207,
    "pixelcnn-fashion-mnist-conditional": 2.7511354115711306,
    "pixelrnn-fashion-mnist": 2.7757324970908615,
}


def _bundled() -> list[str]:
    registry.reload()
    return [name for name in zoo.list_models(pretrained=True) if zoo.info(name).source == registry.PACKAGED
            and zoo.info(name).weights is not None and zoo.info(name).weights.bundled is not None]


@pytest.mark.parametrize("name", _bundled())
def test_a_bundled_checkpoint_loads_verified_and_scores_its_recorded_figure(name):
    entry = zoo.info(name)
    if entry.dataset == "fashion-mnist" and not FASHION.is_dir():
        pytest.skip(f"Debian's Fashion-MNIST is not installed in {FASHION} (apt-get install dataset-fashion-mnist)")
    try:
        model = zoo.load(name)
    except zoo.PluginNotInstalled as error:  # core tests run without the plugins too
        pytest.skip(str(error))
    recorded = entry.metrics
    assert recorded, f"{name} has no recorded figure"
    if name in SLOW:
        test = load_dataset(entry.dataset, "test")
        x, y = test.images[:SLOW_IMAGES].long(), test.labels[:SLOW_IMAGES]
        with torch.no_grad():
            log_p = model.log_prob(x, y) if task_of(model) == "conditional" else model.log_prob(x)
        bits = -log_p.double() / (math.prod(model.event_shape) * math.log(2))
        assert bits.mean().item() == pytest.approx(SLOW[name], abs=1e-4)
        error = 4 * bits.std().item() / math.sqrt(len(bits))
        assert abs(bits.mean().item() - recorded["test_bits_per_dim"]) < error, (bits.mean().item(), error)
    else:
        figures = evaluate_ref(name, progress=False, device="cpu")["metrics"]
        assert figures.keys() == recorded.keys()
        for key, value in figures.items():
            assert value == pytest.approx(recorded[key], abs=1e-5), key
