"""``medmnist_resnet`` (report 004): ResNet-18 for MedMNIST sets, with torchvision's stem
(7×7 stride-2 conv + max-pool, the report's) or MedMNIST v2's for 28×28 images (``stem``).

Besides the common test metrics it reports MedMNIST's own definitions
(``medmnist.evaluator.getACC`` / ``getAUC`` for the set's task: binary-class accuracy at
score 0.5 of the last class, multi-class mean one-vs-rest AUC) as ``test_medmnist_acc`` and
``test_medmnist_auc``. Sets outside MedMNIST (digits, CIFAR-10, ...) count as binary-class
with two classes and multi-class otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import medmnist
import numpy as np
import torch
from medmnist.evaluator import getACC, getAUC

from core.splits import Splits
from search_spaces.medmnist_resnet import MedmnistResnetSettings
from trainables import loop
from trainables.checkpoints import model_args
from trainables.classify import ClassifierTask
from trainables.convnets import resnet18
from trainables.loop import DeviceSplits


def medmnist_task(dataset: str, num_classes: int) -> str:
    """MedMNIST's task string for ``dataset`` (or the one its class count implies)."""
    if dataset in medmnist.INFO:
        return medmnist.INFO[dataset]["task"]
    return "binary-class" if num_classes == 2 else "multi-class"


def medmnist_metrics(y_true: np.ndarray, scores: np.ndarray, task: str) -> dict[str, float]:
    """MedMNIST's ACC and AUC; AUC is NaN where a class is missing from ``y_true``."""
    try:
        auc = float(getAUC(y_true, scores, task))
    except ValueError:
        auc = math.nan
    return {"test_medmnist_acc": float(getACC(y_true, scores, task)), "test_medmnist_auc": auc}


class MedmnistTask(ClassifierTask):
    """The classifier task with MedMNIST's evaluator added to the test."""

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        extra, scores = super().test()
        task = medmnist_task(self.data.info.name, self.data.info.num_classes)
        return {**extra, **medmnist_metrics(self.data.y["test"].cpu().numpy(), scores, task)}, \
            scores


def make_task(config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
              ) -> ClassifierTask:
    """ResNet-18 for the set's shape and classes in the MedMNIST task."""
    settings = MedmnistResnetSettings.from_config(config)
    args = model_args(resnet18, in_shape=data.info.shape, num_classes=data.info.num_classes,
                      stem=settings.stem)
    return MedmnistTask.from_settings(args, data, generator, settings)


def train_medmnist_resnet(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``medmnist_resnet``."""
    loop.run(config, data, make_task)
