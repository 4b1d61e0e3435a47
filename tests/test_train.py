"""`zoo train` and zoo_core.train: checkpoints with their recipe, processes, resume, seeds, fit."""

from __future__ import annotations

import json
import types

import pytest
import torch
from click.testing import CliRunner

import zoo_core as zoo
from zoo_core import plugins, registry
from zoo_core import train as engine
from zoo_core.cli import cli
from zoo_core.data import load_dataset
from zoo_core.errors import InvalidInput, ZooError
from zoo_core.hookspecs import hookimpl

FAST = ["--device", "cpu", "--quiet"]


def zoo_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def weights(folder) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    """`zoo train testplugin/linear --data digits --epochs 1` on one process."""
    out = tmp_path_factory.mktemp("linear") / "linear-digits"
    result = zoo_cli("train", "testplugin/linear", "--data", "digits", "--epochs", 1, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    return out, result


def test_train_writes_a_checkpoint_whose_card_carries_the_recipe_and_eval_prints_its_accuracy(linear_run):
    out, result = linear_run
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert f"wrote {out}" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "testplugin/linear" and config["task"] == "classifier"
    assert config["event_shape"] == [1, 8, 8] and config["num_levels"] == 17 and len(config["class_names"]) == 10
    card = (out / "README.md").read_text()
    recipe = card.split("## Training recipe", 1)[1]
    for line in ("dataset: digits", "epochs: 1", "seed: 0", "batch_size: 64", "lr: 0.001", "schedule: cosine",
                 "optimizer: Adam", "method: cross-entropy", "wall_time_s:", "torch: ", "nproc: 1", "cpu: "):
        assert line in recipe, line
    assert "train_accuracy" in card and "train_nll" in card
    model = zoo.load(out)
    assert isinstance(model, zoo.Classifier)
    shown = zoo_cli("eval", out, "--data", "digits", "--quiet")
    assert shown.exit_code == 0, shown.output
    assert "test_accuracy" in shown.output and "test_nll" in shown.output and "359 images" in shown.output


def test_two_processes_write_a_loadable_checkpoint_equal_to_one_process(linear_run, tmp_path):
    one, _ = linear_run
    two = tmp_path / "two"
    result = zoo_cli("train", "testplugin/linear", "--data", "digits", "--epochs", 1, "--out", two, "--nproc", 2,
                     *FAST)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in two.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "nproc: 2" in (two / "README.md").read_text()
    assert json.loads((two / "config.json").read_text())["config"] == \
        json.loads((one / "config.json").read_text())["config"]
    zoo.load(two)
    # each global batch is dealt between the processes and their gradients averaged: the same
    # computation as on one process, up to the order of float sums
    w1, w2 = weights(one), weights(two)
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6) for k in w1)


class Crash(Exception):
    pass


def test_a_resumed_run_ends_with_the_weights_of_a_run_that_never_stopped(tmp_path, monkeypatch):
    settings = dict(epochs=2, batch_size=32, lr=0.05, limit=300, seed=5, device="cpu", progress=False)
    whole = engine.train("testplugin/conditional", "digits", tmp_path / "whole", **settings)

    original, saves = engine._save_state, []

    def crash_after_second_save(*args, **kwargs):  # steps 4 and 8 of the first epoch's 9
        original(*args, **kwargs)
        saves.append(args[4].step)
        if len(saves) == 2:
            raise Crash

    monkeypatch.setattr(engine, "_save_state", crash_after_second_save)
    with pytest.raises(Crash):
        engine.train("testplugin/conditional", "digits", tmp_path / "cut", save_every=4, **settings)
    monkeypatch.setattr(engine, "_save_state", original)
    state = tmp_path / "cut" / "train_state"
    saved = json.loads((state / "state.json").read_text())
    assert saved["position"]["step"] == 8 and saved["position"]["epoch"] == 0
    assert sorted(p.name for p in (state / saved["tensors"]).iterdir()) == \
        ["model.safetensors", "optimizer.safetensors", "rng.safetensors"]  # tensors, never pickle

    with pytest.raises(ZooError, match="--resume"):  # a fresh start would overwrite the unfinished run
        engine.train("testplugin/conditional", "digits", tmp_path / "cut", **settings)
    with pytest.raises(InvalidInput, match="lr"):  # resuming keeps the run's own settings
        engine.train("testplugin/conditional", "digits", tmp_path / "cut", resume=True, lr=0.1, device="cpu",
                     progress=False)
    cut = engine.train("testplugin/conditional", "digits", tmp_path / "cut", resume=True, device="cpu",
                       progress=False)
    assert same_weights(whole, cut)
    assert not state.exists()  # the checkpoint is written: the state is gone
    with pytest.raises(ZooError, match="already holds a checkpoint"):
        engine.train("testplugin/conditional", "digits", tmp_path / "cut", resume=True, device="cpu")


def test_the_same_seed_gives_the_same_weights_and_another_seed_others(tmp_path):
    def run(name, seed):
        return zoo_cli("train", "testplugin/conditional", "--data", "digits", "--out", tmp_path / name, "--epochs",
                       1, "--limit", 200, "--batch-size", 50, "--seed", seed, "--config", "event_shape=[1,8,8]",
                       *FAST)

    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert run(name, seed).exit_code == 0
    assert same_weights(tmp_path / "a", tmp_path / "b")
    assert not same_weights(tmp_path / "a", tmp_path / "c")
    assert "--seed 7 --config 'event_shape=[1,8,8]' --limit 200" in (tmp_path / "a" / "README.md").read_text()


# --- models the test plugin does not have: registered here through the same hook -------------


class FitCategorical(torch.nn.Module):
    """Independent categoricals fitted in closed form: logits = log of smoothed counts."""

    fit_calls = 0

    def __init__(self, event_shape=(1, 2, 3), num_levels=3):
        super().__init__()
        from zoo_testplugin.models import Categorical

        self.inner = Categorical(event_shape, num_levels)
        self.event_shape, self.num_levels = self.inner.event_shape, num_levels

    def log_prob(self, x):
        return self.inner.log_prob(x)

    def sample(self, n, *, generator=None):
        return self.inner.sample(n, generator=generator)

    def fit(self, x, y=None, *, generator=None, progress=True):
        type(self).fit_calls += 1
        counts = torch.nn.functional.one_hot(x.long(), self.num_levels).sum(0).double() + 1
        with torch.no_grad():
            self.inner.logits.copy_(counts.log())
            mean = float(self.log_prob(x).double().mean())
        return {"train_log_likelihood": mean, "note": "closed form"}


def counting_linear(**config):
    from zoo_testplugin.models import LinearClassifier

    model = LinearClassifier(**config)
    model.register_buffer("label_counts", torch.zeros(model.num_classes))
    return model


@pytest.fixture
def extra_architectures():
    extra = types.SimpleNamespace()

    @hookimpl
    def zoo_register_architectures(register):
        register("testextra/fit-categorical", FitCategorical, task="density")
        register("testextra/counting-linear", counting_linear, task="classifier")

    extra.zoo_register_architectures = zoo_register_architectures
    manager = plugins.load_plugins()
    manager.register(extra, name="testextra")
    registry.reload()
    yield
    manager.unregister(name="testextra")
    registry.reload()


def test_a_model_with_fit_is_fitted_by_one_call_to_it(extra_architectures, tmp_path):
    FitCategorical.fit_calls = 0
    out = engine.train("testextra/fit-categorical", "digits", tmp_path / "fit", limit=100, device="cpu",
                       progress=False)
    assert FitCategorical.fit_calls == 1
    model = zoo.load(out)
    x = load_dataset("digits", "train").images[:100]
    expected = (torch.nn.functional.one_hot(x.long(), 17).sum(0).double() + 1).log()
    assert torch.allclose(model.inner.logits.double(), expected.float().double())
    card = (out / "README.md").read_text()
    assert "train_log_likelihood" in card and "train_bits_per_dim" in card
    assert "fit()" in card and "note: closed form" in card and "optimizer" not in card


def test_a_classifier_gets_the_training_label_counts(extra_architectures, tmp_path):
    out = engine.train("testextra/counting-linear", "digits", tmp_path / "counts", epochs=1, limit=150,
                       device="cpu", progress=False)
    labels = load_dataset("digits", "train").labels[:150]
    assert torch.equal(zoo.load(out).label_counts, torch.bincount(labels, minlength=10).float())


@pytest.mark.parametrize("args, message", [
    (["testplugin/linear", "--data", "no-such-data"], "unknown data set"),
    (["nothere/arch", "--data", "digits"], "nothere"),
    (["testplugin/linear", "--data", "digits", "--config", "channels"], "KEY=VALUE"),
    (["testplugin/linear", "--data", "digits", "--config", "channels=64"], "does not take the config"),
    (["testplugin/linear", "--data", "digits", "--config", "num_levels=3"], "contradicts the data set"),
    (["testplugin/linear", "--data", "digits", "--config", "a=[1,"], "not a YAML"),
])
def test_bad_arguments_are_one_line_errors_with_exit_code_one(tmp_path, args, message):
    result = zoo_cli("train", *args, "--out", tmp_path / "x", *FAST)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1 and message in result.output
    assert not (tmp_path / "x" / "config.json").exists()


def test_config_values_are_read_as_yaml():
    assert engine.parse_config(["channels=64", "event_shape=[1, 8, 8]", "name=gated", "lr=1e-3", "flag=true"]) == \
        {"channels": 64, "event_shape": [1, 8, 8], "name": "gated", "lr": 0.001, "flag": True}
    with pytest.raises(InvalidInput, match="twice"):
        engine.parse_config(["a=1", "a=2"])


def refuse_on_rank_one():
    import torch.distributed as dist

    if dist.get_rank() == 1:
        raise InvalidInput("rank one refuses")
    dist.barrier()  # rank 0 fails here, because rank 1 went away


def test_a_failing_process_is_reported_by_its_own_error_not_by_the_others():
    with pytest.raises(ZooError, match=r"^process 1 of 2 failed: InvalidInput: rank one refuses$"):
        engine.launch(refuse_on_rank_one, 2, "cpu")
