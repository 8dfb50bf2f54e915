"""Search space of ``gan_balance``: conditional DCGAN balancing + retrained classifier
(report 004, BreastMNIST); see trainables/gan_balance.py for the stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import CLASS_WEIGHTS, LR_SCHEDULES, NORMALIZATIONS, RESNET_STEMS, SAMPLERS
from core.settings import OneOf
from search_spaces import medmnist_resnet
from search_spaces.common import OPTIMIZERS, REPORT_CLASSIFIER, Init, Preset
from search_spaces.medmnist_resnet import MedmnistResnetSettings

#: The classifier: report 004's ResNet-18, or report 002's MNIST CNN (cheaper).
ARCHS = ("resnet18", "mnist_cnn")
#: ``gan_image_size``: 0 (follow the images) or a DCGAN side.
GAN_SIDES = (0, 8, 16, 32, 64)


@dataclass(frozen=True, kw_only=True)
class GanBalanceSettings(MedmnistResnetSettings):
    """What a ``gan_balance`` trial reads: the DCGAN stage, then ``medmnist_resnet``'s
    classifier training (any ``arch``) on the balanced split."""

    gan_fraction: float
    balance_ratio: float
    gan_lr: float
    gan_features: int
    z_dim: int
    gan_batch_size: int
    arch: Annotated[str, OneOf(ARCHS)]
    dropout: float | None = None
    init: Init = "default"
    #: Constants here (searched in ``medmnist_resnet``): ``--set`` may still change them. A
    #: schedule spans the epochs each classifier trains (the balanced one: G to the end).
    optimizer: Annotated[str, OneOf(OPTIMIZERS)] = "adam"
    weight_decay: float = 0.0
    lr_schedule: Annotated[str, OneOf(LR_SCHEDULES)] = REPORT_CLASSIFIER["lr_schedule"]
    warmup_epochs: int = 0
    label_smoothing: float = REPORT_CLASSIFIER["label_smoothing"]
    class_weight: Annotated[str, OneOf(CLASS_WEIGHTS)] = REPORT_CLASSIFIER["class_weight"]
    sampler: Annotated[str, OneOf(SAMPLERS)] = REPORT_CLASSIFIER["sampler"]
    normalize: Annotated[str, OneOf(NORMALIZATIONS)] = REPORT_CLASSIFIER["normalize"]
    max_epochs: int
    #: GAN passes over the training split in all, spread over the GAN stage's loop epochs
    #: (report 004: 1000; 600 in another run); 0: one pass per loop epoch of the stage.
    gan_epochs: int = 0
    #: The DCGAN's side (8, 16, 32 or 64; report 004: 64); 0: the power of two at or above
    #: the image side (``trainables.convnets.gan_size``: 32 for 28×28 MedMNIST, 8 for digits).
    gan_image_size: int = 0
    #: Batch norm in the generator and the discriminator (report 004: commented out).
    gan_batchnorm: bool = True
    #: Fraction kept of each upper-half class in the training split (1 = untouched).
    imbalance: float = 1.0
    #: Generated images per class in samples.png.
    grid_columns: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch != "resnet18":
            self.require("dropout", f"with arch={self.arch}")
        if self.gan_image_size not in GAN_SIDES:
            raise ValueError(f"GanBalanceSettings: gan_image_size must be one of "
                             f"{', '.join(map(str, GAN_SIDES))}, got {self.gan_image_size}")
        if self.gan_epochs < 0:
            raise ValueError(f"GanBalanceSettings: gan_epochs must not be negative, "
                             f"got {self.gan_epochs}")


DEFAULTS: dict[str, Any] = GanBalanceSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = GanBalanceSettings.choices()


def space(trial: optuna.Trial) -> None:
    """GAN stage length, balancing ratio and DCGAN knobs; classifier (a ResNet's stem) and
    its training."""
    trial.suggest_float("gan_fraction", 0.2, 0.6)
    trial.suggest_float("balance_ratio", 0.5, 1.0)
    trial.suggest_float("gan_lr", 5e-5, 1e-3, log=True)
    trial.suggest_categorical("gan_features", [16, 32, 64])
    trial.suggest_categorical("z_dim", [32, 64, 100])
    trial.suggest_categorical("gan_batch_size", [32, 64, 128])
    if trial.suggest_categorical("arch", list(ARCHS)) == "mnist_cnn":
        trial.suggest_float("dropout", 0.0, 0.5)
    else:
        trial.suggest_categorical("stem", list(RESNET_STEMS))
    trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    trial.suggest_categorical("augment", ["none", "medmnist"])


#: Report 004's balancing: DCGAN (Adam 2e-4, 64 features, z 100, batch 128) balancing the
#: classes to the majority count, ResNet-18 retrained with Adam 1e-4, batch 8, augmentation.
#: In the searched space (its first trial) the GAN takes half of the loop's epochs, one pass
#: each, at the default 32×32 with batch norm: the cheaper DCGAN.
REPORT004: dict[str, Any] = {
    "gan_fraction": 0.5, "balance_ratio": 1.0, "gan_lr": 2e-4, "gan_features": 64,
    "z_dim": 100, "gan_batch_size": 128, "arch": "resnet18",
    **{k: medmnist_resnet.REPORT004[k] for k in ("stem", "lr", "batch_size", "augment")}}

PRESETS = {"report004": Preset(
    # gan_fraction 0: the GAN stage is the loop's first epoch, which runs all 1000 GAN
    # passes, so the balanced classifier trains the report's 50 epochs (epochs 1-50)
    {**REPORT004, "gan_fraction": 0.0},
    source="report 004: ResNet-18 retrained on GAN-balanced BreastMNIST, test "
           "accuracy 78.85 %",
    study=medmnist_resnet.REPORT_STUDY,
    settings={"gan_epochs": 1000, "gan_image_size": 64, "gan_batchnorm": False},
    gaps="the DCGAN trains 1000 passes over the training split (report: 1000 epochs; "
         "another run 600: --set gan_epochs=600) at 64x64 (the 28x28 images resized up, "
         "generated ones resized back to 28x28 for the classifier: assumed, the report "
         "does not say at which size the classifier saw them), generator 1024-512-256-128, "
         "discriminator 64-128-256-512, no batch norm (commented out in the report; the "
         "convolutions stay bias-free, as with it), all in the loop's first epoch (one "
         "report for the whole GAN stage, no checkpoint within it); the classifier, "
         "started afresh on the balanced split, trains epochs 1-50.")}

#: Report 004's setup, as the searcher's first trial.
START_POINTS: list[dict[str, Any]] = [REPORT004]
