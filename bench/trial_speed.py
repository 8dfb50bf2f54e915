"""Trial speed: our trainables against a seed-style reference written here.

The reference is what the reports' code did: a torchvision-style dataset (each image turned
into a PIL image and through the transforms, one sample at a time, as
``torchvision.datasets.CIFAR10.__getitem__`` does) behind a DataLoader every epoch, the model
evaluated batch by batch through a DataLoader, and for k-NN a scikit-learn
KNeighborsClassifier fitted once per k of the report grid. Same model, same hyperparameters,
same epochs, same CIFAR-10-shaped data (synthetic images: this is about time, not accuracy).
On a machine with a GPU both run on it: the reference moves each batch to the device, as the
reports' code did, and ours runs with the study's default precision (bf16 autocast on CUDA).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.neighbors import KNeighborsClassifier
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from bench.report import Figure, speedup
from core.splits import DatasetInfo, Splits
from search_spaces import medmnist_resnet as medmnist_space
from study.spec import StudySpec
from trainables.cnn import make_task as make_cnn_task
from trainables.knn import VaeKnnTask
from trainables.loop import Acceleration, DeviceSplits
from trainables.medmnist_resnet import make_task as make_medmnist_task

REPORT_KS = (5, 10, 15, 25, 35, 50)
VAE_CONFIG: dict[str, Any] = {
    "arch": "dense", "latent_dim": 80, "n_neighbors": 25, "lr": 1e-3, "dropout": 0.0,
    "init": "default", "beta": 1.0, "batch_size": 128, "k_max": 50}
#: Report 004's ResNet-18 (Adam 1e-4, batch 8, augmentation), where the optimiser step
#: weighs most: 11 M parameters for every 8 images.
RESNET_CONFIG: dict[str, Any] = {**medmnist_space.DEFAULTS, **medmnist_space.REPORT004,
                                 "max_epochs": 1}
#: Report 002's CIFAR-10 CNN with its augmentation and SGD (batch 64 instead of the report's 4,
#: which would make both sides per-step bound).
CNN_CONFIG: dict[str, Any] = {
    "arch": "cifar_cnn", "dropout": 0.0, "init": "default", "optimizer": "sgd", "lr": 1e-3,
    "momentum": 0.9, "weight_decay": 0.0, "batch_size": 64, "augment": "flip_crop"}


class TorchvisionStyle(Dataset):
    """uint8 N×C×H×W images served like torchvision's datasets: PIL image, then transforms."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: Callable[[Any], Any]) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.x[i].transpose(1, 2, 0))), int(self.y[i])


def loader(x: np.ndarray, y: np.ndarray, batch_size: int, train: bool,
           augment: list[Any] | None = None) -> DataLoader:
    """A fresh torchvision-style DataLoader (the reports built one per split)."""
    transform = transforms.Compose([*(augment or []), transforms.ToTensor()])
    return DataLoader(TorchvisionStyle(x, y, transform), batch_size=batch_size, shuffle=train)


def cifar_shaped(n_train: int, n_test: int, seed: int = 0, *, channels: int = 3,
                 side: int = 32, classes: int = 10) -> Splits:
    """Random uint8 images (3×32×32 with 10 labels unless told); validation and test both
    ``n_test``."""
    rng = np.random.default_rng(seed)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        return (rng.integers(0, 256, size=(n, channels, side, side), dtype=np.uint8),
                rng.integers(0, classes, size=n).astype(np.int64))

    info = DatasetInfo("cifar_shaped", tuple(str(i) for i in range(classes)), channels,
                       (side, side), True)
    return Splits(*part(n_train), *part(n_test), *part(n_test), info)


def bench_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def on_device(splits: Splits) -> DeviceSplits:
    """The splits on the bench device, with the study's default acceleration there."""
    device = bench_device()
    accel = Acceleration.from_config({"precision": StudySpec.precision}, device)
    return DeviceSplits.from_splits(splits, device, accel)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ours(splits: Splits, epochs: int,
         make_task: Callable[[DeviceSplits, torch.Generator], Any]) -> float:
    """Our trial: device-resident data, per-epoch validation (the all-k k-NN for the k-NN
    methods, on-device augmentation for the CNN), test once."""
    def trial() -> None:
        torch.manual_seed(0)
        task = make_task(on_device(splits), torch.Generator().manual_seed(0))
        for epoch in range(1, epochs + 1):
            task.train_epoch(epoch)
            task.validate()
        task.test()
    return timed(trial)


def reference_vae(splits: Splits, epochs: int) -> float:
    """The seed-style trial: DataLoaders, per-batch evaluation, scikit-learn k-NN per k."""
    device = bench_device()

    def encode(x: np.ndarray, y: np.ndarray, model: torch.nn.Module) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return torch.cat([model.encode(xb.to(device))[0].cpu()
                              for xb, _ in loader(x, y, 128, False)]).numpy()

    def trial() -> None:
        torch.manual_seed(0)
        dev = DeviceSplits.from_splits(splits, device)
        model = VaeKnnTask(VAE_CONFIG, dev, torch.Generator()).model
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            model.train()
            for xb, _ in loader(splits.x_train, splits.y_train, 128, True):
                xb = xb.to(device)
                logits, mu, logvar = model(xb)
                loss = (F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
                        - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / len(xb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                for xb, _ in loader(splits.x_val, splits.y_val, 128, False):
                    model(xb.to(device))
        train = encode(splits.x_train, splits.y_train, model)
        val = encode(splits.x_val, splits.y_val, model)
        for k in REPORT_KS:
            KNeighborsClassifier(n_neighbors=k).fit(train, splits.y_train).score(val, splits.y_val)
        test = encode(splits.x_test, splits.y_test, model)
        KNeighborsClassifier(n_neighbors=25).fit(train, splits.y_train).predict_proba(test)
    return timed(trial)


def reference_cnn(splits: Splits, epochs: int) -> float:
    """Report 002's loop: torchvision transforms per sample, per-batch validation."""
    device = bench_device()

    def trial() -> None:
        torch.manual_seed(0)
        dev = DeviceSplits.from_splits(splits, device)
        model = make_cnn_task(CNN_CONFIG, dev, torch.Generator()).model
        optimizer = torch.optim.SGD(model.parameters(), lr=CNN_CONFIG["lr"],
                                    momentum=CNN_CONFIG["momentum"])
        augment = [transforms.RandomHorizontalFlip(), transforms.RandomCrop(32, padding=4)]
        for _ in range(epochs):
            model.train()
            for xb, yb in loader(splits.x_train, splits.y_train, 64, True, augment):
                loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                for xb, yb in loader(splits.x_val, splits.y_val, 64, False):
                    F.cross_entropy(model(xb.to(device)), yb.to(device))
        with torch.no_grad():
            for xb, _ in loader(splits.x_test, splits.y_test, 64, False):
                torch.softmax(model(xb.to(device)), 1).cpu()
    return timed(trial)


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The fastest of ``runs`` timings: the first run pays one-off warm-up (oneDNN kernels)."""
    return min(fn() for _ in range(runs))


def run(quick: bool) -> list[Figure]:
    n_train, n_test, epochs = (10_000, 2_000, 1) if quick else (50_000, 10_000, 2)
    splits = cifar_shaped(n_train, n_test)
    device = bench_device().type
    shape = (f"{n_train} train / {n_test} val+test 3x32x32, {epochs} epoch(s), {device}, "
             "best of 2")
    target = ">= 1.5x CPU, >= 5x GPU"
    figures = []
    for name, make_task, reference in (
            ("vae_knn_trial", lambda dev, gen: VaeKnnTask(VAE_CONFIG, dev, gen), reference_vae),
            ("cnn_trial", lambda dev, gen: make_cnn_task(CNN_CONFIG, dev, gen), reference_cnn)):
        theirs = best_of(2, lambda ref=reference: ref(splits, epochs))
        mine = best_of(2, lambda make=make_task: ours(splits, epochs, make))
        figures.append(speedup(f"{name} ({shape})", mine, theirs, "s", target))
    # Images through the whole cnn trial (train and validation every epoch, test once) a second.
    images = (n_train + n_test) * epochs + n_test
    cnn = figures[-1]
    figures.append(Figure(f"cnn_trial_samples_per_s ({shape})", images / cnn.value,
                          images / cnn.baseline, "samples/s", "higher", cnn.ratio))
    return [*figures, resnet_optimizer(epochs), resnet_ema(epochs)]


def resnet_epochs(epochs: int, config: dict[str, Any], plain_adam: bool = False) -> float:
    """Seconds of ``epochs`` training epochs of report 004's ResNet-18 (``config`` over
    :data:`RESNET_CONFIG`) on BreastMNIST-shaped data (546 images 1×28×28, batch 8);
    ``plain_adam``: torch's default Adam instead of our fused one."""
    splits = cifar_shaped(546, 78, channels=1, side=28, classes=2)
    torch.manual_seed(0)
    task = make_medmnist_task({**RESNET_CONFIG, **config}, on_device(splits), torch.Generator())
    if plain_adam:
        task.optimizer = torch.optim.Adam(task.model.parameters(), lr=RESNET_CONFIG["lr"])
    return timed(lambda: [task.train_epoch(e) for e in range(1, epochs + 1)])


def resnet_optimizer(epochs: int) -> Figure:
    """Our fused Adam against torch's default one (a loop over the parameters on a CPU,
    ``foreach`` on CUDA), the rest the same (:func:`resnet_epochs`)."""
    plain = best_of(2, lambda: resnet_epochs(epochs, {}, plain_adam=True))
    fused = best_of(2, lambda: resnet_epochs(epochs, {}))
    return speedup(f"resnet_epochs_fused_adam (546 train 1x28x28, batch 8, {epochs} "
                   f"epoch(s), {bench_device().type}, best of 2)", fused, plain, "s", "> 1x")


def resnet_ema(epochs: int) -> Figure:
    """The cost of ``weight_average=ema`` (an update of the average after every optimiser
    step) against training without it (:func:`resnet_epochs`): ratio plain / ema."""
    plain = best_of(2, lambda: resnet_epochs(epochs, {}))
    ema = best_of(2, lambda: resnet_epochs(epochs, {"weight_average": "ema"}))
    return speedup(f"resnet_epochs_ema (546 train 1x28x28, batch 8, {epochs} epoch(s), "
                   f"{bench_device().type}, best of 2)", ema, plain, "s", ">= 0.9x")
