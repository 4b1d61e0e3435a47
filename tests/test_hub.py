"""The Hub path against a real server: olah serving local git repos on 127.0.0.1."""

import pytest
import torch

import zoo_core as zoo
from zoo_test_helpers import run_zoo, sha256, write_registry
from zoo_core.errors import IntegrityError, WeightsUnavailable

X = torch.tensor([[[[0, 1, 2], [2, 1, 0]]]])


def hub_entry(repo, sha, folder):
    return {"architecture": "testplugin/categorical", "task": "density",
            "config": {"event_shape": [1, 2, 3], "num_levels": 3},
            "weights": {"hub": {"repo": repo, "revision": sha},
                        "sha256": {f: sha256(folder / f) for f in ("config.json", "model.safetensors")}}}


def test_load_by_sha_and_tag_then_again_offline_from_the_cache(hub, tiny_checkpoint, monkeypatch):
    sha = hub.add_repo("org/tiny", tiny_checkpoint, tag="v1")
    expected = zoo.load(tiny_checkpoint).log_prob(X)
    assert torch.equal(zoo.load(f"hf:org/tiny@{sha}").log_prob(X), expected)
    assert torch.equal(zoo.load("hf:org/tiny@v1").log_prob(X), expected)
    assert torch.equal(zoo.load("hf:org/tiny", revision="v1").log_prob(X), expected)
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert torch.equal(zoo.load(f"hf:org/tiny@{sha}").log_prob(X), expected)
    assert torch.equal(zoo.load("hf:org/tiny@v1").log_prob(X), expected)
    with pytest.raises(WeightsUnavailable, match="not in the Hugging Face cache .* HF_HUB_OFFLINE"):
        zoo.load("hf:org/missing@v1")


def test_a_pinned_commit_in_the_cache_needs_no_network_even_online(hub, tiny_checkpoint):
    sha = hub.add_repo("org/tiny", tiny_checkpoint)
    zoo.load(f"hf:org/tiny@{sha}")
    hub.stop()  # HF_HUB_OFFLINE is not set: the cached commit must not be asked for
    assert zoo.load(f"hf:org/tiny@{sha}").log_prob(X).shape == (1,)


def test_an_unreachable_hub_is_a_clear_error(hub, monkeypatch):
    hub.stop()
    with pytest.raises(WeightsUnavailable, match=f"cannot reach {hub.endpoint}.*not cached"):
        zoo.load("hf:org/never-seen@main")


def test_missing_repo_and_revision_are_clear_errors(hub, tiny_checkpoint):
    hub.add_repo("org/tiny", tiny_checkpoint)
    with pytest.raises(WeightsUnavailable, match="'org/absent': no such repository"):
        zoo.load("hf:org/absent")
    with pytest.raises(WeightsUnavailable, match="revision 'no-such-branch'"):
        zoo.load("hf:org/tiny@no-such-branch")


def test_a_registry_entry_loads_from_the_hub_at_its_pinned_commit(hub, tiny_checkpoint, tmp_path, monkeypatch):
    sha = hub.add_repo("org/tiny", tiny_checkpoint)
    registry_file = write_registry(tmp_path / "r.yaml", {"tiny-hub": hub_entry("org/tiny", sha, tiny_checkpoint)})
    monkeypatch.setenv("ZOO_REGISTRY", str(registry_file))
    assert torch.equal(zoo.load("tiny-hub").log_prob(X), zoo.load(tiny_checkpoint).log_prob(X))
    # the CLI fetches into the same cache; then the entry loads with the server gone
    downloaded = run_zoo("download", "tiny-hub", check=True).stdout.strip()
    assert downloaded.endswith(sha)
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert zoo.load("tiny-hub").log_prob(X).shape == (1,)


def test_served_bytes_that_differ_from_the_pinned_sha256_are_refused(hub, tiny_checkpoint, tmp_path, monkeypatch):
    entry = hub_entry("org/tampered", "0" * 40, tiny_checkpoint)  # pins the genuine bytes' sha256
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for f in tiny_checkpoint.iterdir():
        (tampered / f.name).write_bytes(f.read_bytes())
    other = zoo.save(zoo.build("testplugin/categorical", event_shape=[1, 2, 3], num_levels=3), tmp_path / "other")
    (tampered / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    sha = hub.add_repo("org/tampered", tampered)
    entry["weights"]["hub"]["revision"] = sha
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", {"tampered": entry})))
    with pytest.raises(IntegrityError, match="model.safetensors: sha256 is .* the registry pins"):
        zoo.load("tampered")
    result = run_zoo("download", "tampered")
    assert result.returncode == 1 and "sha256" in result.stderr and "Traceback" not in result.stderr
