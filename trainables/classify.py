"""The one supervised classifier task: cross-entropy training with on-device augmentation.

``cnn`` and ``medmnist_resnet`` configure it, ``transfer`` and ``gan_balance`` extend it with
their stages. Models map float images in [0, 1] (N×C×H×W) to class logits; evaluation runs in
no-grad batches and scores are softmax probabilities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.common import ClassifierSettings
from trainables import loop
from trainables.augment import Augment, policy
from trainables.checkpoints import build, load_trained_state, trained_state
from trainables.loop import DeviceSplits
from trainables.nets import init_weights

NO_AUGMENT = Augment()
#: Rows per evaluation batch (small enough for VGG16 activations on a CPU).
EVAL_BATCH = 256


def make_optimizer(params: Iterable[torch.Tensor], name: str, lr: float, *,
                   momentum: float = 0.0, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``sgd`` (with momentum) or ``adam``."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (sgd or adam)")


class ClassifierTask:
    """Train ``model`` (built from ``model_args``, which its checkpoint keeps) on ``data``'s
    train split (the loop's ``train_batches``), score the validation and test splits."""

    def __init__(self, model: nn.Module, data: DeviceSplits, generator: torch.Generator, *,
                 model_args: Mapping[str, Any], optimizer: torch.optim.Optimizer,
                 batch_size: int, augment: Augment = NO_AUGMENT) -> None:
        # channels_last: oneDNN's and cuDNN's preferred conv layout (12 % faster steps of
        # report 002's CIFAR CNN on 2 CPU cores); inputs follow in :meth:`inputs`.
        self.model = data.place(model, channels_last=True)
        self.model_args = model_args
        self.data, self.generator = data, generator
        self.optimizer, self.batch_size, self.augment = optimizer, batch_size, augment

    @classmethod
    def from_settings(cls, model_args: Mapping[str, Any], data: DeviceSplits,
                      generator: torch.Generator, settings: ClassifierSettings
                      ) -> ClassifierTask:
        """The model ``model_args`` describe, initialised and trained as ``settings`` say."""
        model = init_weights(build(model_args), settings.init)
        optimizer = make_optimizer(model.parameters(), settings.optimizer, settings.lr,
                                   momentum=settings.momentum or 0.0,
                                   weight_decay=settings.weight_decay)
        return cls(model, data, generator, model_args=model_args, optimizer=optimizer,
                   batch_size=settings.batch_size, augment=policy(settings.augment))

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        hits = torch.zeros((), device=self.data.device, dtype=torch.long)
        seen = 0

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            nonlocal hits, seen
            logits = self.model(self.inputs(self.augment(self.data.images("train", idx),
                                                         self.generator)))
            y = self.data.y["train"][idx]
            hits = hits + (logits.detach().argmax(1) == y).sum()
            seen += len(idx)
            return F.cross_entropy(logits, y)

        loss = loop.train_batches(self.data, self.batch_size, self.generator, self.optimizer,
                                  batch_loss)
        return {"train_loss": loss, "train_acc": hits.item() / max(seen, 1)}

    @torch.no_grad()
    def logits(self, part: str) -> torch.Tensor:
        """Logits of a whole split in evaluation batches."""
        self.model.eval()
        with self.data.autocast():
            logits = [self.model(self.inputs(self.data.images(part, s)))
                      for s in self.data.chunks(part, EVAL_BATCH)]
        return torch.cat(logits).float()

    @staticmethod
    def inputs(images: torch.Tensor) -> torch.Tensor:
        """A batch in the model's memory layout (channels_last)."""
        return images.contiguous(memory_format=torch.channels_last)

    def validate(self) -> dict[str, float]:
        logits, y = self.logits("val"), self.data.y["val"]
        return {"val_loss": F.cross_entropy(logits, y).item(),
                "val_acc": (logits.argmax(1) == y).float().mean().item()}

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        return {}, torch.softmax(self.logits("test"), 1).cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        return trained_state(self.model, self.model_args, self.optimizer)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_trained_state(state, self.model, self.optimizer)
