"""Search space of ``ae_classifier``: autoencoder pretraining, frozen-encoder head, fine-tuning
(reports 000 and 001).

``ae_epochs`` / ``head_epochs`` / ``finetune_epochs`` are relative stage lengths scaled to
``--max-epochs`` (exact when they sum to it; see ``trainables.ae_classifier``).
``latent_dim`` exists for ``arch=mlp`` only (report 000's conv code is the 256-channel map),
``finetune_lr`` only when there is a fine-tuning stage.
"""

from __future__ import annotations

from typing import Any

import optuna

from core.names import INIT_SCHEMES

DEFAULTS: dict[str, Any] = {"batchnorm": True, "probe_neighbors": 10, "probe_samples": 5000}


def space(trial: optuna.Trial) -> None:
    """Architecture, code size, optimiser, head dropout and the three stage lengths."""
    if trial.suggest_categorical("arch", ["conv", "mlp"]) == "mlp":
        trial.suggest_int("latent_dim", 2, 128, log=True)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_categorical("weight_decay", [0.0, 1e-5, 1e-4])
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", list(INIT_SCHEMES[:3]))
    trial.suggest_categorical("batch_size", [32, 64, 100, 128, 256])
    trial.suggest_int("ae_epochs", 0, 20)
    trial.suggest_int("head_epochs", 1, 20)
    if trial.suggest_int("finetune_epochs", 0, 20) > 0:
        trial.suggest_float("finetune_lr", 1e-5, 1e-2, log=True)


def report000(trial: optuna.Trial) -> None:
    """Report 000: conv AE (batch norm), Adam 1e-3 (Keras' default) in every stage, batch 64,
    equal pretraining / frozen-head / fine-tuning stages (the report prints no epochs)."""
    trial.suggest_categorical("arch", ["conv"])
    trial.suggest_categorical("lr", [1e-3])
    trial.suggest_categorical("weight_decay", [0.0])
    trial.suggest_categorical("dropout", [0.0])
    trial.suggest_categorical("init", ["default"])
    trial.suggest_categorical("batch_size", [64])
    trial.suggest_categorical("ae_epochs", [10])
    trial.suggest_categorical("head_epochs", [10])
    trial.suggest_categorical("finetune_epochs", [10])
    trial.suggest_categorical("finetune_lr", [1e-3])


def report001(trial: optuna.Trial) -> None:
    """Report 001: MLP AE with a 30-d code, Adam 1e-3, weight decay 1e-5, batch 100,
    10 pretraining + 10 head epochs, no fine-tuning (exact with ``--max-epochs 20``)."""
    trial.suggest_categorical("arch", ["mlp"])
    trial.suggest_categorical("latent_dim", [30])
    trial.suggest_categorical("lr", [1e-3])
    trial.suggest_categorical("weight_decay", [1e-5])
    trial.suggest_categorical("dropout", [0.0])
    trial.suggest_categorical("init", ["default"])
    trial.suggest_categorical("batch_size", [100])
    trial.suggest_categorical("ae_epochs", [10])
    trial.suggest_categorical("head_epochs", [10])
    trial.suggest_categorical("finetune_epochs", [0])


PRESETS = {"report000": report000, "report001": report001}

#: The two reports' configurations (001: 93 % on MNIST; 000: 91.88 % on Fashion-MNIST).
START_POINTS: list[dict[str, Any]] = [
    {"arch": "mlp", "latent_dim": 30, "lr": 1e-3, "weight_decay": 1e-5, "dropout": 0.0,
     "init": "default", "batch_size": 100, "ae_epochs": 10, "head_epochs": 10,
     "finetune_epochs": 0},
    {"arch": "conv", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0, "init": "default",
     "batch_size": 64, "ae_epochs": 10, "head_epochs": 10, "finetune_epochs": 10,
     "finetune_lr": 1e-3},
]
