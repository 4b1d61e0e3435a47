"""Helpers for the core tests: the CLI in a subprocess, fake plugins on disk, registry files, a local Hub."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest


ZOO = [sys.executable, "-m", "zoo_core"]


def run_zoo(*args, env=None, check=False):
    """Run the CLI in a fresh process (so plugin discovery starts from scratch)."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([*ZOO, *args], capture_output=True, text=True, env=full_env, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def make_plugin(site: Path, name: str, source: str, *, dist: str | None = None) -> Path:
    """An installed plugin in ``site``: a module plus a dist-info with a ``zoo`` entry point.

    importlib.metadata discovers it exactly as it discovers a pip-installed package once
    ``site`` is on sys.path (PYTHONPATH for a subprocess).
    """
    dist = dist or f"zoo-{name}"
    module = f"fake_{name.replace('-', '_')}"
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{name} = {module}\n")
    return site


def write_registry(path: Path, models: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalHub:
    """olah serving local git repos as a Hugging Face Hub on 127.0.0.1, offline mode."""

    def __init__(self, root: Path):
        self.root = root
        self.mirrors = root / "mirrors"
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = None

    def add_repo(self, repo: str, folder: Path, tag: str | None = None) -> str:
        """Commit ``folder``'s files as the repo ``org/name``; returns the commit sha."""
        path = self.mirrors / "models" / repo
        if not (path / ".git").exists():
            path.mkdir(parents=True)
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
        for file in Path(folder).iterdir():
            shutil.copy(file, path / file.name)
        git = ["git", "-c", "user.name=zoo-tests", "-c", "user.email=tests@zoo.invalid"]
        subprocess.run([*git, "add", "-A"], cwd=path, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "checkpoint"], cwd=path, check=True)
        if tag:
            subprocess.run([*git, "tag", tag], cwd=path, check=True)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True,
                              text=True).stdout.strip()

    def start(self) -> None:
        config = self.root / "olah.toml"
        (self.root / "repos").mkdir(exist_ok=True)
        self.mirrors.mkdir(exist_ok=True)
        config.write_text(textwrap.dedent(f"""\
            [basic]
            host = "127.0.0.1"
            port = {self.port}
            mirror-netloc = "127.0.0.1:{self.port}"
            mirror-lfs-netloc = "127.0.0.1:{self.port}"
            repos-path = "{self.root / 'repos'}"
            mirrors-path = ["{self.mirrors}"]

            [accessibility]
            offline = true
            """))
        olah = shutil.which("olah-cli", path=str(Path(sys.executable).parent)) or shutil.which("olah-cli")
        if olah is None:
            pytest.fail("olah-cli is not installed: pip install 'zoo-core[test]'")
        self.log = open(self.root / "olah.log", "w")
        self.process = subprocess.Popen([olah, "-c", str(config)], cwd=self.root, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/api/models/none/none/revision/main", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # it answers: up
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"olah did not start on {self.endpoint}: {(self.root / 'olah.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
            self.log.close()
