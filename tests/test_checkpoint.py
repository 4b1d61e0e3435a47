import json

import pytest
import torch

import zoo_core as zoo
from zoo_core import registry
from zoo_test_helpers import sha256, write_registry
from zoo_core.errors import IntegrityError, PluginNotInstalled, UnknownModel, WeightsUnavailable, ZooError

X = torch.tensor([[[[0, 1, 2], [2, 1, 0]]], [[[1, 1, 1], [0, 0, 2]]]])


def entry_for(folder, **extra):
    return {"architecture": "testplugin/categorical", "task": "density",
            "config": {"event_shape": [1, 2, 3], "num_levels": 3},
            "weights": {"local": str(folder), "sha256": {f: sha256(folder / f) for f in
                                                           ("config.json", "model.safetensors")}}, **extra}


def test_save_writes_the_hugging_face_layout_and_load_restores_the_model(tiny_checkpoint):
    assert sorted(p.name for p in tiny_checkpoint.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["architecture"] == "testplugin/categorical" and config["task"] == "density"
    assert config["event_shape"] == [1, 2, 3] and config["num_levels"] == 3 and config["zoo_core_version"]
    card = (tiny_checkpoint / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: zoo\n") and "datasets:\n- none" in card
    model = zoo.load(tiny_checkpoint)
    again = zoo.load(str(tiny_checkpoint))
    assert not model.training
    assert torch.equal(model.log_prob(X), again.log_prob(X))
    assert not torch.equal(model.log_prob(X), zoo.build("testplugin/categorical").log_prob(X))


def test_the_card_carries_metrics_and_recipe(tmp_path):
    model = zoo.build("testplugin/linear")
    folder = zoo.save(model, tmp_path / "c", name="lin", dataset="digits", metrics={"test_accuracy": 0.5},
                      recipe={"epochs": 1})
    card = (folder / "README.md").read_text()
    assert "type: test_accuracy\n      value: 0.5" in card and "epochs: 1" in card
    assert json.loads((folder / "config.json").read_text())["class_names"] == ["0", "1"]


def test_save_refuses_a_model_zoo_did_not_build(tmp_path):
    from zoo_testplugin.models import Categorical

    with pytest.raises(ZooError, match="zoo.build"):
        zoo.save(Categorical(), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_load_by_registry_name_checks_sha256_before_loading(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", {"mine": entry_for(tiny_checkpoint)})))
    assert torch.equal(zoo.load("mine").log_prob(X), zoo.load(tiny_checkpoint).log_prob(X))
    weights = tiny_checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one flipped bit in a weight
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.safetensors: sha256 is"):
        zoo.load("mine")


def test_bundled_weights_of_an_installed_plugin_load_and_verify():
    model = zoo.load("testplugin-tiny")
    assert model.log_prob(X).shape == (2,)


def test_a_pickle_checkpoint_is_refused(tmp_path, tiny_checkpoint):
    (tiny_checkpoint / "model.safetensors").unlink()
    torch.save(zoo.load is None, tiny_checkpoint / "pytorch_model.bin")
    with pytest.raises(IntegrityError, match="refusing the pickle checkpoint pytorch_model.bin"):
        zoo.load(tiny_checkpoint)


def test_a_pickle_file_named_safetensors_is_refused(tiny_checkpoint):
    torch.save({"logits": torch.zeros(1)}, tiny_checkpoint / "model.safetensors")
    with pytest.raises(IntegrityError, match="not a readable safetensors file"):
        zoo.load(tiny_checkpoint)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path, tiny_checkpoint):
    other = zoo.save(zoo.build("testplugin/categorical", event_shape=[1, 1, 1], num_levels=3), tmp_path / "o")
    (tiny_checkpoint / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(IntegrityError, match="does not fit"):
        zoo.load(tiny_checkpoint)


def test_a_broken_config_is_named(tiny_checkpoint):
    (tiny_checkpoint / "config.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="config.json: not valid JSON"):
        zoo.load(tiny_checkpoint)


def test_an_entry_without_weights_builds_untrained_and_explains_otherwise(tmp_path, monkeypatch):
    entry = {"architecture": "testplugin/categorical", "task": "density", "dataset": "digits",
             "config": {"event_shape": [1, 8, 8], "num_levels": 17}}
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", {"arch-only": entry})))
    assert zoo.load("arch-only", pretrained=False).event_shape == (1, 8, 8)
    with pytest.raises(WeightsUnavailable, match="pretrained=False.*zoo train testplugin/categorical --data digits"):
        zoo.load("arch-only")


def test_a_missing_plugin_is_named_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.FIRST_PARTY, "absentparty", "zoo-absentparty")
    entry = {"architecture": "absentparty/model", "task": "density"}
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", {"needs-plugin": entry})))
    with pytest.raises(PluginNotInstalled, match="pip install zoo-absentparty"):
        zoo.load("needs-plugin", pretrained=False)
    with pytest.raises(PluginNotInstalled, match="plugin named 'someone'"):
        zoo.build("someone/model")
    with pytest.raises(UnknownModel, match="has no architecture 'testplugin/nope'"):
        zoo.build("testplugin/nope")
    monkeypatch.setenv("ZOO_PLUGINS", "testplugin")
    with pytest.raises(PluginNotInstalled, match="ZOO_PLUGINS=testplugin leaves out"):
        zoo.build("gmm/diagonal")


def test_dtype_and_device_are_applied(tiny_checkpoint):
    model = zoo.load(tiny_checkpoint, dtype="float64", device="cpu")
    assert model.logits.dtype == torch.float64
    with pytest.raises(ZooError, match="unknown dtype 'float99'"):
        zoo.load(tiny_checkpoint, dtype="float99")


def test_unknown_refs_and_ambiguous_refs_are_errors(tmp_path, monkeypatch):
    with pytest.raises(UnknownModel):
        zoo.load("no-such-model-or-folder")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "testplugin-tiny").mkdir()
    with pytest.raises(UnknownModel, match="both a registry name and a folder"):
        zoo.load("testplugin-tiny")
    with pytest.raises(WeightsUnavailable, match="not a Hub reference"):
        zoo.load("hf:just-a-name")


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tiny_checkpoint, monkeypatch):
    before = {p.name: p.read_bytes() for p in tiny_checkpoint.iterdir()}
    model = zoo.load(tiny_checkpoint)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_model", explode)
    with pytest.raises(OSError, match="disk full"):
        zoo.save(model, tiny_checkpoint)
    assert {p.name: p.read_bytes() for p in tiny_checkpoint.iterdir()} == before


def test_atomic_write_replaces_the_file_behind_a_link_and_keeps_the_link(tmp_path):
    import os
    from pathlib import Path

    from zoo_core.checkpoint import atomic_write

    target = tmp_path / "registry.yaml"
    target.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    atomic_write(link, lambda tmp: Path(tmp).write_text("new"))
    assert link.is_symlink() and target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_records_the_defaults_so_a_changed_default_does_not_change_an_old_checkpoint(tmp_path, monkeypatch):
    from zoo_testplugin.models import Categorical

    folder = zoo.save(zoo.build("testplugin/categorical", num_levels=4), tmp_path / "c")
    assert json.loads((folder / "config.json").read_text())["config"] == {"num_levels": 4, "event_shape": [1, 2, 3]}
    monkeypatch.setattr(Categorical.__init__, "__defaults__", ((1, 1, 1), 3))  # a later release changes a default
    assert zoo.build("testplugin/categorical").event_shape == (1, 1, 1)
    assert zoo.load(folder).event_shape == (1, 2, 3)


def test_the_defaults_recorded_are_the_builders_own_or_else_the_classes():
    from zoo_core.checkpoint import _resolved

    class Plain(torch.nn.Module):
        def __init__(self, size=3, dtype=torch.float32, names=("a", "b"), table={1: 2}, mix=[1, 2]):
            super().__init__()

    class Open(torch.nn.Module):
        def __init__(self, size=3, **rest):
            super().__init__()

    def passes_on(**config):
        return Plain(**config)

    def own_defaults(size=64, *, names=("x",)):
        return Plain(size=size, names=names)

    def positional_only(size=3, /, depth=2):
        return Plain(size=size)

    # JSON defaults only, as copies: no dtype, no int-keyed dict; tuples become lists
    resolved = _resolved(passes_on, Plain(), {"size": 4})
    assert resolved == {"size": 4, "names": ["a", "b"], "mix": [1, 2]}
    assert resolved["mix"] is not Plain.__init__.__defaults__[-1]
    assert _resolved(own_defaults, Plain(), {}) == {"size": 64, "names": ["x"]}  # what the builder used
    assert _resolved(passes_on, Plain(), {"width": 4}) == {"width": 4}  # the class cannot take it: as given
    assert _resolved(passes_on, Open(), {"size": 4}) == {"size": 4}
    assert _resolved(positional_only, Plain(), {}) == {"depth": 2}
