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


class UploadServer:
    """The Hub's upload endpoints on 127.0.0.1, committing into a :class:`LocalHub`'s git repos.

    Just what huggingface_hub's ``create_repo`` and ``upload_folder`` call: ``POST
    /api/repos/create``, ``POST /api/validate-yaml`` (a model card's metadata; all accepted),
    ``POST /api/models/{repo}/preupload/{rev}`` (every file "regular", so its bytes come
    inline) and the NDJSON ``POST /api/models/{repo}/commit/{rev}``; any other request is
    answered 404. ``token`` may write to the ``namespaces``; olah then
    serves what was committed. ``calls`` records (method, path) of every request.
    """

    def __init__(self, hub: LocalHub, *, token: str = "hf_test_token", namespaces=("org", "tester")):
        self.hub, self.token, self.namespaces = hub, token, set(namespaces)
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.calls: list[tuple[str, str]] = []
        self.private: dict[str, bool] = {}
        self.server = None

    def repo_path(self, repo: str) -> Path:
        return self.hub.mirrors / "models" / repo

    def start(self) -> None:
        import http.server
        import threading

        self.hub.mirrors.mkdir(parents=True, exist_ok=True)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def _handler(self):
        import base64
        import http.server
        import threading

        uploads, lock = self, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def answer(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                uploads.calls.append(("GET", self.path))
                self.answer(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})

            def do_POST(self):
                uploads.calls.append(("POST", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Authorization") != f"Bearer {uploads.token}":
                    return self.answer(401, {"error": "Invalid credentials in Authorization header"})
                parts = self.path.split("?")[0].strip("/").split("/")
                with lock:
                    if parts == ["api", "validate-yaml"]:  # upload_folder checks README.md's metadata first
                        return self.answer(200, {"errors": [], "warnings": []})
                    if parts == ["api", "repos", "create"]:
                        return self.create(json.loads(body))
                    if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] in ("preupload", "commit"):
                        repo = f"{parts[2]}/{parts[3]}"
                        if not (uploads.repo_path(repo) / ".git").exists():
                            return self.answer(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                        if parts[2] not in uploads.namespaces:
                            return self.answer(403, {"error": "You don't have write access to this repository"})
                        if parts[5] != "main":
                            return self.answer(404, {"error": "Revision not found"},
                                               {"X-Error-Code": "RevisionNotFound"})
                        return self.preupload(json.loads(body)) if parts[4] == "preupload" else self.commit(repo, body)
                self.answer(404, {"error": "not served here"})

            def create(self, payload):
                repo = f"{payload.get('organization') or 'tester'}/{payload['name']}"
                if repo.split("/")[0] not in uploads.namespaces:
                    return self.answer(403, {"error": f"You don't have the rights to create a model under the "
                                                      f"namespace \"{repo.split('/')[0]}\""})
                path = uploads.repo_path(repo)
                if (path / ".git").exists():
                    return self.answer(409, {"error": "You already created this model repo",
                                             "url": f"{uploads.endpoint}/{repo}"})
                path.mkdir(parents=True)
                subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
                uploads.private[repo] = payload.get("visibility") == "private" or bool(payload.get("private"))
                self.answer(200, {"url": f"{uploads.endpoint}/{repo}", "name": repo})

            def preupload(self, payload):
                files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                         for f in payload["files"]]
                self.answer(200, {"files": files, "commitOid": None})

            def commit(self, repo, body):
                path = uploads.repo_path(repo)
                summary = "commit"
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    key, value = item["key"], item["value"]
                    if key == "header":
                        summary = value["summary"]
                    elif key == "file" and value.get("encoding") == "base64":
                        target = path / value["path"]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(base64.b64decode(value["content"]))
                    elif key == "deletedFile":
                        (path / value["path"]).unlink(missing_ok=True)
                    else:
                        return self.answer(400, {"error": f"this test server does not take '{key}' operations"})
                git = ["git", "-c", "user.name=zoo-tests", "-c", "user.email=tests@zoo.invalid"]
                subprocess.run([*git, "add", "-A"], cwd=path, check=True)
                subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", summary], cwd=path, check=True)
                sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True,
                                     text=True).stdout.strip()
                self.answer(200, {"commitOid": sha, "commitUrl": f"{uploads.endpoint}/{repo}/commit/{sha}",
                                  "success": True, "pullRequestUrl": None})

        return Handler


#: Models that each break one rule of the conformance kit, built on the tests' plugin's Categorical.
FAULTY_MODELS = '''
import torch

from zoo_core.errors import InvalidInput
from zoo_testplugin.models import Categorical, ConditionalCategorical


class Peaked(Categorical):
    """Random logits, so that the distribution is far from uniform."""

    def __init__(self, **config):
        super().__init__(**config)
        with torch.no_grad():
            self.logits.normal_()


class Unnormalised(Peaked):
    def log_prob(self, x):
        return super().log_prob(x) + 0.1  # sums to e^0.1


class SeesTheFuture(Peaked):
    autoregressive = True

    def conditional_log_probs(self, x):  # each sub-pixel's logits move with the next sub-pixel
        b, (c, h, w) = len(x), self.event_shape
        flat = x.permute(0, 2, 3, 1).reshape(b, -1).float()
        following = torch.cat([flat[:, 1:], torch.zeros(b, 1)], 1)
        logits = torch.log_softmax(self.logits, -1).permute(1, 2, 0, 3).reshape(-1, self.num_levels)
        moved = logits + following[..., None] * torch.arange(self.num_levels)
        return torch.log_softmax(moved, -1).reshape(b, h, w, c, -1).permute(0, 3, 1, 2, 4)


class Hot(Peaked):
    def sample(self, n, *, generator=None):  # draws at temperature 1/2, not from log_prob
        probs = torch.softmax(2 * self.logits.detach(), -1).reshape(-1, self.num_levels)
        return torch.multinomial(probs, n, replacement=True, generator=generator).T.reshape(n, *self.event_shape)


class IgnoresGenerator(Peaked):
    def sample(self, n, *, generator=None):
        return super().sample(n)  # the global random state instead


class Lenient(Peaked):
    def log_prob(self, x):  # no input check: floats and out-of-range levels get an answer
        x = torch.as_tensor(x).long().clamp(0, self.num_levels - 1)
        logp = torch.log_softmax(self.logits, -1).expand(len(x), *self.logits.shape)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)


class BatchDependent(Peaked):
    def log_prob(self, x):
        lp = super().log_prob(x)
        return lp + 0.01 * (lp - lp.mean())


class Forgetful(Categorical):
    """Its weights live outside the state_dict, so a checkpoint loses them."""

    def __init__(self, **config):
        super().__init__(**config)
        self.table = torch.randn(self.logits.shape)

    def log_prob(self, x):
        x = x.long()
        logp = torch.log_softmax(self.logits + self.table, -1).expand(len(x), *self.logits.shape)
        return super().log_prob(x) * 0 + logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    def sample(self, n, *, generator=None):
        probs = torch.softmax((self.logits + self.table).detach(), -1).reshape(-1, self.num_levels)
        return torch.multinomial(probs, n, replacement=True, generator=generator).T.reshape(n, *self.event_shape)


class SinglePrecision(Peaked):
    def log_prob(self, x):
        return super().log_prob(x).float()


class Labelled(Peaked):
    num_classes = 2  # a density model that zoo would take for a conditional one


class IgnoresLabel(ConditionalCategorical):
    def __init__(self, **config):
        super().__init__(**config)
        with torch.no_grad():
            self.logits.normal_()

    def sample(self, y, *, generator=None):
        return super().sample(torch.zeros_like(y), generator=generator)  # always class 0


class GreyOnly(Categorical):
    def __init__(self, event_shape=(1, 2, 3), num_levels=3):
        if tuple(event_shape)[0] != 1:
            raise InvalidInput(f"grey-only takes one channel; got event_shape {tuple(event_shape)}")
        super().__init__(event_shape, num_levels)
'''

#: Each faulty architecture ``faulty/<fault>``: its class, its task, the check of the kit that
#: must catch it and a phrase of that check's message.
FAULTS = {
    "unnormalised": ("Unnormalised", "density", "normalised-grey", "sum to 1.105171, not 1"),
    "sees-the-future": ("SeesTheFuture", "density", "causal-grey", "sees the future"),
    "hot": ("Hot", "density", "sampler-grey", "samples disagree with log_prob"),
    "ignores-label": ("IgnoresLabel", "conditional", "sampler-grey", "samples disagree with log_prob"),
    "ignores-generator": ("IgnoresGenerator", "density", "reproducible",
                          "must take all its randomness from `generator`"),
    "lenient": ("Lenient", "density", "invalid-input",
                "log_prob with float images returned without raising InvalidInput"),
    "batch-dependent": ("BatchDependent", "density", "shapes", "images in a batch influence each other"),
    "forgetful": ("Forgetful", "density", "save-load", "the loaded model computes other values"),
    "single-precision": ("SinglePrecision", "density", "dtype-device", "returns torch.float32, expected torch.float64"),
    "labelled": ("Labelled", "density", "protocol", "must not have num_classes"),
}


def make_faulty_plugin(site: Path) -> Path:
    """The plugin ``faulty`` in ``site``: the architectures ``faulty/<fault>`` of FAULTS, and
    ``faulty/grey-only``, a correct model whose builder refuses more than one channel."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "faulty_models.py").write_text(FAULTY_MODELS)
    architectures = {fault: (cls, task) for fault, (cls, task, _, _) in FAULTS.items()}
    architectures["grey-only"] = ("GreyOnly", "density")
    hooks = "from zoo_core.hookspecs import hookimpl\n\n\ndef _builder(cls):\n" \
            "    def build(**config):\n        import faulty_models\n\n" \
            "        return getattr(faulty_models, cls)(**config)\n    return build\n\n\n" \
            "@hookimpl\ndef zoo_register_architectures(register):\n" + "".join(
                f"    register('faulty/{fault}', _builder('{cls}'), task='{task}')\n"
                for fault, (cls, task) in architectures.items())
    return make_plugin(site, "faulty", hooks)
