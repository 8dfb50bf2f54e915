"""``cnn`` (reports 002 and 003): the reports' CNNs with their init schemes, optimisers,
split ratios (applied by the loop) and on-device augmentation policies."""

from __future__ import annotations

from typing import Any

import torch

from core.splits import Splits
from search_spaces.cnn import CnnSettings
from trainables import loop
from trainables.checkpoints import model_args
from trainables.classify import ClassifierTask
from trainables.convnets import ReportCNN
from trainables.loop import DeviceSplits


def make_task(config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
              ) -> ClassifierTask:
    """A report CNN (``arch``, ``dropout``, ``init``) in the classifier task."""
    settings = CnnSettings.from_config(config)
    args = model_args(ReportCNN, arch=settings.arch, in_shape=data.info.shape,
                      num_classes=data.info.num_classes, dropout=settings.dropout)
    return ClassifierTask.from_settings(args, data, generator, settings)


def train_cnn(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``cnn``."""
    loop.run(config, data, make_task)
