"""`zoo eval`, zoo_core.metrics: figures by hand, across processes, recorded in the registry."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from click.testing import CliRunner
from zoo_test_helpers import sha256

import zoo_core as zoo
from zoo_core import metrics
from zoo_core.checkpoint import model_card
from zoo_core.cli import cli
from zoo_core.data import Dataset
from zoo_core.errors import InvalidInput


def zoo_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def few():
    """Five 1x2x3 images with 3 levels and labels in two classes."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(3, (5, 1, 2, 3), generator=g, dtype=torch.uint8)
    return Dataset(name="few", split="test", images=images, labels=torch.tensor([0, 1, 1, 0, 1]), num_levels=3,
                   class_names=["a", "b"])


def randomised(architecture, **config):
    torch.manual_seed(3)
    model = zoo.build(architecture, event_shape=[1, 2, 3], num_levels=3, **config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


def test_density_bits_per_dim_equal_a_hand_computation(few):
    model = randomised("testplugin/categorical")
    log_p = torch.log_softmax(model.logits.detach().double(), -1)  # (1, 2, 3, levels)
    by_hand = [-sum(log_p[0, i, j, int(x[0, i, j])] for i in range(2) for j in range(3)) for x in few.images]
    expected = sum(by_hand) / 5 / (6 * math.log(2))
    assert metrics.evaluate(model, few, batch_size=2, progress=False) == \
        pytest.approx({"test_bits_per_dim": float(expected)}, rel=1e-6)
    assert zoo.bits_per_dim(model, few.images) == pytest.approx(float(expected), rel=1e-6)


def test_conditional_bits_per_dim_use_each_image_own_label(few):
    model = randomised("testplugin/conditional", num_classes=2)
    log_p = torch.log_softmax(model.logits.detach().double(), -1)  # (classes, 1, 2, 3, levels)
    by_hand = [-sum(log_p[int(y), 0, i, j, int(x[0, i, j])] for i in range(2) for j in range(3))
               for x, y in zip(few.images, few.labels)]
    expected = float(sum(by_hand) / 5 / (6 * math.log(2)))
    assert metrics.evaluate(model, few, batch_size=3, progress=False) == \
        pytest.approx({"test_bits_per_dim": expected}, rel=1e-6)
    assert zoo.bits_per_dim(model, few.images, few.labels) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(InvalidInput, match="labels"):
        zoo.bits_per_dim(model, few.images)


def test_classifier_accuracy_and_nll_equal_a_hand_computation(few):
    model = randomised("testplugin/linear", num_classes=2)
    features = torch.nn.functional.one_hot(few.images.long().flatten(1), 3).flatten(1).double()
    logits = features @ model.linear.weight.detach().double().T + model.linear.bias.detach().double()
    log_p = torch.log_softmax(logits, -1)
    accuracy = (logits.argmax(1) == few.labels).double().mean().item()
    nll = -log_p[torch.arange(5), few.labels].mean().item()
    assert metrics.evaluate(model, few, batch_size=2, progress=False) == \
        pytest.approx({"test_accuracy": accuracy, "test_nll": nll}, rel=1e-6)
    with pytest.raises(InvalidInput, match="classifier"):
        zoo.bits_per_dim(model, few.images)


def test_data_that_do_not_fit_the_model_are_refused(few):
    model = zoo.build("testplugin/categorical", event_shape=[1, 2, 2], num_levels=3)
    with pytest.raises(InvalidInput, match=r"shape \(1, 2, 2\)"):
        metrics.evaluate(model, few, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier and a conditional model trained on 200 digits, as checkpoint folders."""
    from zoo_core.train import train

    root = tmp_path_factory.mktemp("trained")
    common = dict(epochs=1, limit=200, batch_size=50, lr=0.05, device="cpu", progress=False)
    return {"linear": train("testplugin/linear", "digits", root / "linear", **common),
            "conditional": train("testplugin/conditional", "digits", root / "conditional", **common)}


def test_eval_of_a_conditional_model_names_what_it_measures(trained):
    shown = zoo_cli("eval", trained["conditional"], "--data", "digits", "--quiet")
    assert shown.exit_code == 0, shown.output
    assert "conditional bits/dim" in shown.output and "test_bits_per_dim" in shown.output


def test_two_processes_give_the_figures_of_one(trained):
    one = json.loads(zoo_cli("eval", trained["linear"], "--data", "digits", "--json", "--quiet").output)
    two = json.loads(zoo_cli("eval", trained["linear"], "--data", "digits", "--json", "--quiet", "--nproc", 2).output)
    assert one["images"] == two["images"] == 359 and one["task"] == "classifier"
    assert two["metrics"] == pytest.approx(one["metrics"], rel=1e-9)
    model = zoo.load(trained["linear"])
    from zoo_core.data import load_dataset

    assert metrics.evaluate(model, load_dataset("digits", "test"), progress=False) == \
        pytest.approx(one["metrics"], rel=1e-12)


REGISTRY_HEAD = "# A private index.\n# Figures come from `zoo eval --write-registry`.\n\n"


def test_write_registry_records_the_figures_in_the_entry_and_its_card(trained, tmp_path, monkeypatch):
    import shutil

    folder = shutil.copytree(trained["linear"], tmp_path / "ckpt")
    card_before = (folder / "README.md").read_text()
    entries = {
        "my-linear": {"architecture": "testplugin/linear", "task": "classifier", "dataset": "digits",
                      "weights": {"local": "ckpt", "sha256": {name: sha256(folder / name) for name in
                                                              ("config.json", "model.safetensors", "README.md")}},
                      "metrics": {"test_accuracy": 0.01, "hand_typed": 1.0}, "license": "MIT"},
        "other": {"architecture": "testplugin/categorical", "task": "density", "dataset": "digits",
                  "metrics": {"test_bits_per_dim": 9.0}},
    }
    path = tmp_path / "private.yaml"
    path.write_text(REGISTRY_HEAD + yaml.safe_dump({"models": entries}, sort_keys=False))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    mode = path.stat().st_mode

    shown = zoo_cli("eval", "my-linear", "--write-registry", "--quiet", "--json")  # data set from the entry
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.output)["metrics"]
    text = path.read_text()
    assert text.startswith(REGISTRY_HEAD + "models:\n") and path.stat().st_mode == mode
    written = yaml.safe_load(text)["models"]
    assert list(written) == ["my-linear", "other"] and written["other"] == entries["other"]
    assert list(written["my-linear"]) == list(entries["my-linear"])  # key order kept
    assert written["my-linear"]["metrics"] == {"test_accuracy": pytest.approx(figures["test_accuracy"], rel=1e-5),
                                               "hand_typed": 1.0,
                                               "test_nll": pytest.approx(figures["test_nll"], rel=1e-5)}
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    results = header["model-index"][0]["results"]
    shown_in_card = {m["type"]: m["value"] for result in results for m in result["metrics"]}
    assert {r.get("dataset", {}).get("split") for r in results} == {"train", "test", None}  # None: hand_typed
    trained_with = {"train_accuracy", "train_nll"}  # the card keeps its training figures
    assert set(shown_in_card) == trained_with | set(written["my-linear"]["metrics"])
    assert {k: shown_in_card[k] for k in written["my-linear"]["metrics"]} == written["my-linear"]["metrics"]
    assert "| test_nll |" in card and "| train_accuracy |" in card
    assert card.split("## Training recipe")[1] == card_before.split("## Training recipe")[1]
    assert written["my-linear"]["weights"]["sha256"]["README.md"] == sha256(folder / "README.md")
    assert zoo.info("my-linear").metrics["test_nll"] == pytest.approx(figures["test_nll"], rel=1e-5)
    zoo.load("my-linear")  # every pinned file still verifies


def test_write_registry_refuses_what_it_cannot_write(trained, tmp_path):
    plugin_entry = zoo_cli("eval", "testplugin-tiny", "--data", "digits", "--write-registry")
    assert plugin_entry.exit_code == 1 and plugin_entry.output.count("\n") == 1
    assert "zoo_register_models hook" in plugin_entry.output
    folder = zoo_cli("eval", trained["linear"], "--data", "digits", "--write-registry")
    assert folder.exit_code == 1 and "registry entry" in folder.output
    unknown = zoo_cli("eval", trained["linear"], "--data", "no-such-data", "--quiet")
    assert unknown.exit_code == 1 and unknown.output.startswith("Error: unknown data set")


def test_a_card_without_metrics_gets_them_before_its_recipe():
    config = {"architecture": "testplugin/categorical", "task": "density", "event_shape": [1, 2, 3], "num_levels": 3}
    old = model_card(config, name="tiny", description="Words kept as they are.", dataset="digits",
                     recipe={"epochs": 1})
    new = metrics.refresh_card(old, config, name="tiny", dataset="digits", metrics={"test_bits_per_dim": 1.25})
    assert new == model_card(config, name="tiny", description="Words kept as they are.", dataset="digits",
                             recipe={"epochs": 1}, metrics={"test_bits_per_dim": 1.25})
