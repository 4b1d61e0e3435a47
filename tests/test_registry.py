import subprocess
import sys

import pytest

import zoo_core as zoo
from zoo_test_helpers import write_registry
from zoo_core.errors import RegistryError, UnknownModel

GOOD = {"architecture": "testplugin/categorical", "task": "density", "config": {"num_levels": 3}}
SHA = {"config.json": "0" * 64, "model.safetensors": "1" * 64}


def test_plugin_entries_and_private_registries_are_merged(tmp_path, monkeypatch):
    first = write_registry(tmp_path / "a.yaml", {"private-a": GOOD})
    second = write_registry(tmp_path / "b.yaml", {"private-b": {**GOOD, "task": "density", "dataset": "digits"}})
    monkeypatch.setenv("ZOO_REGISTRY", f"{first}:{second}")
    assert {"testplugin-tiny", "private-a", "private-b"} <= set(zoo.list_models())
    assert zoo.info("private-b").dataset == "digits"
    assert zoo.info("private-a").source == str(first)


def test_list_models_filters_by_pattern_task_and_weights(tmp_path, monkeypatch):
    models = {"x-density": GOOD, "x-classifier": {**GOOD, "architecture": "testplugin/linear", "task": "classifier"}}
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", models)))
    assert zoo.list_models("x-*") == ["x-classifier", "x-density"]
    assert zoo.list_models("x-*", task="classifier") == ["x-classifier"]
    assert "testplugin-tiny" in zoo.list_models(pretrained=True)
    assert "x-density" not in zoo.list_models(pretrained=True)
    assert "x-density" in zoo.list_models(pretrained=False)
    with pytest.raises(RegistryError, match="unknown task"):
        zoo.list_models(task="regression")


@pytest.mark.parametrize("entry, field", [
    ({**GOOD, "architecture": "categorical"}, "architecture"),
    ({**GOOD, "task": "generative"}, "task"),
    ({**GOOD, "colour": "red"}, "colour"),
    ({**GOOD, "config": [1, 2]}, "config"),
    ({**GOOD, "metrics": {"test_bits_per_dim": "low"}}, "metrics"),
    ({**GOOD, "weights": {"local": "a", "bundled": "p/a", "sha256": SHA}}, "weights"),
    ({**GOOD, "weights": {"local": "a", "sha256": {"config.json": "0" * 64}}}, "weights.sha256"),
    ({**GOOD, "weights": {"local": "a", "sha256": {**SHA, "config.json": "xyz"}}}, "weights.sha256"),
    ({**GOOD, "weights": {"hub": {"repo": "org/name", "revision": "main"}, "sha256": SHA}}, "weights.hub.revision"),
    ({**GOOD, "weights": {"hub": {"repo": "name", "revision": "0" * 40}, "sha256": SHA}}, "weights.hub.repo"),
    ({**GOOD, "weights": {"bundled": "../escape", "sha256": SHA}}, "weights.bundled"),
])
def test_malformed_entry_names_the_file_the_entry_and_the_field(tmp_path, monkeypatch, entry, field):
    path = write_registry(tmp_path / "bad.yaml", {"broken-entry": entry})
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    with pytest.raises(RegistryError) as caught:
        zoo.list_models()
    message = str(caught.value)
    assert str(path) in message and "'broken-entry'" in message and f"field '{field}'" in message


def test_a_bad_model_name_and_bad_yaml_are_registry_errors(tmp_path, monkeypatch):
    path = write_registry(tmp_path / "names.yaml", {"Has Spaces": GOOD})
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    with pytest.raises(RegistryError, match="model name"):
        zoo.list_models()
    path.write_text("models: [unclosed")
    with pytest.raises(RegistryError, match="not valid YAML"):
        zoo.list_models()
    path.write_text("entries: {}")
    with pytest.raises(RegistryError, match="one key 'models'"):
        zoo.list_models()


def test_a_missing_registry_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "absent.yaml"))
    with pytest.raises(RegistryError, match="absent.yaml"):
        zoo.list_models()


def test_one_name_defined_twice_names_both_places(tmp_path, monkeypatch):
    path = write_registry(tmp_path / "dup.yaml", {"testplugin-tiny": GOOD})
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    with pytest.raises(RegistryError) as caught:
        zoo.list_models()
    assert "plugin 'testplugin'" in str(caught.value) and str(path) in str(caught.value)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModel, match="did you mean testplugin-tiny"):
        zoo.info("testplugin")
    with pytest.raises(LookupError, match="zoo list"):
        zoo.info("nothing-like-it")


def test_local_weights_are_relative_to_their_registry_file(tmp_path, monkeypatch):
    entry = {**GOOD, "weights": {"local": "ckpt/tiny", "sha256": SHA}}
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", {"rel": entry})))
    assert zoo.info("rel").weights.local == tmp_path / "ckpt" / "tiny"


def test_listing_and_info_import_neither_torch_nor_model_code():
    code = ("import sys, zoo_core as zoo; zoo.list_models(); zoo.info('testplugin-tiny'); zoo.architectures(); "
            "zoo.list_plugins(); bad = [m for m in sys.modules if m == 'torch' or m == 'zoo_testplugin.models']; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_architectures_lists_what_plugins_register():
    assert "testplugin/categorical" in zoo.architectures()
    assert zoo.architectures("testplugin/*", task="classifier") == ["testplugin/linear"]
