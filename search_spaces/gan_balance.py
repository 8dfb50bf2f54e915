"""Search space of ``gan_balance``: conditional DCGAN balancing + retrained classifier
(report 004, BreastMNIST); see trainables/gan_balance.py for the stages."""

from __future__ import annotations

from typing import Any

import optuna

#: imbalance: fraction kept of each upper-half class in the training split (1 = untouched);
#: grid_columns: generated images per class in samples.png.
DEFAULTS: dict[str, Any] = {"imbalance": 1.0, "grid_columns": 8, "init": "default",
                            "optimizer": "adam", "momentum": 0.9, "weight_decay": 0.0}


def space(trial: optuna.Trial) -> None:
    """GAN stage length, balancing ratio and DCGAN knobs; classifier and its training."""
    trial.suggest_float("gan_fraction", 0.2, 0.6)
    trial.suggest_float("balance_ratio", 0.5, 1.0)
    trial.suggest_float("gan_lr", 5e-5, 1e-3, log=True)
    trial.suggest_categorical("gan_features", [16, 32, 64])
    trial.suggest_categorical("z_dim", [32, 64, 100])
    trial.suggest_categorical("gan_batch_size", [32, 64, 128])
    if trial.suggest_categorical("arch", ["resnet18", "mnist_cnn"]) == "mnist_cnn":
        trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    trial.suggest_categorical("augment", ["none", "medmnist"])


def report004(trial: optuna.Trial) -> None:
    """Report 004: DCGAN (Adam 2e-4, 64 features, z 100, batch 128) balancing the classes to
    the majority count, ResNet-18 retrained with Adam 1e-4, batch 8, augmentation. The report
    does not say how long the GAN trained; half of the epochs here."""
    trial.suggest_categorical("gan_fraction", [0.5])
    trial.suggest_categorical("balance_ratio", [1.0])
    trial.suggest_categorical("gan_lr", [2e-4])
    trial.suggest_categorical("gan_features", [64])
    trial.suggest_categorical("z_dim", [100])
    trial.suggest_categorical("gan_batch_size", [128])
    trial.suggest_categorical("arch", ["resnet18"])
    trial.suggest_categorical("lr", [1e-4])
    trial.suggest_categorical("batch_size", [8])
    trial.suggest_categorical("augment", ["medmnist"])


PRESETS = {"report004": report004}

#: Report 004's setup (balanced BreastMNIST: test acc 78.85 %).
START_POINTS: list[dict[str, Any]] = [
    {"gan_fraction": 0.5, "balance_ratio": 1.0, "gan_lr": 2e-4, "gan_features": 64,
     "z_dim": 100, "gan_batch_size": 128, "arch": "resnet18", "lr": 1e-4, "batch_size": 8,
     "augment": "medmnist"},
]
