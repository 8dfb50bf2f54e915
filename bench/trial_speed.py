"""Trial speed: our trainables against a seed-style reference written here.

The reference is what the reports' code did: a torchvision-style DataLoader over the
training set every epoch, the model evaluated batch by batch through a DataLoader, and a
scikit-learn KNeighborsClassifier fitted once per k of the report grid. Same model, same
epochs, same CIFAR-10-shaped data (synthetic images: this is about time, not accuracy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.neighbors import KNeighborsClassifier
from torch.utils.data import DataLoader, TensorDataset

from bench.report import Figure, speedup
from study.splits import DatasetInfo, Splits
from trainables.knn import VaeKnnTask
from trainables.loop import DeviceSplits

REPORT_KS = (5, 10, 15, 25, 35, 50)
VAE_CONFIG: dict[str, Any] = {
    "arch": "dense", "latent_dim": 80, "n_neighbors": 25, "lr": 1e-3, "dropout": 0.0,
    "init": "default", "beta": 1.0, "batch_size": 128, "k_max": 50}


def cifar_shaped(n_train: int, n_test: int, seed: int = 0) -> Splits:
    """Random uint8 images 3×32×32 with 10 labels; validation and test both ``n_test``."""
    rng = np.random.default_rng(seed)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        return (rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8),
                rng.integers(0, 10, size=n).astype(np.int64))

    info = DatasetInfo("cifar_shaped", tuple(str(i) for i in range(10)), 3, (32, 32), True)
    return Splits(*part(n_train), *part(n_test), *part(n_test), info)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ours_vae(splits: Splits, epochs: int) -> float:
    """Our trial: device-resident data, per-epoch validation with the all-k k-NN, test once."""
    def trial() -> None:
        torch.manual_seed(0)
        dev = DeviceSplits.from_splits(splits, torch.device("cpu"))
        task = VaeKnnTask(VAE_CONFIG, dev, torch.Generator().manual_seed(0))
        for epoch in range(1, epochs + 1):
            task.train_epoch(epoch)
            task.validate()
        task.test()
    return timed(trial)


def reference_vae(splits: Splits, epochs: int) -> float:
    """The seed-style trial: DataLoaders, per-batch evaluation, scikit-learn k-NN per k."""
    def loader(x: np.ndarray, y: np.ndarray, shuffle: bool) -> DataLoader:
        data = TensorDataset(torch.from_numpy(x).float() / 255.0, torch.from_numpy(y))
        return DataLoader(data, batch_size=128, shuffle=shuffle)

    def encode(x: np.ndarray, y: np.ndarray, model: torch.nn.Module) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return torch.cat([model.encode(xb)[0] for xb, _ in loader(x, y, False)]).numpy()

    def trial() -> None:
        torch.manual_seed(0)
        dev = DeviceSplits.from_splits(splits, torch.device("cpu"))
        model = VaeKnnTask(VAE_CONFIG, dev, torch.Generator()).model
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            model.train()
            for xb, _ in loader(splits.x_train, splits.y_train, True):
                logits, mu, logvar = model(xb)
                loss = (F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
                        - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / len(xb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                for xb, _ in loader(splits.x_val, splits.y_val, False):
                    model(xb)
        train = encode(splits.x_train, splits.y_train, model)
        val = encode(splits.x_val, splits.y_val, model)
        for k in REPORT_KS:
            KNeighborsClassifier(n_neighbors=k).fit(train, splits.y_train).score(val, splits.y_val)
        test = encode(splits.x_test, splits.y_test, model)
        KNeighborsClassifier(n_neighbors=25).fit(train, splits.y_train).predict_proba(test)
    return timed(trial)


def run(quick: bool) -> list[Figure]:
    n_train, n_test, epochs = (10_000, 2_000, 1) if quick else (50_000, 10_000, 2)
    splits = cifar_shaped(n_train, n_test)
    shape = f"{n_train} train / {n_test} val+test 3x32x32, {epochs} epoch(s)"
    base = reference_vae(splits, epochs)
    ours = ours_vae(splits, epochs)
    return [speedup(f"vae_knn_trial ({shape})", ours, base, "s", ">= 1.5x CPU, >= 5x GPU")]
