"""Dataset name -> `Splits`: every image set a study can run on, loaded once on the driver.

Images come back as uint8 arrays N×C×H×W and labels as int64 arrays N (see `core.splits`).
Validation is carved from the training images (stratified, seeded by ``seed``) unless the set
ships an official validation split, which is then kept as it is; official test splits are
always kept as they are.  ``split_ratio`` (the test fraction) applies only to sets without an
official test split.  Nothing is downloaded unless ``download=True`` (``--download``); when a
download fails but the expected files are there (e.g. a subset whose MD5 differs from the
official files), they are used with a warning.  Missing files, a failed download or unreadable
files raise a one-line `StudyError` naming the directory and the files expected there; so do a
data directory ``download=True`` cannot write into (checked before downloading), fewer than
two classes, and a split left without an image of some class (`core.splits.class_problem`).
Without ``download=True`` nothing is written into the data directory: it may be read-only.

Dataset names (``DATASETS``) and the files each one expects under ``data_dir``:

``digits``
    scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes, values 0..16
    scaled to 0..255).  Embedded: works offline, ``data_dir`` is ignored.  No official test
    split.

``mnist``, ``fashion_mnist``
    Read by ``torchvision.datasets.MNIST`` / ``FashionMNIST`` (28×28, 1 channel, official test
    split).  torchvision reads the *unpacked* IDX files::

        <data_dir>/MNIST/raw/train-images-idx3-ubyte      (FashionMNIST/raw/ for fashion_mnist)
        <data_dir>/MNIST/raw/train-labels-idx1-ubyte
        <data_dir>/MNIST/raw/t10k-images-idx3-ubyte
        <data_dir>/MNIST/raw/t10k-labels-idx1-ubyte

    A download leaves the ``.gz`` archives next to them.  Where only the ``.gz`` file is
    there (copied from elsewhere), it is unpacked into a temporary directory (under
    ``$TMPDIR``) for reading and removed after, never next to the archive.

``cifar10``
    Read by ``torchvision.datasets.CIFAR10`` (32×32, 3 channels, official test split) from the
    pickled batches of the python version::

        <data_dir>/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta

    torchvision refuses batches whose MD5 differs from the official files.  Offline the batches
    are read by the same torchvision code but only checked for presence (subclass
    ``_PresentCIFAR10``); an MD5 mismatch is logged as a warning, not an error, so subsets or
    re-packed copies still load.  With ``download=True`` torchvision's own MD5 check applies
    and mismatching files are downloaded again (if that fails, they are used with a warning).

MedMNIST 2D flags (``pathmnist``, ``dermamnist``, ``octmnist``, ``pneumoniamnist``,
``retinamnist``, ``breastmnist``, ``bloodmnist``, ``tissuemnist``, ``organamnist``,
``organcmnist``, ``organsmnist``)
    Read by medmnist's own dataset classes from one NumPy archive per flag and size::

        <data_dir>/<flag>.npz          (28×28, the default)
        <data_dir>/<flag>_<size>.npz   (image_size 64, 128 or 224)

    holding ``{train,val,test}_images`` and ``{train,val,test}_labels``.  The official train,
    validation and test splits are all kept (``val_fraction`` and ``split_ratio`` are unused).
    Class names come from ``medmnist.INFO[flag]["label"]``.  The multi-label ``chestmnist``
    is refused: a study here optimises single-label classification.

``image_folder``
    Any images torchvision's ``ImageFolder`` reads (PNG, JPEG, BMP, TIFF, ...), one
    sub-folder per class, the folder names being the class names::

        <data_dir>/<class>/<image>                      (no official test split), or
        <data_dir>/train/<class>/<image>                (official test split from test/,
        <data_dir>/test/<class>/<image>                  official validation from val/
        [<data_dir>/val/<class>/<image>]                 when that folder exists)

    Every image is resized to ``image_size`` × ``image_size`` (default 64, aspect ratio not
    kept, bilinear with antialiasing) and converted to RGB, or to 1-channel luma with
    ``grayscale=True``.

``image_size`` and ``grayscale`` for the other sets: ``image_size`` resizes digits, MNIST,
Fashion-MNIST and CIFAR-10 images (bilinear, antialiased, rounded back to uint8); for MedMNIST
it picks the published file of that size (28, 64, 128 or 224, others are refused).
``grayscale=True`` turns 3-channel sets into 1 channel with the ITU-R 601-2 luma transform
(the same integer arithmetic as PIL's ``convert("L")``); it changes nothing for 1-channel sets.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import logging
import numbers
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.error import URLError

import medmnist
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from sklearn.datasets import load_digits
from torchvision.datasets.utils import check_md5

from core.errors import StudyError
from core.splits import DatasetInfo, Splits, class_problem, from_pool, with_official_test

if TYPE_CHECKING:
    from study.spec import StudySpec

log = logging.getLogger(__name__)

_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_MULTI_LABEL = tuple(flag for flag, info in medmnist.INFO.items() if "multi-label" in info["task"])
_MEDMNIST_2D = tuple(
    flag for flag, info in medmnist.INFO.items()
    if issubclass(getattr(medmnist, info["python_class"]), medmnist.dataset.MedMNIST2D)
    and flag not in _MULTI_LABEL
)
_MEDMNIST_SIZES = tuple(medmnist.dataset.MedMNIST2D.available_sizes)

DATASETS: tuple[str, ...] = ("digits", *_TORCHVISION, *_MEDMNIST_2D, "image_folder")
"""Every dataset name `load` accepts."""

DEFAULT_IMAGE_SIZE = 64
"""Side length image_folder images are resized to unless ``image_size`` is given."""

# What torchvision / numpy / pickle raise on a file that exists but is truncated or not in
# the expected format.  Caught only around the third-party call that reads the files.
_UNREADABLE = (ValueError, KeyError, EOFError, AssertionError, TypeError, RuntimeError,
               pickle.UnpicklingError, zipfile.BadZipFile)
# What a failed download raises (torchvision: RuntimeError or URLError/OSError; medmnist:
# RuntimeError).  Caught only around the call that downloads.
_DOWNLOAD_FAILED = (RuntimeError, URLError, OSError)


def load(name: str, data_dir: str | Path | None = None, *, split_ratio: float = 0.2,
         val_fraction: float = 0.2, seed: int = 0, download: bool = False,
         image_size: int | None = None, grayscale: bool = False,
         train_fraction: float = 1.0) -> Splits:
    """Load dataset ``name`` as seeded train / validation / test splits.

    ``split_ratio`` is the test fraction for sets without an official test split;
    ``val_fraction`` the part of the training images held out for validation when the set
    has no official validation split; ``train_fraction`` the stratified part of the training
    images kept.  See the module docstring for names and file layouts.
    Raises `StudyError` (one line) for anything the caller can get wrong.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise StudyError(_unknown_message(name, key))
    for label, fraction in (("split_ratio", split_ratio), ("val_fraction", val_fraction)):
        if not 0.0 < fraction < 1.0:
            raise StudyError(f"{label} must be between 0 and 1 (exclusive), got {fraction}")
    if image_size is not None:
        if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) \
                or image_size < 1:
            raise StudyError(f"image_size must be a positive integer, got {image_size!r}")
        image_size = int(image_size)

    where = key
    if key == "digits":
        splits = _digits(split_ratio, val_fraction, seed, image_size)
    else:
        root = _data_dir(key, data_dir, download)
        where = f"{key} in {root}"
        if key in _TORCHVISION:
            splits = _torchvision(key, root, val_fraction, seed, download, image_size, grayscale)
        elif key in _MEDMNIST_2D:
            splits = _medmnist(key, root, download, image_size, grayscale)
        else:
            splits = _image_folder(root, split_ratio, val_fraction, seed,
                                   image_size or DEFAULT_IMAGE_SIZE, grayscale)
    if not 0.0 < train_fraction <= 1.0:
        raise StudyError(f"train_fraction must be in (0, 1], got {train_fraction}")
    try:
        splits = splits.fewer_train(train_fraction, seed)
    except ValueError as err:  # scikit-learn: too few images of a class to keep one
        raise StudyError(f"{where}: train_fraction {train_fraction}: {err}") from None
    if problem := class_problem(splits):
        raise StudyError(f"{where}: {problem}")
    log.info("loaded %s: %s, images %s, %d classes", key, splits.sizes(),
             "×".join(map(str, splits.info.shape)), splits.info.num_classes)
    return splits


def load_for(spec: StudySpec) -> Splits:
    """The dataset of the study ``spec`` describes, as the driver hands it to the trials."""
    return load(spec.dataset, spec.data_dir, split_ratio=spec.split_ratio,
                val_fraction=spec.val_fraction, seed=spec.seed, download=spec.download,
                image_size=spec.image_size, grayscale=spec.grayscale,
                train_fraction=spec.train_fraction)


def _unknown_message(name: str, key: str) -> str:
    if key in _MULTI_LABEL:
        return (f"dataset '{name}' is a multi-label MedMNIST set; studies here need one label "
                f"per image (single-label MedMNIST 2D sets: {', '.join(_MEDMNIST_2D)})")
    if key in medmnist.INFO:
        return (f"dataset '{name}' is a 3D MedMNIST set; only 2D images are supported "
                f"(MedMNIST 2D sets: {', '.join(_MEDMNIST_2D)})")
    close = difflib.get_close_matches(key, DATASETS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown dataset '{name}'; {hint}choose one of: {', '.join(DATASETS)}"


def _data_dir(key: str, data_dir: str | Path | None, download: bool) -> Path:
    """The data directory of a non-embedded set; created only when downloading."""
    if data_dir is None:
        raise StudyError(f"dataset '{key}' needs a data directory (--data-dir); "
                         f"only 'digits' is embedded")
    root = Path(data_dir).expanduser()
    if download and key != "image_folder":
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StudyError(f"cannot create data directory {root}: {e.strerror or e}") from e
    return root


def _require_writable(key: str, *folders: Path) -> None:
    """StudyError unless a file can be created in each existing folder (before a download).

    A real probe rather than mode bits: those do not stop root, a read-only mount does.
    """
    for folder in (f for f in folders if f.is_dir()):
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise StudyError(f"{key}: --download cannot write into {folder} "
                             f"({e.strerror or e}); pass a writable --data-dir, or leave out "
                             f"--download to read the files already there") from e


# --- digits -------------------------------------------------------------------------------

def _digits(split_ratio: float, val_fraction: float, seed: int,
            image_size: int | None) -> Splits:
    bunch = load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    x = _resize(x, image_size)
    y = bunch.target.astype(np.int64)
    info = DatasetInfo("digits", tuple(str(c) for c in bunch.target_names), 1,
                       (x.shape[2], x.shape[3]), official_test=False)
    with _split_errors("digits", y):
        return from_pool(x, y, info, split_ratio, val_fraction, seed)


# --- torchvision: MNIST, Fashion-MNIST, CIFAR-10 ------------------------------------------

class _PresentCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10 that checks the batches are present instead of checking MD5s.

    Reading is torchvision's own code; only the integrity test differs, so that subsets,
    re-packed copies and the tiny test files load offline.  `_cifar_md5_mismatches` reports
    non-official files separately, as a warning.
    """

    # md5 None: torchvision's check_integrity then tests presence only (used for batches.meta)
    meta: ClassVar[dict[str, str | None]] = {**torchvision.datasets.CIFAR10.meta, "md5": None}

    def _check_integrity(self) -> bool:
        folder = Path(self.root, self.base_folder)
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)


def _torchvision_files(key: str, root: Path) -> tuple[Path, list[str]]:
    """The folder torchvision reads and the files it needs there."""
    cls = getattr(torchvision.datasets, _TORCHVISION[key])
    if key == "cifar10":
        names = [n for n, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return root / cls.base_folder, names
    names = [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]
    return root / cls.__name__ / "raw", names


def _torchvision(key: str, root: Path, val_fraction: float, seed: int, download: bool,
                 image_size: int | None, grayscale: bool) -> Splits:
    cls = getattr(torchvision.datasets, _TORCHVISION[key])
    folder, names = _torchvision_files(key, root)
    if download:
        _require_writable(key, root, folder)  # torchvision writes into one or the other
        with _download_errors(key, folder, names):
            cls(str(root), train=True, download=True)
    source = contextlib.nullcontext(root)
    if key == "cifar10":
        cls = _PresentCIFAR10
        _require_files(key, folder, names)
    elif not _mnist_legacy_exists(cls, root):
        _require_files(key, folder, names, gz_ok=True)
        source = _unpacked_mnist(key, root, folder, names)
    with _read_errors(key, folder), source as read_root:
        train, test = cls(str(read_root), train=True), cls(str(read_root), train=False)
    if key == "cifar10":
        if bad := _cifar_md5_mismatches(folder):
            log.warning("cifar10: %s in %s differ from the official CIFAR-10 files (MD5); "
                        "loading them anyway", ", ".join(bad), folder)
        x_train = np.ascontiguousarray(train.data.transpose(0, 3, 1, 2))
        x_test = np.ascontiguousarray(test.data.transpose(0, 3, 1, 2))
    else:
        x_train, x_test = train.data.numpy()[:, None], test.data.numpy()[:, None]
    x_train, x_test = (_resize(_gray(x, grayscale), image_size) for x in (x_train, x_test))
    info = DatasetInfo(key, tuple(train.classes), x_train.shape[1],
                       (x_train.shape[2], x_train.shape[3]), official_test=True)
    y_train, y_test = _labels(train.targets), _labels(test.targets)
    with _split_errors(key, y_train):
        return with_official_test(x_train, y_train, x_test, y_test, info, val_fraction, seed)


def _mnist_legacy_exists(cls: type, root: Path) -> bool:
    """Old torchvision versions cached MNIST as processed/{training,test}.pt; still read."""
    processed = root / cls.__name__ / "processed"
    return all((processed / f).is_file() for f in (cls.training_file, cls.test_file))


def _raw_or_gz(folder: Path, name: str) -> str:
    """``name`` when that IDX file is there, else ``name.gz`` when its archive is."""
    return f"{name}.gz" if not (folder / name).is_file() \
        and (folder / f"{name}.gz").is_file() else name


@contextlib.contextmanager
def _unpacked_mnist(key: str, root: Path, folder: Path, names: list[str]) -> Iterator[Path]:
    """The root torchvision reads: ``root``, or where IDX files are there only as ``.gz``, a
    temporary copy of its layout with them unpacked (and links to the others), removed once
    read.  The data directory is never written: it may be a read-only shared mount."""
    if all((folder / n).is_file() for n in names):
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="hpstudy-") as tmp:
        raw = Path(tmp, folder.relative_to(root))
        raw.mkdir(parents=True)
        for name in names:
            if (folder / name).is_file():
                (raw / name).symlink_to((folder / name).resolve())
                continue
            archive = folder / f"{name}.gz"
            log.info("%s: unpacking %s into %s", key, archive, raw)
            try:
                with gzip.open(archive, "rb") as src, open(raw / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
                raise StudyError(f"{key}: cannot unpack {archive}: {_one_line(e)}") from e
        yield Path(tmp)


def _cifar_md5_mismatches(folder: Path) -> list[str]:
    cls = torchvision.datasets.CIFAR10
    expected = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    return [name for name, md5 in expected if not check_md5(str(folder / name), md5)]


# --- MedMNIST -----------------------------------------------------------------------------

def _medmnist(flag: str, root: Path, download: bool, image_size: int | None,
              grayscale: bool) -> Splits:
    size = image_size or 28
    if size not in _MEDMNIST_SIZES:
        raise StudyError(f"{flag}: MedMNIST publishes images of size "
                         f"{', '.join(map(str, _MEDMNIST_SIZES))}, not {size}")
    info = medmnist.INFO[flag]
    cls = getattr(medmnist, info["python_class"])
    size_flag = "" if size == 28 else f"_{size}"  # medmnist's own file naming
    file = f"{flag}{size_flag}.npz"
    if download:
        _require_writable(flag, root)
        with _download_errors(flag, root, [file], extra=f"or fetch {info['url' + size_flag]} "
                                                         f"into that directory yourself"):
            cls(split="train", root=str(root), download=True, size=size)
    _require_files(flag, root, [file])
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("train", "val", "test"):
        with _read_errors(flag, root):
            ds = cls(split=split, root=str(root), download=False, size=size)
            imgs, labels = np.asarray(ds.imgs), np.asarray(ds.labels)
        if labels.ndim == 2 and labels.shape[1] != 1:
            raise StudyError(f"{flag}: {root / file} holds {labels.shape[1]} labels per image; "
                             f"only single-label sets are supported")
        x = imgs[:, None] if imgs.ndim == 3 else imgs.transpose(0, 3, 1, 2)
        x = _gray(np.ascontiguousarray(x, dtype=np.uint8), grayscale)
        parts[split] = (x, labels.reshape(-1).astype(np.int64))
    names = tuple(info["label"][str(i)] for i in range(len(info["label"])))
    x_train = parts["train"][0]
    dinfo = DatasetInfo(flag, names, x_train.shape[1], (x_train.shape[2], x_train.shape[3]),
                        official_test=True)
    return Splits(*parts["train"], *parts["val"], *parts["test"], dinfo)


# --- image_folder -------------------------------------------------------------------------

def _image_folder(root: Path, split_ratio: float, val_fraction: float, seed: int,
                  size: int, grayscale: bool) -> Splits:
    if not root.is_dir():
        raise StudyError(f"image_folder: {root} is not a directory (expected class "
                         f"sub-folders, or train/ and test/ each holding class sub-folders)")
    channels = 1 if grayscale else 3
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = _read_folder(root / "train", size, grayscale)
        x_test, y_test = _read_split(root / "test", classes, size, grayscale)
        info = DatasetInfo("image_folder", classes, channels, (size, size), official_test=True)
        if (root / "val").is_dir():
            x_val, y_val = _read_split(root / "val", classes, size, grayscale)
            return Splits(x_train, y_train, x_val, y_val, x_test, y_test, info)
        with _split_errors("image_folder", y_train):
            return with_official_test(x_train, y_train, x_test, y_test, info, val_fraction, seed)
    x, y, classes = _read_folder(root, size, grayscale)
    info = DatasetInfo("image_folder", classes, channels, (size, size), official_test=False)
    with _split_errors("image_folder", y):
        return from_pool(x, y, info, split_ratio, val_fraction, seed)


def _read_split(folder: Path, classes: tuple[str, ...], size: int,
                grayscale: bool) -> tuple[np.ndarray, np.ndarray]:
    """A test/val folder, its labels mapped to the training class indices."""
    x, y, found = _read_folder(folder, size, grayscale)
    if unknown := sorted(set(found) - set(classes)):
        raise StudyError(f"image_folder: {folder} has classes not in train/: "
                         f"{', '.join(unknown)}")
    index = np.array([classes.index(c) for c in found], dtype=np.int64)
    return x, index[y]


def _read_folder(folder: Path, size: int, grayscale: bool
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode every image of an ImageFolder tree once, resized, into one uint8 array."""
    mode = "L" if grayscale else "RGB"

    def loader(path: str) -> np.ndarray:
        try:
            with Image.open(path) as img:
                img = img.convert(mode)
                if img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8)
        except (OSError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
            raise StudyError(f"image_folder: cannot read image {path}: {e}") from e

    try:
        ds = torchvision.datasets.ImageFolder(str(folder), loader=loader)
    except FileNotFoundError as e:
        raise StudyError(f"image_folder: {' '.join(str(e).split())} (expected one "
                         f"sub-folder of images per class in {folder})") from e
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:  # PIL decodes and resizes without the GIL
        images = list(pool.map(lambda i: ds[i][0], range(len(ds))))
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    log.debug("image_folder: read %d images from %s", len(x), folder)
    return np.ascontiguousarray(x), _labels(ds.targets), tuple(ds.classes)


# --- shared helpers -----------------------------------------------------------------------

def _labels(targets: object) -> np.ndarray:
    if isinstance(targets, torch.Tensor):
        targets = targets.numpy()
    return np.asarray(targets, dtype=np.int64).reshape(-1)


def _gray(x: np.ndarray, grayscale: bool) -> np.ndarray:
    """N×3×H×W -> N×1×H×W with PIL's ``convert("L")`` arithmetic; other shapes unchanged."""
    if not grayscale or x.shape[1] != 3:
        return x
    r, g, b = (x[:, i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[:, None]


def _resize(x: np.ndarray, size: int | None, chunk: int = 2048) -> np.ndarray:
    """Resize N×C×H×W uint8 images to size×size (bilinear, antialiased), chunk by chunk.

    torch interpolates uint8 directly (the fast path torchvision's resize uses), rounding to
    the nearest value; channels-last memory makes it faster still.
    """
    if size is None or x.shape[2:] == (size, size):
        return x
    out = np.empty((len(x), x.shape[1], size, size), dtype=np.uint8)
    for start in range(0, len(x), chunk):
        part = torch.from_numpy(x[start:start + chunk]).contiguous(
            memory_format=torch.channels_last)
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=True)
        out[start:start + chunk] = part.numpy()
    return out


def _require_files(key: str, folder: Path, names: list[str], gz_ok: bool = False) -> None:
    """StudyError naming the folder and the files when any is missing or empty; with
    ``gz_ok`` a file's ``.gz`` archive stands in for it."""
    files = [_raw_or_gz(folder, n) if gz_ok else n for n in names]
    missing = [n for n in files if not (folder / n).is_file()]
    empty = [n for n in files if n not in missing and (folder / n).stat().st_size == 0]
    expected = f"expected {', '.join(names)}{' or the same names with .gz' if gz_ok else ''}"
    if len(missing) == len(names):
        problem = f"no {key} files in {folder} ({expected})"
    elif missing or empty:
        what = "missing" if missing else "empty"
        problem = f"{key} files {what} in {folder}: {', '.join(missing or empty)} ({expected})"
    else:
        return
    raise StudyError(f"{problem}; pass --download when online")


@contextlib.contextmanager
def _download_errors(key: str, folder: Path, names: list[str], extra: str = "") -> Iterator[None]:
    """A failed download: a one-line StudyError, or a warning when the files are there anyway.

    The files can be there but rejected by the downloader (their MD5 differs from the
    official files, as for subsets); they are then read as when not downloading.
    """
    try:
        yield
    except _DOWNLOAD_FAILED as e:
        log.debug("%s: download failed", key, exc_info=True)
        if all((folder / n).is_file() for n in names):
            log.warning("%s: download into %s failed (%s); using the files already there",
                        key, folder, _one_line(e))
            return
        raise StudyError(f"{key}: download into {folder} failed ({_one_line(e)}); check the "
                         f"connection {extra or 'or place the files there yourself'}") from e


@contextlib.contextmanager
def _read_errors(key: str, folder: Path) -> Iterator[None]:
    """Translate an unreadable (truncated, wrong-format) data file into a StudyError."""
    try:
        yield
    except _UNREADABLE as e:
        log.debug("%s: reading %s failed", key, folder, exc_info=True)
        raise StudyError(f"{key}: cannot read the files in {folder} ({_one_line(e)}); they may "
                         f"be truncated or in another format: remove them and pass --download "
                         f"when online") from e


@contextlib.contextmanager
def _split_errors(key: str, y: np.ndarray) -> Iterator[None]:
    """sklearn's refusal to split too few images (stratified) as a StudyError."""
    try:
        yield
    except ValueError as e:
        raise StudyError(f"{key}: cannot split {len(y)} images of {len(np.unique(y))} classes "
                         f"into train/validation/test ({_one_line(e)}); use more images or "
                         f"other fractions") from e


def _one_line(e: BaseException, limit: int = 200) -> str:
    text = f"{type(e).__name__}: {' '.join(str(e).split())}".rstrip(": ")
    return text if len(text) <= limit else text[:limit - 1] + "…"
