"""Data sets as uint8 image tensors: Fashion-MNIST, scikit-learn's 8x8 digits and CIFAR-10.

``load_dataset(name, split)`` returns a :class:`Dataset` whose ``images`` are uint8
(N, C, H, W) with values in [0, num_levels) and whose ``labels`` are long (N,) in
[0, len(class_names)). Every file is checked before its bytes are used: a file whose
structure disagrees with its own header, or whose checksum differs from the official
one, raises :class:`~zoo_core.errors.IntegrityError` naming it.

Where each data set comes from (the first place that has it wins):

- ``fashion-mnist``: the four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or ``.gz``) in ``root`` or
  ``root/fashion-mnist`` when ``root`` is given (and nowhere else); otherwise in
  ``$ZOO_DATA_DIR`` or ``$ZOO_DATA_DIR/fashion-mnist``, then Debian's package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), then the download folder;
  otherwise they are downloaded from Zalando's official address and checked.
- ``digits``: scikit-learn's ``load_digits`` (an optional dependency), split by a fixed seed.
- ``cifar10``: ``cifar-10-binary.tar.gz`` (the binary version; the pickle "python version" is
  refused) at ``root`` (the tarball itself or a folder holding it, or its ``cifar10``
  subfolder), otherwise in ``$ZOO_DATA_DIR`` (or its ``cifar10`` subfolder) or the download
  folder; otherwise downloaded from the authors' page and checked. Its members are read
  straight from the tarball; nothing is extracted to disk.

Downloads go to ``<root or $ZOO_DATA_DIR>/<name>``, or without either to
``$XDG_CACHE_HOME/zoo/datasets/<name>`` (``~/.cache/zoo/datasets/<name>``). Decoded data sets
are kept in memory for the rest of the process, keyed by the files they came from.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import sys
import tarfile
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from zoo_core.errors import IntegrityError, InvalidInput, ZooError

__all__ = ["Dataset", "DATASETS", "SPLITS", "load_dataset"]

DATASETS = ("fashion-mnist", "digits", "cifar10")
SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One split of a data set.

    Attributes:
        name: one of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        images: uint8 tensor (N, C, H, W), values in [0, num_levels). Shared with the
            in-process cache: do not modify it in place (``.clone()`` first).
        labels: long tensor (N,), values in [0, len(class_names)).
        num_levels: number of pixel levels (256 for 8-bit images, 17 for digits).
        class_names: the name of each label, in label order.

    Raises:
        InvalidInput: at construction, when the fields disagree (dtype, shape, count, range).
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    num_levels: int
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise InvalidInput(f"Dataset.images must be a uint8 tensor (N, C, H, W); got {_describe(self.images)}")
        if not isinstance(self.labels, torch.Tensor) or self.labels.dtype != torch.long or self.labels.dim() != 1:
            raise InvalidInput(f"Dataset.labels must be a long tensor (N,); got {_describe(self.labels)}")
        if len(self.labels) != len(self.images):
            raise InvalidInput(f"Dataset has {len(self.images)} images but {len(self.labels)} labels")
        if not 2 <= self.num_levels <= 256:
            raise InvalidInput(f"Dataset.num_levels must be in [2, 256] for uint8 images; got {self.num_levels}")
        if len(self.images) and int(self.images.max()) >= self.num_levels:
            raise InvalidInput(f"Dataset.images has a value {int(self.images.max())} >= num_levels {self.num_levels}")
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(self.class_names):
            raise InvalidInput(
                f"Dataset.labels must lie in [0, {len(self.class_names)}); got "
                f"[{int(self.labels.min())}, {int(self.labels.max())}]")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def event_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, split={self.split!r}, images=uint8{tuple(self.images.shape)}, "
                f"num_levels={self.num_levels}, class_names={self.class_names!r})")


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def load_dataset(name: str, split: str = "train", *, root: str | os.PathLike | None = None) -> Dataset:
    """One split of a data set, from the first place that has it (see the module docstring).

    Args:
        name: ``"fashion-mnist"`` (1x28x28, 256 levels), ``"digits"`` (1x8x8, 17 levels) or
            ``"cifar10"`` (3x32x32, 256 levels).
        split: ``"train"`` or ``"test"``.
        root: where to look instead of ``$ZOO_DATA_DIR`` and the system copies (a folder; for
            ``cifar10`` also the tarball itself). Ignored by ``digits``.

    Returns:
        A :class:`Dataset`; the same object again for the same files within a process.

    Raises:
        ZooError: unknown name or split; the data set is absent and cannot be downloaded
            (the message says how to get it); scikit-learn missing for ``digits``; a CIFAR-10
            pickle tarball.
        IntegrityError: a file is truncated, corrupt, inconsistent or differs from the
            official checksum; the message names it.
    """
    if name not in DATASETS:
        raise ZooError(f"unknown data set {name!r}; the data sets are: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ZooError(f"unknown split {split!r} of {name!r}; the splits are: {', '.join(SPLITS)}")
    return _LOADERS[name](split, None if root is None else Path(root).expanduser())


# In-process cache of decoded splits. Keys name the files (with size and mtime), so a file
# replaced on disk is read again.
_CACHE: dict[tuple, Dataset] = {}


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


# --- Where data lives -------------------------------------------------------------------

_ENV_DATA_DIR = "ZOO_DATA_DIR"


def _user_dirs(root: Path | None, subdir: str) -> tuple[list[Path], Path]:
    """The folders to search before any system copy, and the folder downloads go to."""
    env = os.environ.get(_ENV_DATA_DIR)
    base = root if root is not None else Path(env).expanduser() if env else None
    if base is None:
        return [], _download_cache() / subdir
    return [base, base / subdir], base / subdir


def _download_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zoo" / "datasets"


def _md5_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


# --- Downloads --------------------------------------------------------------------------

_urlopen = urllib.request.urlopen  # tests replace it; nothing in the test suite touches the network


class _DownloadFailed(ZooError):
    """No mirror could be reached; the caller turns this into a message that says what to do."""


def _download(urls: tuple[str, ...], dest: Path, *, md5: str, sha256: str | None = None) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that answers; keep it only if its checksums match.

    Raises:
        _DownloadFailed: no URL could be fetched (no network, refused, ...).
        IntegrityError: a fetched file differs from ``md5``/``sha256``; nothing is kept.
    """
    reasons = []
    for url in urls:
        part = dest.with_name(dest.name + ".part")
        digest_md5, digest_sha256 = hashlib.md5(), hashlib.sha256()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            print(f"zoo: downloading {url} to {dest}", file=sys.stderr)
            with _urlopen(url, timeout=30) as response, open(part, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest_md5.update(block)
                    digest_sha256.update(block)
        except OSError as error:  # URLError, timeouts and refused connections are all OSErrors
            part.unlink(missing_ok=True)
            reasons.append(f"{url}: {getattr(error, 'reason', None) or error}")
            continue
        got_md5, got_sha256 = digest_md5.hexdigest(), digest_sha256.hexdigest()
        if got_md5 != md5 or (sha256 is not None and got_sha256 != sha256):
            part.unlink(missing_ok=True)
            raise IntegrityError(
                f"{url}: the download has md5 {got_md5} (sha256 {got_sha256}) but the official file has md5 "
                f"{md5}" + (f" (sha256 {sha256})" if sha256 else "") + "; it was corrupted in transit or "
                "replaced, so it was not kept")
        part.replace(dest)
        return dest
    raise _DownloadFailed("; ".join(reasons))


# --- Fashion-MNIST ----------------------------------------------------------------------

_FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_FASHION_SUBDIR = "fashion-mnist"
_DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_APT_FASHION = "sudo apt-get install dataset-fashion-mnist"
_FASHION_FILES = {  # split -> (images, labels, number of examples)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
_FASHION_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
# The official .gz files: md5 as Zalando publishes it (README, "Get the Data"); sha256 of
# the same bytes. Debian's package ships these files re-wrapped (the gzip header lost the
# file name and got a new mtime), so its .gz bytes differ from the official ones; its
# deflate streams, put back under the original header (mtimes 1504176606 for train and
# 1504176627 for t10k, XFL 0, OS 3, the file name), give exactly the four published md5s and
# the official sizes (26421880, 29515, 4422102, 5148 bytes), from which these sha256s come.
_FASHION_DOWNLOADS = {  # name -> (md5, sha256) of name + ".gz"
    "train-images-idx3-ubyte": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    "train-labels-idx1-ubyte": ("25c81989df183df01b3e8a0aad5dffbe",
                                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    "t10k-images-idx3-ubyte": ("bef4ecab320f06d8554ea6380940ec79",
                               "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    "t10k-labels-idx1-ubyte": ("bb300cfdad3c16e7a12a480ee83cd310",
                               "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}
# sha256 of the decompressed official files (so also of Debian's, shown above to hold the
# same deflate streams). A file whose header declares the official dimensions is checked
# against these whatever its compression; smaller files (subsets, test fixtures) are
# checked by their structure only.
_FASHION_RAW_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# IDX type codes (the third byte of the magic number) and their big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path: Path) -> tuple[np.ndarray, str]:
    """An IDX file (raw or gzip, told apart by content) as an array, and its decompressed sha256.

    Raises:
        IntegrityError: unreadable gzip, bad magic number, unknown type code, or a length
            other than the header's dimensions imply (truncated or trailing bytes).
    """
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise IntegrityError(
                f"{path}: not a readable gzip file ({error}); it is truncated or corrupt: delete it and "
                f"get it again") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise IntegrityError(
            f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'}; expected 0000 followed by a "
            f"type code and the number of dimensions); it is corrupt or not what its name says")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IntegrityError(f"{path}: truncated inside its IDX header ({len(data)} bytes); get the file again")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise IntegrityError(
            f"{path}: {what}: its header declares {dtype.name} dimensions {dims} ({expected} bytes) but it holds "
            f"{len(data)} bytes; get the file again")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims), hashlib.sha256(data).hexdigest()


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _locate_fashion(split: str, root: Path | None) -> tuple[Path, Path]:
    images_stem, labels_stem, _ = _FASHION_FILES[split]
    searched, download_dir = _user_dirs(root, _FASHION_SUBDIR)
    if root is None:
        searched = [*searched, _DEBIAN_FASHION_DIR, _download_cache() / _FASHION_SUBDIR]
    searched = list(dict.fromkeys(searched))  # in order, once each
    for folder in searched:
        images, labels = _find_idx(folder, images_stem), _find_idx(folder, labels_stem)
        if images and labels:
            return images, labels
        if (images or labels) and folder != download_dir:  # the download folder gets completed below
            missing = labels_stem if images else images_stem
            raise ZooError(
                f"{folder} holds {(images or labels).name} but not {missing} (or {missing}.gz): add the missing "
                f"Fashion-MNIST file there, or remove the other one")
    try:
        return tuple(  # type: ignore[return-value]
            _find_idx(download_dir, stem)
            or _download(tuple(base + f"{stem}.gz" for base in _FASHION_URLS), download_dir / f"{stem}.gz",
                         md5=_FASHION_DOWNLOADS[stem][0], sha256=_FASHION_DOWNLOADS[stem][1])
            for stem in (images_stem, labels_stem))
    except _DownloadFailed as error:
        raise ZooError(
            f"Fashion-MNIST ({split}) is not on this machine (looked in {', '.join(map(str, searched))}) and "
            f"the download failed ({error}). Get it with one of: `{_APT_FASHION}` (Debian/Ubuntu, installs it in "
            f"{_DEBIAN_FASHION_DIR}); or put {images_stem}[.gz] and {labels_stem}[.gz] in "
            f"${_ENV_DATA_DIR}/{_FASHION_SUBDIR} (or pass root=); or run again with network access to "
            f"download them from {_FASHION_URLS[0]}") from None


def _load_fashion_mnist(split: str, root: Path | None) -> Dataset:
    images_path, labels_path = _locate_fashion(split, root)
    key = ("fashion-mnist", split, _file_key(images_path), _file_key(labels_path))
    if key in _CACHE:
        return _CACHE[key]
    images_stem, labels_stem, official_count = _FASHION_FILES[split]
    images = _read_fashion_file(images_path, images_stem, (official_count, 28, 28))
    labels = _read_fashion_file(labels_path, labels_stem, (official_count,))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IntegrityError(
            f"{images_path}: holds dimensions {images.shape}; Fashion-MNIST images are (N, 28, 28)")
    if labels.ndim != 1:
        raise IntegrityError(f"{labels_path}: holds dimensions {labels.shape}; Fashion-MNIST labels are (N,)")
    if len(images) != len(labels):
        raise IntegrityError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; one of them "
            f"is from another copy or split: get both again")
    if len(labels) and labels.max() >= len(_FASHION_CLASSES):
        raise IntegrityError(
            f"{labels_path}: label {int(labels.max())} is out of range; Fashion-MNIST labels are 0..9")
    dataset = Dataset(
        name="fashion-mnist", split=split,
        images=torch.from_numpy(images.copy()).unsqueeze(1),  # copy: the decoded bytes are read-only
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_levels=256, class_names=list(_FASHION_CLASSES))
    _CACHE[key] = dataset
    return dataset


def _read_fashion_file(path: Path, stem: str, official_shape: tuple[int, ...]) -> np.ndarray:
    array, sha256 = _read_idx(path)
    if array.dtype != np.uint8:
        raise IntegrityError(
            f"{path}: holds {array.dtype.name} values; Fashion-MNIST files hold unsigned bytes (uint8)")
    if array.shape == official_shape and sha256 != _FASHION_RAW_SHA256[stem]:
        raise IntegrityError(
            f"{path}: has the official dimensions {official_shape} but its content's sha256 is {sha256}, not "
            f"the official {_FASHION_RAW_SHA256[stem]}; the file is corrupt: delete it and get it again")
    return array


# --- scikit-learn's digits --------------------------------------------------------------

# The split: within each class (in scikit-learn's order), a permutation drawn from
# numpy's legacy RandomState(0) (whose stream numpy keeps fixed across versions) puts
# round(20%) of the examples in "test" and the rest in "train"; both splits keep
# scikit-learn's order. That gives 1438 train and 359 test images.
_DIGITS_SEED = 0
_DIGITS_TEST_FRACTION = 0.2


def _digits_test_mask(labels: np.ndarray) -> np.ndarray:
    rng = np.random.RandomState(_DIGITS_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen = rng.permutation(len(members))[: int(round(_DIGITS_TEST_FRACTION * len(members)))]
        test[members[chosen]] = True
    return test


def _load_digits(split: str, root: Path | None) -> Dataset:
    key = ("digits", split)
    if key in _CACHE:
        return _CACHE[key]
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ZooError(
            "the 'digits' data set comes from scikit-learn, which is not installed: "
            "pip install scikit-learn (or pip install 'zoo-core[digits]')") from None
    bunch = load_digits()
    pixels, labels = np.asarray(bunch.images), np.asarray(bunch.target)
    if pixels.min() < 0 or pixels.max() > 16 or not np.array_equal(pixels, np.round(pixels)):
        raise IntegrityError("scikit-learn's digits are not integers in 0..16; this scikit-learn changed them")
    images = torch.from_numpy(pixels.astype(np.uint8)).unsqueeze(1)
    targets = torch.from_numpy(labels.astype(np.int64))
    test = torch.from_numpy(_digits_test_mask(labels))
    class_names = [str(c) for c in range(10)]
    for part, mask in (("train", ~test), ("test", test)):
        _CACHE[("digits", part)] = Dataset(
            name="digits", split=part, images=images[mask].contiguous(), labels=targets[mask].contiguous(),
            num_levels=17, class_names=list(class_names))
    return _CACHE[key]


# --- CIFAR-10 ---------------------------------------------------------------------------

_CIFAR_SUBDIR = "cifar10"
_CIFAR_TARBALL = "cifar-10-binary.tar.gz"
_CIFAR_PICKLE_TARBALL = "cifar-10-python.tar.gz"
_CIFAR_PICKLE_FOLDER = "cifar-10-batches-py"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# md5 as published on https://www.cs.toronto.edu/~kriz/cifar.html ("binary version").
_CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
# The size of the file with that md5, as reported by others who checked it (the page gives
# only "162 MB"). A local tarball of exactly this size must be the official one and is
# checked against the md5; one of any other size is a repack or subset, checked by its
# structure only (record sizes, labels, class names).
_CIFAR_SIZE = 170052171
_CIFAR_MEMBERS = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
_CIFAR_META = "batches.meta.txt"
_CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue, rows first


def _refuse_pickle(path) -> None:
    raise ZooError(
        f"{path} is the pickle ('python version') CIFAR-10 tarball; zoo reads only the binary version, since "
        f"unpickling can run code: get {_CIFAR_TARBALL} from {_CIFAR_URL}")


def _locate_cifar(root: Path | None) -> Path:
    if root is not None and root.is_file():
        return root
    searched, download_dir = _user_dirs(root, _CIFAR_SUBDIR)
    if root is None:
        searched = [*searched, _download_cache() / _CIFAR_SUBDIR]
    searched = list(dict.fromkeys(searched))
    for folder in searched:
        if (folder / _CIFAR_TARBALL).is_file():
            return folder / _CIFAR_TARBALL
    for folder in searched:
        if (folder / _CIFAR_PICKLE_TARBALL).is_file():
            _refuse_pickle(folder / _CIFAR_PICKLE_TARBALL)
    try:
        return _download((_CIFAR_URL,), download_dir / _CIFAR_TARBALL, md5=_CIFAR_MD5)
    except _DownloadFailed as error:
        raise ZooError(
            f"CIFAR-10 is not on this machine (looked for {_CIFAR_TARBALL} in "
            f"{', '.join(map(str, searched))}) and the download failed ({error}). Download {_CIFAR_URL} "
            f"(md5 {_CIFAR_MD5}) on a machine with network access and put it in ${_ENV_DATA_DIR} (or pass "
            f"root= the tarball or its folder)") from None


def _load_cifar10(split: str, root: Path | None) -> Dataset:
    tarball = _locate_cifar(root)
    key = ("cifar10", split, _file_key(tarball))
    if key in _CACHE:
        return _CACHE[key]
    if tarball.name == _CIFAR_PICKLE_TARBALL:
        _refuse_pickle(tarball)
    if tarball.stat().st_size == _CIFAR_SIZE:
        md5 = _md5_of(tarball)
        if md5 != _CIFAR_MD5:
            raise IntegrityError(
                f"{tarball}: has the official size but md5 {md5}, not the official {_CIFAR_MD5}; the file is "
                f"corrupt: delete it and get it again from {_CIFAR_URL}")
    members = _read_cifar_members(tarball, {*_CIFAR_MEMBERS[split], _CIFAR_META})
    class_names = _cifar_class_names(tarball, members[_CIFAR_META])
    images, labels = [], []
    for member in _CIFAR_MEMBERS[split]:
        name, data = members[member]
        if len(data) == 0 or len(data) % _CIFAR_RECORD:
            raise IntegrityError(
                f"{tarball}: member {name} holds {len(data)} bytes, not a whole number of {_CIFAR_RECORD}-byte "
                f"records (1 label byte + 3x32x32 pixels); the tarball is corrupt or not CIFAR-10's binary version")
        records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
        if records[:, 0].max() >= len(class_names):
            raise IntegrityError(
                f"{tarball}: member {name} has label {int(records[:, 0].max())}; CIFAR-10 labels are 0..9")
        labels.append(records[:, 0].astype(np.int64))
        images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    dataset = Dataset(
        name="cifar10", split=split, images=torch.from_numpy(np.concatenate(images)),
        labels=torch.from_numpy(np.concatenate(labels)), num_levels=256, class_names=class_names)
    _CACHE[key] = dataset
    return dataset


def _read_cifar_members(tarball: Path, wanted: set[str]) -> dict[str, tuple[str, bytes]]:
    """The ``wanted`` members (by base name, in any folder) as (full member name, bytes), in one pass."""
    found: dict[str, tuple[str, bytes]] = {}
    try:
        with open(tarball, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            # gzip's own reader, not tarfile's: it checks the stream's length and CRC-32.
            stream = gzip.GzipFile(fileobj=raw) if compressed else raw
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # one pass, nothing written to disk
                for member in tar:
                    path = PurePosixPath(member.name)
                    if _CIFAR_PICKLE_FOLDER in path.parts:
                        _refuse_pickle(tarball)
                    if member.isfile() and path.name in wanted and path.name not in found:
                        found[path.name] = (member.name, tar.extractfile(member).read())
            while stream.read(1 << 20):  # to the very end, where a truncated or altered gzip shows
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise IntegrityError(
            f"{tarball}: not a readable tarball ({error}); it is truncated or corrupt: delete it and get it "
            f"again from {_CIFAR_URL}") from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise IntegrityError(
            f"{tarball}: has no member {', '.join(missing)}; it is not the complete binary version of CIFAR-10 "
            f"({_CIFAR_TARBALL} from {_CIFAR_URL})")
    return found


def _cifar_class_names(tarball: Path, member: tuple[str, bytes]) -> list[str]:
    name, data = member
    try:
        names = [line.strip() for line in data.decode("ascii").splitlines() if line.strip()]
    except UnicodeDecodeError:
        names = []
    if len(names) != 10:
        raise IntegrityError(
            f"{tarball}: member {name} should list the 10 CIFAR-10 class names, one a line; it lists "
            f"{len(names)} readable names")
    return names


_LOADERS = {"fashion-mnist": _load_fashion_mnist, "digits": _load_digits, "cifar10": _load_cifar10}
