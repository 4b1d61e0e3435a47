"""Weights: resolve a checkpoint folder, download it through huggingface_hub, verify it.

Hub access honours ``HF_ENDPOINT``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``, read when a
download is asked for. A pinned commit that is cached costs no network. When the Hub cannot
be reached the error comes after one quick request, not after huggingface_hub's retries.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from zoo_core.errors import IntegrityError, WeightsUnavailable

__all__ = ["CHECKPOINT_FILES", "download", "verify", "sha256_of", "parse_hf_ref", "HF_PREFIX"]

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
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
