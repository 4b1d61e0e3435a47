"""zoo new-plugin: the package it writes installs with pip, registers, loads, trains and passes the kit."""

import json
import os
import subprocess
import sys

import pytest

from zoo_core.errors import ZooError
from zoo_core.scaffold import files_for, new_plugin
from zoo_test_helpers import run_zoo


def test_a_scaffolded_plugin_installs_appears_loads_and_passes_the_kit(tmp_path):
    result = run_zoo("new-plugin", "acme", "--dir", str(tmp_path))
    assert result.returncode == 0 and f"wrote {tmp_path / 'zoo-acme'}" in result.stdout
    package, site = tmp_path / "zoo-acme", tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                          "--no-build-isolation", "--target", str(site), str(package)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(site)}

    plugins = {p["name"]: p for p in json.loads(run_zoo("plugins", "--json", env=env, check=True).stdout)}
    assert plugins["acme"]["package"] == "zoo-acme" and plugins["acme"]["error"] is None
    assert set(plugins["acme"]["hooks"]) == {"zoo_register_architectures", "zoo_register_models"}
    listed = run_zoo("list", "acme-*", env=env, check=True).stdout
    assert "acme-digits  density  acme/categorical  digits  -" in listed

    checked = run_zoo("check", "acme/categorical", env=env)
    assert checked.returncode == 0 and checked.stdout.strip().endswith("all 10 checks passed"), checked.stdout

    trained = tmp_path / "acme-digits"
    run_zoo("train", "acme/categorical", "--data", "digits", "--out", str(trained), "--quiet", env=env, check=True)
    code = ("import sys, torch, zoo_core as zoo\n"
            f"model = zoo.load({str(trained)!r})\n"
            "untrained = zoo.load('acme-digits', pretrained=False)\n"
            "x = model.sample(4, generator=torch.Generator().manual_seed(0))\n"
            "better = bool((model.log_prob(x) > untrained.log_prob(x)).all())\n"
            "print(model.log_prob(x).shape, untrained.event_shape, better)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **env})
    assert loaded.stdout.strip() == "torch.Size([4]) (1, 8, 8) True", loaded.stderr

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package,
                           capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert tests.returncode == 0 and "13 passed, 2 skipped" in tests.stdout, tests.stdout


def test_the_scaffolded_hooks_import_no_torch(tmp_path):
    new_plugin("acme", tmp_path)
    code = "import sys, zoo_acme.hooks; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "zoo-acme" / "src")})
    assert result.stdout.strip() == "False", result.stderr


def test_every_generated_python_file_compiles_and_names_the_plugin():
    files = files_for("my-models")
    assert set(files) == {"pyproject.toml", ".gitignore", "README.md", "src/zoo_my_models/__init__.py",
                          "src/zoo_my_models/hooks.py", "src/zoo_my_models/model.py",
                          "tests/test_zoo_my_models_conformance.py", "tests/test_zoo_my_models_model.py"}
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
        assert "$" not in text.replace("$ ", ""), path
    assert 'my-models = "zoo_my_models.hooks"' in files["pyproject.toml"]
    assert 'register("my-models/categorical", _categorical, task="density")' in files["src/zoo_my_models/hooks.py"]


@pytest.mark.parametrize("name, message", [
    ("Acme", "use lower-case letters"),
    ("zoo-acme", "leave out the zoo- prefix"),
    ("pixelcnn", "taken by a first-party plugin"),
])
def test_names_that_cannot_be_a_plugins_are_refused(tmp_path, name, message):
    with pytest.raises(ZooError, match=message):
        new_plugin(name, tmp_path)
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "zoo-acme").mkdir()
    (tmp_path / "zoo-acme" / "mine.txt").write_text("keep me")
    result = run_zoo("new-plugin", "acme", "--dir", str(tmp_path))
    assert result.returncode == 1 and "exists and is not empty" in result.stderr
    assert (tmp_path / "zoo-acme" / "mine.txt").read_text() == "keep me"
