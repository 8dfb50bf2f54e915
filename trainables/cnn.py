"""``cnn`` (reports 002 and 003): the reports' CNNs with their init schemes, optimisers,
split ratios (applied by the loop) and on-device augmentation policies."""

from __future__ import annotations

from typing import Any

import torch

from core.splits import Splits
from trainables import loop
from trainables.classify import ClassifierTask
from trainables.convnets import ReportCNN
from trainables.loop import DeviceSplits
from trainables.nets import init_weights


def make_task(config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
              ) -> ClassifierTask:
    """A report CNN (``arch``, ``dropout``, ``init``) in the classifier task."""
    model = ReportCNN(config["arch"], data.info.shape, data.info.num_classes,
                      float(config["dropout"]))
    return ClassifierTask.from_config(init_weights(model, config["init"]), data, generator,
                                      config)


def train_cnn(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``cnn``."""
    loop.run(config, data, make_task)
