"""Weights: resolve a checkpoint folder, download it through huggingface_hub, verify it, publish it.

Hub access honours ``HF_ENDPOINT``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``, read when a
download is asked for. A pinned commit that is cached costs no network. When the Hub cannot
be reached the error comes after one quick request, not after huggingface_hub's retries.
:func:`publish` uploads a checkpoint folder (``HF_TOKEN`` or ``hf auth login``) and gives the
registry entry that pins what it uploaded.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_core.errors import IntegrityError, WeightsUnavailable, ZooError

__all__ = ["CHECKPOINT_FILES", "download", "verify", "sha256_of", "parse_hf_ref", "HF_PREFIX", "publish",
           "Publication"]

HF_PREFIX = "hf:"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "README.md")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def parse_hf_ref(ref: str) -> tuple[str, str | None]:
    """``"hf:org/repo@rev"`` -> ``("org/repo", "rev")``; the revision is None when absent."""
    body = ref[len(HF_PREFIX):]
    repo, _, revision = body.partition("@")
    if not _REPO.match(repo) or (_ and not revision):
        raise WeightsUnavailable(f"'{ref}' is not a Hub reference: write hf:org/name or hf:org/name@revision")
    return repo, revision or None


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify(folder: Path, sha256: dict[str, str]) -> None:
    """Check each listed file of ``folder`` against its sha256 before anything reads it.

    Raises:
        IntegrityError: a listed file is missing or its bytes differ, naming the file.
    """
    for name, expected in sorted(sha256.items()):
        path = Path(folder) / name
        if not path.is_file():
            raise IntegrityError(f"{path}: missing, but the registry pins its sha256; the checkpoint is incomplete")
        actual = sha256_of(path)
        if actual != expected:
            raise IntegrityError(
                f"{path}: sha256 is {actual}, the registry pins {expected}; the file is corrupt or was "
                f"replaced, so it was not loaded (delete it to download it again)")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download(repo: str, revision: str | None = None, *, files: tuple[str, ...] = CHECKPOINT_FILES) -> Path:
    """The local folder of ``repo`` at ``revision`` holding ``files``, from the cache or the Hub.

    A cached commit sha (or any cached revision while offline) is used without network.
    Files absent from the repo are skipped; the caller checks what it needs.

    Raises:
        WeightsUnavailable: not cached while offline, Hub unreachable, repo or revision missing.
    """
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    endpoint = os.environ.get("HF_ENDPOINT") or None
    cache_dir = os.environ.get("HF_HUB_CACHE") or None
    shown = f"'{repo}'" + (f" at revision '{revision}'" if revision else "")
    common = dict(repo_id=repo, revision=revision, cache_dir=cache_dir, allow_patterns=list(files))
    pinned = revision is not None and _SHA1.match(revision) is not None
    if pinned or _offline():
        cached = _cached(common)
        if cached is not None:
            return cached
        if _offline():
            raise WeightsUnavailable(
                f"{shown} is not in the Hugging Face cache ({cache_dir or 'the default cache'}) and "
                f"HF_HUB_OFFLINE is set: download it once with network (`zoo download`), or unset "
                f"HF_HUB_OFFLINE")
    where = endpoint or "the Hugging Face Hub"
    try:
        # One plain request first: it fails fast where a download would retry for ~20 s.
        huggingface_hub.HfApi(endpoint=endpoint).model_info(repo, revision=revision, timeout=10)
        return Path(huggingface_hub.snapshot_download(**common, endpoint=endpoint))
    except hf_errors.RevisionNotFoundError:
        raise WeightsUnavailable(f"{shown}: no such revision on {where}; check the branch, tag or commit") from None
    except hf_errors.RepositoryNotFoundError:
        raise WeightsUnavailable(
            f"{shown}: no such repository{' or revision' if revision else ''} on {where} (if it is private or "
            f"gated, log in with `hf auth login` or set HF_TOKEN)") from None
    except hf_errors.HfHubHTTPError as error:
        first_line = str(error).splitlines()[0]
        raise WeightsUnavailable(f"{shown}: {where} refused the download: {first_line}") from None
    except Exception as error:
        if not _is_connection_error(error):
            raise
        cached = _cached(common)  # a branch or tag seen before still loads when the Hub is down
        if cached is not None:
            return cached
        raise WeightsUnavailable(
            f"cannot reach {where} for {shown} ({type(error).__name__}) and it is not cached: check the "
            f"network or HF_ENDPOINT, or load on a machine that has it cached with HF_HUB_OFFLINE=1") from None


def _cached(common: dict) -> Path | None:
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    try:
        return Path(huggingface_hub.snapshot_download(**common, local_files_only=True))
    except (hf_errors.LocalEntryNotFoundError, FileNotFoundError):
        return None


def _is_connection_error(error: BaseException) -> bool:
    import httpx2  # huggingface_hub's HTTP client

    seen = error
    while seen is not None:
        if isinstance(seen, (httpx2.TransportError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# --------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------

#: The files a registry entry pins: those that loading reads.
PINNED_FILES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class Publication:
    """What :func:`publish` uploaded: the repo, the commit, and the registry entry that pins it."""

    repo: str
    revision: str  # the 40-hex commit sha of the upload
    commit_url: str
    name: str  # the registry name proposed for it
    entry: dict[str, Any] = field(default_factory=dict)  # registry.yaml's form

    def snippet(self) -> str:
        """The entry as registry.yaml text (``models:`` and this one entry)."""
        import yaml

        class Dumper(yaml.SafeDumper):  # lists on one line ([1, 28, 28]), mappings as blocks
            pass

        Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
            "tag:yaml.org,2002:seq", data, flow_style=True))
        return yaml.dump({"models": {self.name: self.entry}}, Dumper=Dumper, sort_keys=False, width=1000)


def publish(folder, repo: str, *, private: bool = False, message: str | None = None) -> Publication:
    """Upload the checkpoint ``folder`` to the Hub repo ``repo`` after it passes the conformance kit.

    In order: the token is looked up (``HF_TOKEN``, then ``hf auth login``'s), the folder is
    loaded (it must be a whole checkpoint), the kit (:func:`zoo_core.testing.check_architecture`)
    runs on its architecture, the model card ``README.md`` in ``folder`` is refreshed (zoo's
    metadata, and a usage line that loads ``hf:repo``), then ``create_repo`` (an existing repo
    of yours gets a new commit) and ``upload_folder`` send config.json, model.safetensors and
    README.md in one commit. ``HF_ENDPOINT`` is honoured.

    Returns:
        The :class:`Publication`, whose ``entry`` pins the commit and the sha256 of the files.

    Raises:
        ZooError: one line for a bad ``repo``, no token, a folder that is no checkpoint, a kit
            failure, an unreachable Hub, a name taken by someone else or a refused token.
    """
    import huggingface_hub

    from zoo_core import checkpoint, registry

    if not isinstance(repo, str) or not _REPO.match(repo):
        raise ZooError(f"--repo {repo!r}: expected org/name (letters, digits, '.', '_', '-')")
    token = huggingface_hub.get_token()
    if not token:
        raise ZooError("no Hugging Face token: log in with `hf auth login` or set HF_TOKEN to a token with write "
                       "access, then publish again")
    folder = Path(folder)
    model = checkpoint.load_folder(folder)  # a whole, loadable checkpoint, or a clear error
    config = checkpoint._config_of(model)  # architecture, config, task, shapes, as zoo.save writes them
    _check_kit(config["architecture"], folder)
    card_path = folder / "README.md"
    old_card = card_path.read_text(encoding="utf-8") if card_path.is_file() else ""
    card = _refreshed_card(old_card, config, repo)
    if card != old_card:
        checkpoint.atomic_write(card_path, lambda tmp: Path(tmp).write_text(card, encoding="utf-8"))

    endpoint = os.environ.get("HF_ENDPOINT") or None
    where = endpoint or "the Hugging Face Hub"
    api = huggingface_hub.HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo, folder_path=folder, allow_patterns=list(CHECKPOINT_FILES),
                                   commit_message=message or f"Publish {config['architecture']} with zoo")
    except ZooError:
        raise
    except Exception as error:
        raise _publish_error(error, repo, where) from error

    name = _entry_name(repo)
    entry = _entry(config, card, repo, commit.oid, {f: sha256_of(folder / f) for f in PINNED_FILES})
    registry.parse_entry(name, entry, "zoo publish")  # the snippet must be a valid entry
    return Publication(repo=repo, revision=commit.oid, commit_url=commit.commit_url, name=name, entry=entry)


def _check_kit(architecture: str, folder: Path) -> None:
    from zoo_core import testing

    try:
        testing.check_architecture(architecture)
    except AssertionError as error:
        raise ZooError(f"not publishing {folder}: its architecture fails the conformance kit: {error} "
                       f"(`zoo check {architecture}` runs every check)") from None


def _publish_error(error: Exception, repo: str, where: str) -> ZooError:
    """One line for what went wrong while creating the repo or uploading to it."""
    from huggingface_hub import errors as hf_errors

    if _is_connection_error(error):
        return ZooError(f"cannot reach {where} to publish '{repo}' ({type(error).__name__}): check the network "
                        f"or HF_ENDPOINT")
    if not isinstance(error, hf_errors.HfHubHTTPError):
        return ZooError(f"publishing '{repo}' to {where} failed: {type(error).__name__}: {_first_line(error)}")
    status = error.response.status_code if error.response is not None else None
    server = _server_message(error)
    if status == 401 and not isinstance(error, hf_errors.RepositoryNotFoundError):
        return ZooError(f"{where} did not accept the token (401{server}): log in again with `hf auth login` or "
                        f"set HF_TOKEN to a valid token with write access")
    if status in (401, 403, 404):  # cannot create in that namespace, nor write to the repo there
        return ZooError(f"'{repo}' is taken or not yours: {where} refused to create or write it ({status}{server}); "
                        f"choose another --repo, or use a token with write access to '{repo.split('/')[0]}'")
    return ZooError(f"{where} refused to publish '{repo}' ({status}{server})")


def _server_message(error) -> str:
    try:
        text = error.response.json().get("error")
    except Exception:
        text = None
    text = text or (error.response.headers.get("X-Error-Message") if error.response is not None else None)
    return f": {' '.join(str(text).split())}" if text else ""


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _entry_name(repo: str) -> str:
    """A registry name for ``org/name``: its name part, lower case, other characters as '-'."""
    name = re.sub(r"[^a-z0-9._-]+", "-", repo.split("/", 1)[1].lower()).strip("-._")
    return name or "model"


def _front_matter(text: str) -> tuple[dict, str]:
    import yaml

    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    if match is None:
        return {}, text
    try:
        header = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        return {}, text
    return (header if isinstance(header, dict) else {}), text[match.end():]


_USAGE = re.compile(r'^model = zoo\.load\(".*"\)$', re.M)


def _refreshed_card(text: str, config: dict, repo: str) -> str:
    """The model card to publish: ``text`` with zoo's metadata and a usage line loading ``hf:repo``.

    Everything else in the card stays. A folder without a card (or with a card that is not
    Hugging Face's form) gets a fresh one from :func:`zoo_core.checkpoint.model_card`.
    """
    import yaml

    from zoo_core.checkpoint import model_card

    header, body = _front_matter(text)
    if not header:
        header, body = _front_matter(model_card(config, name=_entry_name(repo)))
    tags = [tag for tag in header.get("tags") or [] if isinstance(tag, str)]
    header["library_name"] = "zoo"
    header["tags"] = list(dict.fromkeys(["zoo", config["architecture"], config["task"], *tags]))
    order = ["library_name", "license", "tags", "datasets", "model-index"]
    header = {key: header[key] for key in order if key in header} | \
        {key: value for key, value in header.items() if key not in order}
    usage = f'model = zoo.load("{HF_PREFIX}{repo}")'
    if _USAGE.search(body):
        body = _USAGE.sub(lambda _: usage, body, count=1)
    else:
        body = body.rstrip("\n") + f"\n\n```python\nimport zoo_core as zoo\n{usage}\n```\n"
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip() + "\n---\n" + body


def _entry(config: dict, card: str, repo: str, revision: str, sha256: dict[str, str]) -> dict[str, Any]:
    """The registry entry, in registry.yaml's form, of the published checkpoint."""
    header, body = _front_matter(card)
    datasets = header.get("datasets") or []
    metrics: dict[str, float] = {}
    for model in header.get("model-index") or []:
        for result in (model or {}).get("results") or []:
            for metric in (result or {}).get("metrics") or []:
                value = metric.get("value") if isinstance(metric, dict) else None
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metrics[str(metric.get("type"))] = float(value)
    paper = re.search(r"^Paper: (.+)$", body, re.M)
    entry: dict[str, Any] = {
        "architecture": config["architecture"],
        "task": config["task"],
        "dataset": datasets[0] if datasets and isinstance(datasets[0], str) else None,
        "config": config.get("config", {}),
        "weights": {"hub": {"repo": repo, "revision": revision}, "sha256": sha256},
        "metrics": metrics or None,
        "paper": paper.group(1).strip() if paper else None,
        "license": header.get("license") if isinstance(header.get("license"), str) else None,
    }
    return {key: value for key, value in entry.items() if value is not None}
