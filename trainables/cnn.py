"""``cnn`` (reports 002 and 003): the reports' CNNs with their init schemes, optimisers,
split ratios (applied by the loop) and on-device augmentation policies.

``protocol`` says how the images are split and augmented: ``honest`` (the default) lets the
loop split and augments training batches online; ``leaky`` reproduces report 003, which
augmented every image ×5 offline *before* splitting: :func:`protocol_splits` pools the
images with 4 ``affine`` copies each, and the loop's re-split (``split_ratio``) then puts
copies of test images into training. Its test scores are inflated by that leak.
"""

from __future__ import annotations

from typing import Any

import torch

from core.splits import Splits
from search_spaces.cnn import CnnSettings
from trainables import loop
from trainables.augment import OFFLINE_COPIES, POLICIES, augment_offline
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


def protocol_splits(config: dict[str, Any], data: Splits) -> Splits:
    """The images the loop gets under the config's ``protocol``: ``data`` itself (honest),
    or every image and its 4 offline ``affine`` copies pooled for the loop's re-split
    (leaky), seeded by the study seed as the split is, so every trial of a seed sees the
    same copies and the same split."""
    settings = CnnSettings.from_config(config)
    if settings.protocol == "honest":
        return data
    seed = loop.TrialSeed.from_config(config).seed
    return augment_offline(data, OFFLINE_COPIES, POLICIES["affine"], seed)


def train_cnn(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``cnn``."""
    loop.run(config, protocol_splits(config, data), make_task)
