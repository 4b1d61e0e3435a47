"""zoo publish: the kit, the model card, the upload through huggingface_hub, and the entry that pins it.

The upload endpoints are a small server on 127.0.0.1 (zoo_test_helpers.UploadServer) that
commits into git repos which olah then serves as a Hub: what is published is downloaded back
and compared byte for byte.
"""

import json
import re
import subprocess
import time

import pytest
import torch
import yaml

import zoo_core as zoo
from zoo_core import hub, registry
from zoo_core.errors import WeightsUnavailable, ZooError
from zoo_core.testing import all_images
from zoo_test_helpers import LocalHub, UploadServer, _free_port, make_faulty_plugin, run_zoo, write_registry

X = all_images((1, 2, 3), 3)


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """The upload server, with HF_ENDPOINT and a valid HF_TOKEN pointing at it; olah not started."""
    local = LocalHub(tmp_path / "hub")
    local.root.mkdir()
    server = UploadServer(local)
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_TOKEN", server.token)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token, no cache in $HOME
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


@pytest.fixture
def olah(uploads):
    """olah serving the repos the upload server commits to."""
    uploads.hub.start()
    yield uploads.hub
    uploads.hub.stop()


def git_subject(server: UploadServer, repo: str, revision: str = "HEAD") -> str:
    return subprocess.run(["git", "log", "-1", "--format=%s", revision], cwd=server.repo_path(repo), check=True,
                          capture_output=True, text=True).stdout.strip()


def scores(model):
    with torch.no_grad():
        return model.log_prob(X)


def test_published_files_come_back_byte_for_byte_and_load_by_commit(uploads, olah, tiny_checkpoint, tmp_path,
                                                                      monkeypatch):
    first = hub.publish(tiny_checkpoint, "org/tiny", message="first upload")
    assert re.fullmatch(r"[0-9a-f]{40}", first.revision) and git_subject(uploads, "org/tiny") == "first upload"
    assert [call for call in uploads.calls if call[0] == "POST"] == [
        ("POST", "/api/repos/create"), ("POST", "/api/validate-yaml"),
        ("POST", "/api/models/org/tiny/preupload/main"), ("POST", "/api/models/org/tiny/commit/main")]
    card = (tiny_checkpoint / "README.md").read_text()
    assert 'model = zoo.load("hf:org/tiny")' in card and "license: MIT" in card and "- testplugin/categorical" in card
    expected = {name: (tiny_checkpoint / name).read_bytes() for name in hub.CHECKPOINT_FILES}
    original = scores(zoo.load(tiny_checkpoint))

    # a second version: a new commit in the same repo, the first still loadable by its sha
    changed = zoo.load(tiny_checkpoint)
    with torch.no_grad():
        changed.logits.add_(1.0 * torch.arange(3))
    zoo.save(changed, tiny_checkpoint, name="tiny", dataset="none", license="MIT")
    second = hub.publish(tiny_checkpoint, "org/tiny")
    assert second.revision != first.revision
    assert git_subject(uploads, "org/tiny") == "Publish testplugin/categorical with zoo"

    monkeypatch.setenv("HF_ENDPOINT", olah.endpoint)
    folder = hub.download("org/tiny", first.revision)
    assert {name: (folder / name).read_bytes() for name in hub.CHECKPOINT_FILES} == expected
    assert torch.equal(scores(zoo.load(f"hf:org/tiny@{first.revision}")), original)
    assert torch.equal(scores(zoo.load(f"hf:org/tiny@{second.revision}")), scores(changed))

    # the printed entry is a registry entry that loads exactly the published bytes
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml",
                                                          yaml.safe_load(first.snippet())["models"])))
    registry.reload()
    assert zoo.info("tiny").weights.hub_revision == first.revision
    assert torch.equal(scores(zoo.load("tiny")), original)


def test_zoo_publish_prints_the_commit_and_the_entry_that_pins_it(uploads, tiny_checkpoint):
    result = run_zoo("publish", str(tiny_checkpoint), "--repo", "org/Tiny_Model", "--private", "-m", "from the CLI")
    assert result.returncode == 0, result.stderr
    first, _, rest = result.stdout.partition("\n")
    sha = re.fullmatch(r"published org/Tiny_Model at commit ([0-9a-f]{40})", first).group(1)
    assert f'zoo.load("hf:org/Tiny_Model@{sha}")' in rest
    models = yaml.safe_load(rest.split("\n\n", 1)[1])["models"]
    assert list(models) == ["tiny_model"]
    entry = registry.parse_entry("tiny_model", models["tiny_model"], "printed")
    assert (entry.weights.hub_repo, entry.weights.hub_revision) == ("org/Tiny_Model", sha)
    assert entry.weights.sha256 == {name: hub.sha256_of(tiny_checkpoint / name) for name in hub.PINNED_FILES}
    assert (entry.architecture, entry.dataset, entry.license) == ("testplugin/categorical", "none", "MIT")
    assert uploads.private["org/Tiny_Model"] is True and git_subject(uploads, "org/Tiny_Model") == "from the CLI"


def test_without_a_token_nothing_is_sent_and_the_error_is_one_line(uploads, tiny_checkpoint, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    result = run_zoo("publish", str(tiny_checkpoint), "--repo", "org/tiny")
    assert result.returncode == 1 and uploads.calls == []
    assert result.stderr.strip() == ("Error: no Hugging Face token: log in with `hf auth login` or set HF_TOKEN to a "
                                     "token with write access, then publish again")


def test_an_unreachable_hub_is_a_clear_error_without_retries(uploads, tiny_checkpoint, monkeypatch):
    endpoint = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    start = time.monotonic()
    with pytest.raises(ZooError, match=f"cannot reach {endpoint} to publish 'org/tiny' .*check the network"):
        hub.publish(tiny_checkpoint, "org/tiny")
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("repo, token, message", [
    ("someone/taken", None, r"'someone/taken' is taken or not yours: .* refused to create or write it \(403: You "
                            r"don't have the rights .*choose another --repo"),
    ("org/tiny", "hf_wrong", r"did not accept the token \(401: Invalid credentials.*hf auth login"),
    ("no-slash", None, r"--repo 'no-slash': expected org/name"),
])
def test_refusals_are_one_clear_error(uploads, tiny_checkpoint, monkeypatch, repo, token, message):
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    with pytest.raises(ZooError, match=message) as caught:
        hub.publish(tiny_checkpoint, repo)
    assert "\n" not in str(caught.value)
    assert not [call for call in uploads.calls if "/commit/" in call[1]]


def test_a_folder_that_is_not_a_checkpoint_is_not_published(uploads, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsUnavailable, match="is not a zoo checkpoint: it has no config.json"):
        hub.publish(tmp_path / "empty", "org/empty")
    assert uploads.calls == []


def test_a_checkpoint_whose_architecture_fails_the_kit_is_not_published(uploads, tiny_checkpoint, site):
    make_faulty_plugin(site)
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    config["architecture"] = "faulty/unnormalised"  # the same weights (logits) under a non-normalised model
    (tiny_checkpoint / "config.json").write_text(json.dumps(config))
    card = (tiny_checkpoint / "README.md").read_text()
    result = run_zoo("publish", str(tiny_checkpoint), "--repo", "org/unnormalised", env={"PYTHONPATH": str(site)})
    assert result.returncode == 1 and uploads.calls == []
    assert result.stderr.startswith(f"Error: not publishing {tiny_checkpoint}: its architecture fails the conformance "
                                    f"kit: faulty/unnormalised: normalised-grey: probabilities over all 729 images")
    assert "`zoo check faulty/unnormalised` runs every check" in result.stderr
    assert (tiny_checkpoint / "README.md").read_text() == card  # nothing touched
