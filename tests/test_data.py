"""Tests of study.data: digits, and every loader on tiny files written in the real formats."""

from __future__ import annotations

import gzip
import logging
import os
import pickle
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torchvision
from PIL import Image

from core.errors import StudyError
from core.splits import DatasetInfo, Splits, from_pool
from study import data

RNG = np.random.default_rng(1234)


# --- helpers ------------------------------------------------------------------------------

def _images(n: int, *shape: int) -> np.ndarray:
    """n distinct random uint8 images (distinct, so an image identifies its row)."""
    x = RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    assert len({row.tobytes() for row in x}) == n
    return x


def _balanced(n: int, k: int) -> np.ndarray:
    return RNG.permutation(np.arange(n) % k).astype(np.int64)


def _by_image(x: np.ndarray, y: np.ndarray) -> dict[bytes, int]:
    return {row.tobytes(): int(label) for row, label in zip(x, y, strict=True)}


def _all(s: Splits) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([s.x_train, s.x_val, s.x_test]),
            np.concatenate([s.y_train, s.y_val, s.y_test]))


def _check_types(s: Splits) -> None:
    for part in ("train", "val", "test"):
        assert getattr(s, f"x_{part}").dtype == np.uint8
        assert getattr(s, f"x_{part}").shape[1:] == s.info.shape
        assert getattr(s, f"y_{part}").dtype == np.int64


def _study_error(match: str, *args: object, **kwargs: object) -> str:
    with pytest.raises(StudyError, match=match) as info:
        data.load(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def _write_idx(path: Path, array: np.ndarray, gz: bool = True, raw: bool = True) -> None:
    """IDX ("SN3 Pascal Vincent") file: magic 0 0 0x08(ubyte) ndim, big-endian dims, data."""
    payload = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    payload += np.ascontiguousarray(array, np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw:
        path.write_bytes(payload)
    if gz:
        Path(f"{path}.gz").write_bytes(gzip.compress(payload))


def _write_mnist(root: Path, folder: str, gz: bool = True, raw: bool = True
                 ) -> tuple[np.ndarray, ...]:
    x_train, y_train = _images(50, 28, 28), _balanced(50, 10)
    x_test, y_test = _images(20, 28, 28), _balanced(20, 10)
    raw_dir = root / folder / "raw"
    for prefix, x, y in (("train", x_train, y_train), ("t10k", x_test, y_test)):
        _write_idx(raw_dir / f"{prefix}-images-idx3-ubyte", x, gz, raw)
        _write_idx(raw_dir / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8), gz, raw)
    return x_train, y_train, x_test, y_test


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]


def _write_cifar(root: Path) -> tuple[np.ndarray, ...]:
    """cifar-10-batches-py: pickled dicts, data N×3072 uint8 (R, G, B planes), labels list."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    x_train, y_train = _images(100, 3, 32, 32), _balanced(100, 10)
    x_test, y_test = _images(20, 3, 32, 32), _balanced(20, 10)
    batches = [(f"data_batch_{i + 1}", x_train[20 * i:20 * i + 20], y_train[20 * i:20 * i + 20])
               for i in range(5)] + [("test_batch", x_test, y_test)]
    for name, x, y in batches:
        entry = {"batch_label": name, "labels": [int(v) for v in y],
                 "data": x.reshape(len(x), -1), "filenames": [f"{i}.png" for i in range(len(x))]}
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"label_names": CIFAR_CLASSES, "num_cases_per_batch": 20, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return x_train, y_train, x_test, y_test


def _write_medmnist(root: Path, flag: str, channels: int, classes: int, size: int = 28
                    ) -> dict[str, np.ndarray]:
    """<flag>[_<size>].npz with {train,val,test}_{images,labels}: images N×H×W[×3], labels N×1."""
    arrays: dict[str, np.ndarray] = {}
    for split, n in (("train", 40), ("val", 16), ("test", 24)):
        shape = (size, size) if channels == 1 else (size, size, 3)
        arrays[f"{split}_images"] = _images(n, *shape)
        arrays[f"{split}_labels"] = _balanced(n, classes).astype(np.uint8)[:, None]
    root.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(root / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"), **arrays)
    return arrays


def _write_folder(root: Path, classes: list[str], per_class: int, mode: str,
                  size: tuple[int, int] = (64, 64)) -> dict[bytes, int]:
    """One PNG per image under root/<class>/; returns image bytes (C×H×W) -> class index."""
    written: dict[bytes, int] = {}
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = _images(1, size[1], size[0], *((3,) if mode == "RGB" else ()))[0]
            Image.fromarray(pixels, mode).save(root / name / f"img{i}.png")
            chw = pixels[None] if mode == "L" else pixels.transpose(2, 0, 1)
            written[np.ascontiguousarray(chw).tobytes()] = label
    return written


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and mtime: any write into it changes this."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in [root, *root.rglob("*")]}


def _can_write(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a directory tree unwritable, for root too (``chattr +i``, as mode bits do not
    stop root); skips where the file system or the user cannot."""
    undo: list[Callable[[], object]] = []

    def make(root: Path) -> None:
        dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
        if os.geteuid() != 0:
            for d in dirs:
                d.chmod(0o555)
            undo.append(lambda: [d.chmod(0o755) for d in dirs])
        elif shutil.which("chattr") and subprocess.run(
                ["chattr", "+i", *dirs], capture_output=True).returncode == 0:
            undo.append(lambda: subprocess.run(["chattr", "-i", *dirs], check=True))
        if _can_write(root):
            pytest.skip("cannot make a directory read-only here")

    yield make
    for step in undo:
        step()


# --- digits -------------------------------------------------------------------------------

def test_digits_shapes_range_and_sizes() -> None:
    s = data.load("digits", split_ratio=0.25, val_fraction=0.2, seed=0)
    _check_types(s)
    assert s.info.shape == (1, 8, 8) and s.info.classes == tuple("0123456789")
    assert s.info.name == "digits" and not s.info.official_test
    x, _ = _all(s)
    assert x.min() == 0 and x.max() == 255
    assert set(np.unique(x)) <= {round(v * 255 / 16) for v in range(17)}
    sizes = s.sizes()
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == 450  # ceil(0.25 * 1797)
    assert sizes["val"] == 270  # ceil(0.2 * 1347)
    for part in ("train", "val", "test"):
        assert set(getattr(s, f"y_{part}")) == set(range(10))


def test_digits_is_a_partition_of_the_whole_set() -> None:
    from sklearn.datasets import load_digits

    s = data.load("digits")
    x, y = _all(s)
    bunch = load_digits()
    original = np.rint(bunch.images * 255 / 16).astype(np.uint8)[:, None]
    rows = sorted(zip((r.tobytes() for r in x), y.tolist(), strict=True))
    expected = sorted(zip((r.tobytes() for r in original), bunch.target.tolist(), strict=True))
    assert rows == expected  # nothing lost, nothing duplicated: the splits do not overlap


def test_digits_deterministic_per_seed() -> None:
    a, b, c = data.load("digits", seed=3), data.load("digits", seed=3), data.load("digits", seed=4)
    for part in ("x_train", "y_train", "x_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.y_test, c.y_test)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5])
def test_resplit_digits(fraction: float) -> None:
    s = data.load("digits").resplit(fraction, 0.2, seed=1)
    sizes = s.sizes()
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == int(np.ceil(fraction * 1797))
    assert abs(sizes["test"] / 1797 - fraction) < 1e-3
    assert set(s.y_test) == set(range(10))


def test_digits_resized() -> None:
    s = data.load("digits", image_size=16)
    assert s.info.shape == (1, 16, 16) and s.x_train.shape[1:] == (1, 16, 16)


def test_names_are_normalised_and_listed() -> None:
    assert data.load("Digits").info.name == "digits"
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "breastmnist", "pneumoniamnist",
            "bloodmnist", "dermamnist", "pathmnist", "octmnist", "organamnist",
            "image_folder"} <= set(data.DATASETS)
    assert "chestmnist" not in data.DATASETS and "organmnist3d" not in data.DATASETS


# --- MNIST / Fashion-MNIST ----------------------------------------------------------------

@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"),
                                              ("fashion_mnist", "FashionMNIST")])
def test_mnist_formats_round_trip(tmp_path: Path, name: str, folder: str) -> None:
    x_train, y_train, x_test, y_test = _write_mnist(tmp_path, folder)
    s = data.load(name, tmp_path, val_fraction=0.2, seed=0)
    _check_types(s)
    assert s.info.shape == (1, 28, 28) and s.info.official_test
    cls = getattr(torchvision.datasets, folder)
    assert s.info.classes == tuple(cls.classes)
    np.testing.assert_array_equal(s.x_test[:, 0], x_test)  # official test kept as it is
    np.testing.assert_array_equal(s.y_test, y_test)
    assert s.sizes() == {"train": 40, "val": 10, "test": 20}
    seen = _by_image(np.concatenate([s.x_train, s.x_val])[:, 0],
                     np.concatenate([s.y_train, s.y_val]))
    assert seen == _by_image(x_train, y_train)
    assert set(s.y_val) == set(range(10))


def test_mnist_from_gz_only(tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = _write_mnist(tmp_path, "MNIST", gz=True, raw=False)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()  # one unpacked, too
    _write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", y_test.astype(np.uint8),
               gz=False)
    before = _snapshot(tmp_path)
    s = data.load("mnist", tmp_path)
    assert _snapshot(tmp_path) == before  # read where they are: nothing unpacked next to them
    assert _by_image(np.concatenate([s.x_train, s.x_val])[:, 0],
                     np.concatenate([s.y_train, s.y_val])) == _by_image(x_train, y_train)
    np.testing.assert_array_equal(s.x_test[:, 0], x_test)
    np.testing.assert_array_equal(s.y_test, y_test)


def test_mnist_gz_in_a_read_only_directory(tmp_path: Path, read_only: Callable) -> None:
    x_train, _, _, _ = _write_mnist(tmp_path / "mount", "MNIST", gz=True, raw=False)
    read_only(tmp_path / "mount")
    s = data.load("mnist", tmp_path / "mount")
    assert len(s.y_train) + len(s.y_val) == len(x_train)


def test_corrupt_gz(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "MNIST", gz=True, raw=False)
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    assert "train-labels-idx1-ubyte.gz" in _study_error("cannot unpack", "mnist", tmp_path)


def test_mnist_resized(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "MNIST")
    s = data.load("mnist", tmp_path, image_size=14, grayscale=True)
    _check_types(s)
    assert s.info.shape == (1, 14, 14)


# --- CIFAR-10 -----------------------------------------------------------------------------

def test_cifar10_round_trip(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    x_train, y_train, x_test, y_test = _write_cifar(tmp_path)
    with caplog.at_level(logging.WARNING, logger="study.data"):
        s = data.load("cifar10", tmp_path, val_fraction=0.1)
    assert "MD5" in caplog.text  # tiny files are not the official ones: warned, still loaded
    _check_types(s)
    assert s.info.shape == (3, 32, 32) and s.info.classes == tuple(CIFAR_CLASSES)
    assert s.info.official_test
    np.testing.assert_array_equal(s.x_test, x_test)
    np.testing.assert_array_equal(s.y_test, y_test)
    assert s.sizes() == {"train": 90, "val": 10, "test": 20}
    assert _by_image(np.concatenate([s.x_train, s.x_val]),
                     np.concatenate([s.y_train, s.y_val])) == _by_image(x_train, y_train)


def test_cifar10_grayscale_matches_pil(tmp_path: Path) -> None:
    _, _, x_test, _ = _write_cifar(tmp_path)
    s = data.load("cifar10", tmp_path, grayscale=True)
    assert s.info.shape == (1, 32, 32)
    expected = np.stack([np.asarray(Image.fromarray(x.transpose(1, 2, 0)).convert("L"))
                         for x in x_test])
    np.testing.assert_array_equal(s.x_test[:, 0], expected)


def test_cifar10_resized(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    s = data.load("cifar10", tmp_path, image_size=48)
    _check_types(s)
    assert s.info.shape == (3, 48, 48)


def test_cifar10_missing_batch(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    message = _study_error("--download", "cifar10", tmp_path)
    assert "data_batch_3" in message and str(tmp_path / "cifar-10-batches-py") in message


# --- MedMNIST -----------------------------------------------------------------------------

def test_breastmnist_round_trip(tmp_path: Path) -> None:
    arrays = _write_medmnist(tmp_path, "breastmnist", channels=1, classes=2)
    s = data.load("breastmnist", tmp_path, val_fraction=0.5, split_ratio=0.5)
    _check_types(s)
    assert s.info.shape == (1, 28, 28) and s.info.official_test
    assert s.info.classes == ("malignant", "normal, benign")
    for part in ("train", "val", "test"):  # all three official splits kept as they are
        np.testing.assert_array_equal(getattr(s, f"x_{part}")[:, 0], arrays[f"{part}_images"])
        np.testing.assert_array_equal(getattr(s, f"y_{part}"), arrays[f"{part}_labels"][:, 0])


def test_bloodmnist_rgb_round_trip(tmp_path: Path) -> None:
    arrays = _write_medmnist(tmp_path, "bloodmnist", channels=3, classes=8)
    s = data.load("bloodmnist", tmp_path)
    _check_types(s)
    assert s.info.shape == (3, 28, 28) and len(s.info.classes) == 8
    assert s.info.classes[0] == "basophil"
    np.testing.assert_array_equal(s.x_train, arrays["train_images"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(s.y_test, arrays["test_labels"][:, 0])
    gray = data.load("bloodmnist", tmp_path, grayscale=True)
    assert gray.info.shape == (1, 28, 28)
    expected = np.asarray(Image.fromarray(arrays["val_images"][0]).convert("L"))
    np.testing.assert_array_equal(gray.x_val[0, 0], expected)


def test_medmnist_size_file(tmp_path: Path) -> None:
    arrays = _write_medmnist(tmp_path, "pneumoniamnist", channels=1, classes=2, size=64)
    s = data.load("pneumoniamnist", tmp_path, image_size=64)
    assert s.info.shape == (1, 64, 64)
    np.testing.assert_array_equal(s.x_test[:, 0], arrays["test_images"])
    message = _study_error("pneumoniamnist.npz", "pneumoniamnist", tmp_path)  # 28 missing
    assert str(tmp_path) in message
    _study_error("28, 64, 128, 224", "pneumoniamnist", tmp_path, image_size=50)


def test_medmnist_multi_label_refused(tmp_path: Path) -> None:
    _study_error("multi-label", "chestmnist", tmp_path)
    _study_error("3D", "organmnist3d", tmp_path)


def test_medmnist_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "dermamnist.npz").write_bytes(b"not a zip archive at all")
    message = _study_error("cannot read", "dermamnist", tmp_path)
    assert str(tmp_path) in message


# --- image_folder -------------------------------------------------------------------------

def test_image_folder_flat_rgb(tmp_path: Path) -> None:
    written = _write_folder(tmp_path, ["AD", "CN", "MCI"], per_class=10, mode="RGB")
    s = data.load("image_folder", tmp_path, split_ratio=0.2, val_fraction=0.25)
    _check_types(s)
    assert s.info.shape == (3, 64, 64) and s.info.classes == ("AD", "CN", "MCI")
    assert not s.info.official_test
    assert s.sizes() == {"train": 18, "val": 6, "test": 6}
    assert _by_image(*_all(s)) == written
    for part in ("train", "val", "test"):
        assert set(getattr(s, f"y_{part}")) == {0, 1, 2}


def test_image_folder_train_test_grayscale(tmp_path: Path) -> None:
    train = _write_folder(tmp_path / "train", ["cat", "dog"], per_class=10, mode="L", size=(32, 32))
    test = _write_folder(tmp_path / "test", ["cat", "dog"], per_class=3, mode="L", size=(32, 32))
    s = data.load("image_folder", tmp_path, image_size=32, grayscale=True, val_fraction=0.2)
    _check_types(s)
    assert s.info.shape == (1, 32, 32) and s.info.classes == ("cat", "dog")
    assert s.info.official_test
    assert s.sizes() == {"train": 16, "val": 4, "test": 6}
    assert _by_image(s.x_test, s.y_test) == test
    assert _by_image(np.concatenate([s.x_train, s.x_val]),
                     np.concatenate([s.y_train, s.y_val])) == train


def test_image_folder_official_val(tmp_path: Path) -> None:
    _write_folder(tmp_path / "train", ["a", "b", "c"], per_class=4, mode="RGB", size=(8, 8))
    val = _write_folder(tmp_path / "val", ["a", "b", "c"], per_class=2, mode="RGB", size=(8, 8))
    test = _write_folder(tmp_path / "test", ["b", "c"], per_class=2, mode="RGB", size=(8, 8))
    _write_folder(tmp_path / "test", ["a"], per_class=1, mode="RGB", size=(8, 8))
    s = data.load("image_folder", tmp_path, image_size=8)
    assert s.sizes() == {"train": 12, "val": 6, "test": 5}
    assert _by_image(s.x_val, s.y_val) == val
    assert {k: v - 1 for k, v in _by_image(s.x_test, s.y_test).items() if v} == test  # b, c


# --- classes: two or more, each in every split --------------------------------------------

def test_one_class_is_refused(tmp_path: Path) -> None:
    _write_folder(tmp_path, ["cats"], per_class=12, mode="L", size=(8, 8))
    message = _study_error("only 1 class", "image_folder", tmp_path, image_size=8)
    assert "'cats'" in message and "at least two" in message and str(tmp_path) in message


def test_official_split_without_a_class_is_refused(tmp_path: Path) -> None:
    _write_folder(tmp_path / "train", ["a", "b", "c"], per_class=4, mode="L", size=(8, 8))
    _write_folder(tmp_path / "test", ["c"], per_class=2, mode="L", size=(8, 8))
    message = _study_error("test split has no image of class 'a', 'b';", "image_folder",
                           tmp_path, image_size=8)
    assert "image_folder in" in message


def test_medmnist_validation_without_a_class_is_refused(tmp_path: Path) -> None:
    arrays = _write_medmnist(tmp_path, "breastmnist", channels=1, classes=2)
    arrays["val_labels"][:] = 0
    np.savez_compressed(tmp_path / "breastmnist.npz", **arrays)
    _study_error("validation split has no image of class 'normal, benign'", "breastmnist",
                 tmp_path)


def test_a_class_too_small_to_split_is_refused(tmp_path: Path) -> None:
    _write_folder(tmp_path, ["many", "one"], per_class=9, mode="L", size=(8, 8))
    for extra in list((tmp_path / "one").iterdir())[1:]:
        extra.unlink()  # one image of 'one': stratifying is impossible, some split lacks it
    _study_error("split has no image of class 'one'", "image_folder", tmp_path, image_size=8)


def test_resplit_without_a_class_fails_clearly() -> None:
    info = DatasetInfo("tiny", ("many", "one"), 1, (2, 2), official_test=False)
    x, y = _images(10, 1, 2, 2), np.array([0] * 9 + [1], dtype=np.int64)
    splits = from_pool(x, y, info, 0.2, 0.2, seed=0)
    with pytest.raises(ValueError, match=r"re-split tiny with split_ratio 0\.5 and "
                                         r"val_fraction 0\.2: the \w+ split has no image of "
                                         r"class 'one'"):
        splits.resplit(0.5, 0.2, seed=0)
    splits = from_pool(x, _balanced(10, 2), info, 0.2, 0.2, seed=0)
    with pytest.raises(ValueError, match=r"re-split tiny .*: The test_size = 1 should be"):
        splits.resplit(0.5, 0.2, seed=0)  # 1 validation image for 2 classes


def test_image_folder_resizes_and_converts(tmp_path: Path) -> None:
    _write_folder(tmp_path, ["x", "y"], per_class=5, mode="L", size=(30, 20))
    Image.fromarray(_images(1, 40, 40, 3)[0]).save(tmp_path / "x" / "photo.jpg", quality=90)
    s = data.load("image_folder", tmp_path, image_size=16, split_ratio=0.4)
    _check_types(s)
    assert s.info.shape == (3, 16, 16) and sum(s.sizes().values()) == 11
    default = data.load("image_folder", tmp_path, grayscale=True, split_ratio=0.4)
    assert default.info.shape == (1, 64, 64)


def test_image_folder_errors(tmp_path: Path) -> None:
    _study_error("not a directory", "image_folder", tmp_path / "missing")
    message = _study_error("class", "image_folder", tmp_path)  # empty directory
    assert str(tmp_path) in message
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_bytes(b"no png")
    assert "broken.png" in _study_error("cannot read image", "image_folder", tmp_path)


# --- errors and downloads -----------------------------------------------------------------

def test_unknown_name_and_missing_data_dir() -> None:
    message = _study_error("unknown dataset 'imagenet'", "imagenet")
    assert "digits" in message and "breastmnist" in message
    assert "fashion_mnist" in _study_error("did you mean", "fashon_mnist")
    for name in ("mnist", "cifar10", "breastmnist", "image_folder"):
        _study_error("--data-dir", name)


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST/raw"),
                                              ("fashion_mnist", "FashionMNIST/raw"),
                                              ("cifar10", "cifar-10-batches-py"),
                                              ("breastmnist", ".")])
def test_missing_files_offline(tmp_path: Path, name: str, folder: str) -> None:
    message = _study_error("--download", name, tmp_path)
    assert f"{tmp_path / folder} " in message  # Path drops a trailing "/."


def test_empty_file_offline(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"")
    message = _study_error("empty", "mnist", tmp_path)
    assert "t10k-labels-idx1-ubyte" in message and str(tmp_path / "MNIST" / "raw") in message
    (tmp_path / "breastmnist.npz").write_bytes(b"")
    _study_error("empty.*--download", "breastmnist", tmp_path)


def test_truncated_idx_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x99\x07")
    _study_error("cannot read", "mnist", tmp_path)


def test_bad_fractions() -> None:
    _study_error("split_ratio", "digits", split_ratio=1.0)
    _study_error("val_fraction", "digits", val_fraction=0.0)
    _study_error("image_size", "digits", image_size=0)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every torchvision / medmnist download goes through download_url: make it fail."""
    calls: list[str] = []

    def offline(url: str, *args: object, **kwargs: object) -> None:
        calls.append(url)
        raise URLError("offline")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    return calls


def test_no_download_unless_asked(tmp_path: Path, no_network: list[str]) -> None:
    for name in ("mnist", "cifar10", "breastmnist"):
        _study_error("--download", name, tmp_path)
    assert no_network == []


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "bloodmnist"])
def test_failed_download_is_one_line(tmp_path: Path, no_network: list[str], name: str) -> None:
    message = _study_error("download into .* failed", name, tmp_path / "new", download=True)
    assert no_network and (tmp_path / "new").is_dir()
    assert "offline" in message or "failed" in message


def test_download_with_files_present_uses_them(tmp_path: Path, no_network: list[str],
                                               caplog: pytest.LogCaptureFixture) -> None:
    _write_mnist(tmp_path, "MNIST")
    _write_medmnist(tmp_path, "breastmnist", channels=1, classes=2)
    _write_cifar(tmp_path)
    assert data.load("mnist", tmp_path, download=True).sizes()["test"] == 20
    assert no_network == []  # MNIST: present files are not fetched again
    with caplog.at_level(logging.WARNING, logger="study.data"):
        # MD5s differ from the official files: a fetch is tried, fails, the files are used
        assert data.load("breastmnist", tmp_path, download=True).sizes()["test"] == 24
        assert data.load("cifar10", tmp_path, download=True).sizes()["test"] == 20
    assert len(no_network) == 2
    assert caplog.text.count("using the files already there") == 2


@pytest.mark.parametrize("name", ["mnist", "cifar10", "breastmnist", "image_folder",
                                  "image_folder_train_test"])
def test_loaders_never_write_into_the_data_directory(tmp_path: Path, name: str) -> None:
    """(MNIST from .gz archives: `test_mnist_from_gz_only`.)"""
    key = "image_folder" if name == "image_folder_train_test" else name
    if key == "mnist":
        _write_mnist(tmp_path, "MNIST")
    elif key == "cifar10":
        _write_cifar(tmp_path)
    elif key == "breastmnist":
        _write_medmnist(tmp_path, key, channels=1, classes=2)
    elif name == "image_folder":
        _write_folder(tmp_path, ["a", "b"], per_class=6, mode="L", size=(8, 8))
    else:
        for part, n in (("train", 6), ("val", 2), ("test", 2)):
            _write_folder(tmp_path / part, ["a", "b"], per_class=n, mode="L", size=(8, 8))
    before = _snapshot(tmp_path)
    data.load(key, tmp_path, image_size=8 if key == "image_folder" else None)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["mnist", "cifar10", "breastmnist"])
def test_download_into_a_read_only_directory_is_refused_first(
        tmp_path: Path, no_network: list[str], read_only: Callable, name: str) -> None:
    read_only(tmp_path)
    message = _study_error("--download cannot write into", name, tmp_path, download=True)
    assert str(tmp_path) in message and "--data-dir" in message
    assert no_network == []  # refused before any download started


def test_numpy_image_size() -> None:
    assert data.load("digits", image_size=np.int64(12)).info.size == (12, 12)


def test_train_fraction_keeps_a_stratified_part_of_train_only() -> None:
    full = data.load("digits")
    part = data.load("digits", train_fraction=0.25)
    assert len(part.y_train) == pytest.approx(len(full.y_train) / 4, abs=1)
    assert np.array_equal(part.y_val, full.y_val) and np.array_equal(part.y_test, full.y_test)
    assert np.bincount(part.y_train).min() >= np.bincount(full.y_train).min() // 4 - 1
    rows = {r.tobytes() for r in full.x_train}
    assert all(r.tobytes() in rows for r in part.x_train)
    with pytest.raises(StudyError, match="train_fraction must be in"):
        data.load("digits", train_fraction=0.0)
