"""Data sets: where they are found, how their files are checked, and what comes back.

The tests write small IDX files and CIFAR-10 tarballs in the official byte formats; the
network is replaced by a fake (nothing here downloads anything). The one real data set
used is Fashion-MNIST from Debian's package, when it is installed.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
import tarfile
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo_core import data
from zoo_core.data import DATASETS, Dataset, load_dataset
from zoo_core.errors import IntegrityError, InvalidInput, ZooError

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                 "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_BATCHES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def _no_network(url, timeout=None):
    raise urllib.error.URLError("no network in the tests")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No ZOO_DATA_DIR, a private download folder, no network, an empty in-process cache."""
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(data, "_urlopen", _no_network)
    data._CACHE.clear()
    yield
    data._CACHE.clear()


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    """As if Debian's dataset-fashion-mnist were not installed."""
    monkeypatch.setattr(data, "_DEBIAN_FASHION_DIR", tmp_path / "no-debian-package")


# --- Writing files in the official formats ----------------------------------------------

def idx_bytes(array, code: int = 0x08) -> bytes:
    """IDX: two zero bytes, a type code, the number of dimensions, big-endian dims, data."""
    array = np.asarray(array)
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write(path: Path, content: bytes, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def write_fashion(folder: Path, split: str = "train", n: int = 5, *, gz: bool = False, seed: int = 0):
    """``n`` random Fashion-MNIST-format examples; returns (images (n, 28, 28), labels, paths)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) + seed) % 10
    images_stem, labels_stem = FASHION_STEMS[split]
    paths = (write(folder / images_stem, idx_bytes(images), gz=gz),
             write(folder / labels_stem, idx_bytes(labels), gz=gz))
    return images, labels, paths


def cifar_records(labels, pixels) -> bytes:
    """CIFAR-10 binary records: one label byte, then 3072 pixel bytes (R plane, G, B; rows first)."""
    return b"".join(bytes([label]) + bytes(p) for label, p in zip(labels, pixels))


def write_tarball(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folders = sorted({name.rpartition("/")[0] for name in members if "/" in name})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def cifar_members(per_batch: int = 3, seed: int = 0) -> dict[str, bytes]:
    """The members of a small cifar-10-binary.tar.gz: every batch with ``per_batch`` records."""
    rng = np.random.default_rng(seed)
    members = {}
    for name in CIFAR_BATCHES["train"] + CIFAR_BATCHES["test"]:
        members[f"cifar-10-batches-bin/{name}"] = cifar_records(
            rng.integers(0, 10, per_batch), rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8))
    members["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(CIFAR_CLASSES) + "\n\n").encode()
    members["cifar-10-batches-bin/readme.html"] = b"<html>the CIFAR-10 binary version</html>"
    return members


def decode_batches(members, split):
    """Labels and images of ``split`` as the CIFAR-10 page describes the binary records."""
    raw = b"".join(members[f"cifar-10-batches-bin/{name}"] for name in CIFAR_BATCHES[split])
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return records[:, 0].astype(np.int64), records[:, 1:].reshape(-1, 3, 32, 32)


def pickle_tarball(path: Path) -> Path:
    """The layout of cifar-10-python.tar.gz: pickled batches under cifar-10-batches-py/."""
    payload = pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]})
    names = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]
    return write_tarball(path, {f"cifar-10-batches-py/{name}": payload for name in names})


# --- Names and splits -------------------------------------------------------------------

def test_the_data_sets_are_fashion_mnist_digits_and_cifar10():
    assert DATASETS == ("fashion-mnist", "digits", "cifar10")


def test_unknown_name_is_a_zoo_error_naming_the_valid_ones():
    with pytest.raises(ZooError, match="mnist-fashion") as caught:
        load_dataset("mnist-fashion")
    assert all(name in str(caught.value) for name in DATASETS)


@pytest.mark.parametrize("name", DATASETS)
def test_unknown_split_is_a_zoo_error_naming_the_valid_ones(name):
    with pytest.raises(ZooError, match="validation") as caught:
        load_dataset(name, "validation")
    assert "train" in str(caught.value) and "test" in str(caught.value)


def test_dataset_is_frozen_and_has_a_length(tmp_path):
    write_fashion(tmp_path, n=4)
    dataset = load_dataset("fashion-mnist", root=tmp_path)
    assert len(dataset) == 4 and dataset.event_shape == (1, 28, 28) and dataset.num_classes == 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataset.name = "other"


def test_dataset_refuses_fields_that_disagree():
    images, labels = torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(3, dtype=torch.long)
    with pytest.raises(InvalidInput, match="uint8"):
        Dataset("x", "train", images.float(), labels, 256, ["a"])
    with pytest.raises(InvalidInput, match="3 images but 2 labels"):
        Dataset("x", "train", images, labels[:2], 256, ["a"])
    with pytest.raises(InvalidInput, match=r"\[0, 1\)"):
        Dataset("x", "train", images, labels + 1, 256, ["a"])
    with pytest.raises(InvalidInput, match="num_levels"):
        Dataset("x", "train", images + 5, labels, 3, ["a"])


# --- Fashion-MNIST: finding the files ---------------------------------------------------

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_files_load_from_root_raw_or_gzipped(tmp_path, gz, split):
    images, labels, _ = write_fashion(tmp_path, split, n=7, gz=gz)
    dataset = load_dataset("fashion-mnist", split, root=tmp_path)
    assert (dataset.name, dataset.split, dataset.num_levels) == ("fashion-mnist", split, 256)
    assert dataset.class_names == FASHION_CLASSES
    assert dataset.images.dtype == torch.uint8 and dataset.images.shape == (7, 1, 28, 28)
    assert dataset.labels.dtype == torch.long and dataset.labels.tolist() == labels.tolist()
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(images))


@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_idx_files_load_from_zoo_data_dir_or_its_fashion_mnist_folder(tmp_path, monkeypatch, subfolder):
    # Debian's copy (if installed) comes later in the search, so these small files win.
    images, _, _ = write_fashion(tmp_path / "data" / subfolder, "test", n=3, gz=True)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    dataset = load_dataset("fashion-mnist", "test")
    assert len(dataset) == 3 and torch.equal(dataset.images[:, 0], torch.from_numpy(images))


def test_root_is_the_only_place_looked_in_when_given(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZooError, match="not on this machine") as caught:
        load_dataset("fashion-mnist", root=tmp_path / "empty")
    assert str(DEBIAN_DIR) not in str(caught.value).split("(looked in")[1].split(")")[0]


def test_missing_fashion_mnist_is_a_zoo_error_that_says_how_to_get_it(no_debian):
    with pytest.raises(ZooError) as caught:
        load_dataset("fashion-mnist", "train")
    message = str(caught.value)
    assert not isinstance(caught.value, IntegrityError)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "ZOO_DATA_DIR" in message
    assert "fashion-mnist.s3-website.eu-central-1.amazonaws.com" in message
    assert "no network in the tests" in message


def test_half_a_pair_of_idx_files_is_a_zoo_error_naming_the_missing_one(tmp_path):
    _, _, (images_path, labels_path) = write_fashion(tmp_path, "train", n=2)
    labels_path.unlink()
    with pytest.raises(ZooError, match="train-labels-idx1-ubyte"):
        load_dataset("fashion-mnist", "train", root=tmp_path)


# --- Fashion-MNIST: downloads (through a fake network) ----------------------------------

def serve(files: dict[str, bytes], *, refuse: str = "\0"):
    """A stand-in for urlopen serving ``files`` by URL suffix; URLs containing ``refuse`` fail."""
    def urlopen(url, timeout=None):
        for suffix, body in files.items():
            if url.endswith(suffix) and refuse not in url:
                return io.BytesIO(body)
        raise urllib.error.URLError(f"{url} not served")
    return urlopen


def small_test_split_gz():
    rng = np.random.default_rng(5)
    images, labels = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1])
    return {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
            "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))}, images, labels


def test_a_download_that_differs_from_the_official_checksum_is_an_integrity_error_and_is_not_kept(
        tmp_path, monkeypatch, no_debian):
    files, _, _ = small_test_split_gz()
    monkeypatch.setattr(data, "_urlopen", serve(files))
    with pytest.raises(IntegrityError, match="t10k-images-idx3-ubyte.gz.*md5.*bef4ecab320f06d8554ea6380940ec79"):
        load_dataset("fashion-mnist", "test")
    folder = tmp_path / "xdg-cache" / "zoo" / "datasets" / "fashion-mnist"
    assert not folder.exists() or not any(folder.iterdir())


def test_a_download_matching_its_checksum_is_kept_and_loaded_trying_each_mirror(tmp_path, monkeypatch, no_debian):
    files, images, labels = small_test_split_gz()
    for name, body in files.items():
        pinned = (hashlib.md5(body).hexdigest(), hashlib.sha256(body).hexdigest())
        monkeypatch.setitem(data._FASHION_DOWNLOADS, name.removesuffix(".gz"), pinned)
    monkeypatch.setattr(data, "_urlopen", serve(files, refuse="amazonaws"))  # the first mirror is down
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    dataset = load_dataset("fashion-mnist", "test")
    assert dataset.labels.tolist() == labels.tolist()
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(images))
    kept = sorted(p.name for p in (tmp_path / "data" / "fashion-mnist").iterdir())
    assert kept == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_the_official_checksums_are_the_ones_zalando_publishes():
    published_md5 = {"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                     "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
                     "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
                     "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"}
    assert {name: md5 for name, (md5, _) in data._FASHION_DOWNLOADS.items()} == published_md5


# --- Fashion-MNIST: corrupt files -------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_truncated_idx_file_is_an_integrity_error_naming_it(tmp_path, gz):
    _, _, (images_path, _) = write_fashion(tmp_path, "train", n=3, gz=gz)
    content = images_path.read_bytes()
    images_path.write_bytes(content[: len(content) - 100])
    with pytest.raises(IntegrityError, match=f"{images_path.name}.*(truncated|gzip)"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_idx_file_longer_than_its_header_says_is_an_integrity_error_naming_it(tmp_path):
    _, _, (_, labels_path) = write_fashion(tmp_path, "train", n=3)
    labels_path.write_bytes(labels_path.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=f"{labels_path.name}.*longer than its header"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_gzip_with_a_wrong_checksum_is_an_integrity_error_naming_it(tmp_path):
    _, _, (images_path, _) = write_fashion(tmp_path, "train", n=3, gz=True)
    content = bytearray(images_path.read_bytes())
    content[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    images_path.write_bytes(bytes(content))
    with pytest.raises(IntegrityError, match=f"{images_path.name}.*gzip"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_bad_magic_number_is_an_integrity_error_naming_it(tmp_path):
    _, _, (images_path, _) = write_fashion(tmp_path, "train", n=3)
    images_path.write_bytes(b"\x12\x34" + images_path.read_bytes()[2:])
    with pytest.raises(IntegrityError, match=f"{images_path.name}.*not an IDX file"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_idx_file_of_another_element_type_is_an_integrity_error(tmp_path):
    write_fashion(tmp_path, "train", n=3)
    labels_path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.arange(3), code=0x0C))
    with pytest.raises(IntegrityError, match=f"{labels_path.name}.*int32"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_images_and_labels_of_different_counts_are_an_integrity_error_naming_both(tmp_path):
    write_fashion(tmp_path, "train", n=4)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.arange(3)))
    with pytest.raises(IntegrityError, match="4 images but .*train-labels-idx1-ubyte holds 3 labels"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_label_out_of_range_is_an_integrity_error(tmp_path):
    write_fashion(tmp_path, "train", n=3)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes([0, 10, 2]))
    with pytest.raises(IntegrityError, match="label 10 is out of range"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_images_of_another_size_are_an_integrity_error(tmp_path):
    write_fashion(tmp_path, "train", n=3)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 27, 28), np.uint8)))
    with pytest.raises(IntegrityError, match=r"\(3, 27, 28\).*\(N, 28, 28\)"):
        load_dataset("fashion-mnist", root=tmp_path)


def test_file_with_the_official_dimensions_but_other_bytes_is_an_integrity_error(tmp_path):
    # 10000 blank images: the official test split's header, not its content.
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((10000, 28, 28), np.uint8)))
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(10000, np.uint8)))
    with pytest.raises(IntegrityError, match="t10k-images-idx3-ubyte.*official dimensions.*sha256"):
        load_dataset("fashion-mnist", "test", root=tmp_path)


# --- Caching ----------------------------------------------------------------------------

def test_a_split_is_decoded_once_per_process(tmp_path):
    write_fashion(tmp_path, "train", n=3)
    assert load_dataset("fashion-mnist", root=tmp_path) is load_dataset("fashion-mnist", root=tmp_path)


def test_a_replaced_file_is_read_again(tmp_path):
    write_fashion(tmp_path, "train", n=3)
    assert len(load_dataset("fashion-mnist", root=tmp_path)) == 3
    write_fashion(tmp_path, "train", n=6, seed=1)
    assert len(load_dataset("fashion-mnist", root=tmp_path)) == 6


# --- Fashion-MNIST: the real thing ------------------------------------------------------

@pytest.mark.skipif(
    not all((DEBIAN_DIR / f"{stem}.gz").is_file() for stems in FASHION_STEMS.values() for stem in stems),
    reason=f"Debian's Fashion-MNIST is not installed in {DEBIAN_DIR} (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_the_debian_package_has_the_official_splits():
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == test.images.dtype == torch.uint8
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert train.labels[:4].tolist() == [9, 0, 0, 3]  # the first labels of train-labels-idx1-ubyte
    assert int(train.images.max()) == 255 and train.class_names == FASHION_CLASSES


# --- digits -----------------------------------------------------------------------------

def test_digits_are_1x8x8_images_with_17_levels():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    for dataset in (train, test):
        assert dataset.images.dtype == torch.uint8 and dataset.images.shape[1:] == (1, 8, 8)
        assert dataset.num_levels == 17 and int(dataset.images.min()) == 0 and int(dataset.images.max()) == 16
        assert dataset.class_names == [str(c) for c in range(10)]
    assert (len(train), len(test)) == (1438, 359)


def test_digits_train_and_test_partition_the_scikit_learn_set_about_80_20_in_every_class():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    everything = Counter(
        (image.astype(np.uint8).tobytes(), int(label)) for image, label in zip(bunch.images, bunch.target))
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    parts = Counter()
    for dataset in (train, test):
        parts.update((image[0].numpy().tobytes(), int(label)) for image, label in zip(dataset.images, dataset.labels))
    assert parts == everything
    fraction = torch.bincount(test.labels) / (torch.bincount(test.labels) + torch.bincount(train.labels))
    assert ((fraction > 0.19) & (fraction < 0.21)).all()


def test_digits_split_is_the_same_every_time():
    first = load_dataset("digits", "test")
    data._CACHE.clear()
    second = load_dataset("digits", "test")
    assert first is not second
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)


def test_digits_without_scikit_learn_is_a_zoo_error_saying_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ZooError, match="pip install scikit-learn"):
        load_dataset("digits")


# --- CIFAR-10 ---------------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_binary_tarball_loads_every_batch_of_the_split_in_order(tmp_path, split):
    members = cifar_members(per_batch=3)
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    dataset = load_dataset("cifar10", split, root=tmp_path)
    labels, images = decode_batches(members, split)
    assert (dataset.name, dataset.split, dataset.num_levels) == ("cifar10", split, 256)
    assert dataset.images.dtype == torch.uint8 and dataset.images.shape == (15 if split == "train" else 3, 3, 32, 32)
    assert dataset.labels.dtype == torch.long and dataset.labels.tolist() == labels.tolist()
    assert torch.equal(dataset.images, torch.from_numpy(images.copy()))
    assert dataset.class_names == CIFAR_CLASSES


def test_cifar10_pixels_are_red_green_blue_planes_of_rows(tmp_path):
    pixels = np.zeros(3072, np.uint8)
    pixels[:1024] = 255             # the whole red plane
    pixels[2048 + 1 * 32 + 2] = 7   # blue, row 1, column 2
    members = cifar_members(per_batch=1)
    members["cifar-10-batches-bin/test_batch.bin"] = cifar_records([6], [pixels])
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    image = load_dataset("cifar10", "test", root=tmp_path).images[0]
    assert (image[0] == 255).all() and int(image[1].sum()) == 0
    assert int(image[2, 1, 2]) == 7 and int(image[2].sum()) == 7


def test_cifar10_tarball_can_be_given_as_root_or_found_in_zoo_data_dir(tmp_path, monkeypatch):
    tarball = write_tarball(tmp_path / "somewhere" / "cifar-10-binary.tar.gz", cifar_members())
    assert len(load_dataset("cifar10", "test", root=tarball)) == 3
    data._CACHE.clear()
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "somewhere"))
    assert len(load_dataset("cifar10", "test")) == 3


def test_cifar10_is_read_without_extracting_anything(tmp_path):
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", cifar_members())
    load_dataset("cifar10", "train", root=tmp_path)
    assert os.listdir(tmp_path) == ["cifar-10-binary.tar.gz"]


def test_cifar10_member_of_the_wrong_size_is_an_integrity_error_naming_it(tmp_path):
    members = cifar_members()
    members["cifar-10-batches-bin/data_batch_3.bin"] = members["cifar-10-batches-bin/data_batch_3.bin"][:-10]
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(IntegrityError, match="data_batch_3.bin.*3073-byte records"):
        load_dataset("cifar10", "train", root=tmp_path)


def test_cifar10_missing_member_is_an_integrity_error_naming_it(tmp_path):
    members = cifar_members()
    del members["cifar-10-batches-bin/data_batch_5.bin"]
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(IntegrityError, match="data_batch_5.bin"):
        load_dataset("cifar10", "train", root=tmp_path)


def test_cifar10_label_out_of_range_is_an_integrity_error(tmp_path):
    members = cifar_members()
    members["cifar-10-batches-bin/test_batch.bin"] = cifar_records([10], [np.zeros(3072, np.uint8)])
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(IntegrityError, match="test_batch.bin.*label 10"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar10_class_names_must_be_ten(tmp_path):
    members = cifar_members()
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\nautomobile\n"
    write_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(IntegrityError, match="batches.meta.txt.*10 CIFAR-10 class names"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar10_truncated_tarball_is_an_integrity_error_naming_it(tmp_path):
    tarball = write_tarball(tmp_path / "cifar-10-binary.tar.gz", cifar_members(per_batch=20))
    tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    with pytest.raises(IntegrityError, match="cifar-10-binary.tar.gz.*truncated or corrupt"):
        load_dataset("cifar10", "train", root=tmp_path)


def test_cifar10_pickle_version_is_refused_by_name_or_by_content(tmp_path):
    pickle_tarball(tmp_path / "a" / "cifar-10-python.tar.gz")
    with pytest.raises(ZooError, match="pickle.*cifar-10-binary.tar.gz"):
        load_dataset("cifar10", root=tmp_path / "a")
    with pytest.raises(ZooError, match="pickle"):
        load_dataset("cifar10", root=tmp_path / "a" / "cifar-10-python.tar.gz")
    renamed = pickle_tarball(tmp_path / "b" / "cifar-10-binary.tar.gz")
    with pytest.raises(ZooError, match="pickle"):
        load_dataset("cifar10", root=renamed)


def test_missing_cifar10_is_a_zoo_error_naming_the_official_download(tmp_path):
    with pytest.raises(ZooError, match="cifar-10-binary.tar.gz.*c32a1d4ab5d03f1284b67883e8d87530") as caught:
        load_dataset("cifar10", root=tmp_path / "nothing-here")
    assert "no network in the tests" in str(caught.value)


def test_cifar10_tarball_with_a_wrong_gzip_checksum_is_an_integrity_error_naming_it(tmp_path):
    tarball = write_tarball(tmp_path / "cifar-10-binary.tar.gz", cifar_members())
    content = bytearray(tarball.read_bytes())
    content[-8] ^= 0xFF  # the CRC-32 in the gzip trailer, read only after every member
    tarball.write_bytes(bytes(content))
    with pytest.raises(IntegrityError, match="cifar-10-binary.tar.gz.*truncated or corrupt"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar10_tarball_of_the_official_size_must_have_the_official_md5(tmp_path, monkeypatch):
    tarball = write_tarball(tmp_path / "cifar-10-binary.tar.gz", cifar_members())
    monkeypatch.setattr(data, "_CIFAR_SIZE", tarball.stat().st_size)
    with pytest.raises(IntegrityError, match="official size but md5 .*c32a1d4ab5d03f1284b67883e8d87530"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar10_download_is_kept_only_if_it_has_the_official_md5(tmp_path, monkeypatch):
    body = write_tarball(tmp_path / "served.tar.gz", cifar_members()).read_bytes()
    monkeypatch.setattr(data, "_urlopen", serve({"cifar-10-binary.tar.gz": body}))
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(IntegrityError, match="md5"):
        load_dataset("cifar10", "test")
    assert not any((tmp_path / "data" / "cifar10").iterdir())
    monkeypatch.setattr(data, "_CIFAR_MD5", hashlib.md5(body).hexdigest())
    assert len(load_dataset("cifar10", "test")) == 3
    assert os.listdir(tmp_path / "data" / "cifar10") == ["cifar-10-binary.tar.gz"]
