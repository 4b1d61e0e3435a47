"""zoo-core as users get it: a wheel installed into a fresh virtual environment."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_carries_registry_yaml_and_lists_it(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("zoo_core-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # the dependencies come from this environment; zoo_core itself only from the wheel
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": "/usr/bin:/bin", "ZOO_PLUGINS": ""}
    where = subprocess.run([str(python), "-c", "import zoo_core, importlib.resources as r; "
                            "print(zoo_core.__file__); print(r.files('zoo_core').joinpath('registry.yaml').is_file())"],
                           capture_output=True, text=True, env=env, check=True, cwd=tmp_path).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "True"
    listed = subprocess.run([str(venv / "bin" / "zoo"), "list", "--json"], capture_output=True, text=True,
                            env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    expected = sorted((yaml.safe_load((ROOT / "registry.yaml").read_text())["models"] or {}).keys())
    assert [e["name"] for e in json.loads(listed.stdout)] == expected
