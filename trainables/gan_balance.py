"""``gan_balance`` (report 004): balance the training split with a conditional DCGAN.

The GAN stage is the loop's epochs ``1..G`` (``G = max(1, round(gan_fraction · max_epochs))``):
they train the conditional DCGAN (:class:`CondGenerator` / :class:`CondDiscriminator`;
Adam, β1 0.5, N(0, 0.02) init, LeakyReLU 0.2, batch norm unless ``gan_batchnorm=False``) on
the real training images, resized on the device to the DCGAN's side (``gan_image_size``, by
default :func:`gan_size` of the image: 32 for 28×28 MedMNIST, 8 for 8×8 digits; report 004
trained at 64×64), and report ``g_loss`` and ``d_loss`` (means over the epoch's GAN passes;
NaN after the stage) and ``gan_epoch`` (GAN passes done so far). How many passes
(:meth:`~GanBalanceTask.gan_passes`): one per loop epoch of the stage with ``gan_epochs=0``
(the searched space's default), else ``gan_epochs`` in all, spread evenly over the stage's
loop epochs. The report trained the DCGAN for 1000 epochs (600 in another run); its preset
runs all 1000 in the loop's first epoch (``gan_fraction`` 0, so G = 1), then the classifier's
50. Meanwhile a classifier trains on the unbalanced split: ``val_acc`` of epochs before G is
that baseline's.
At the end of the GAN stage (epoch G) every class below ``balance_ratio`` × the majority
count gets generated images up to it (``synthetic`` = how many; ``samples.png`` in the trial
directory shows ``grid_columns`` generated images per class, one row each), resized to the
dataset's image size, and the classifier is trained afresh on real + synthetic images from
epoch G to the end (``max_epochs - G + 1`` epochs) — the report retrains it on the balanced
set. Both classifiers train as ``medmnist_resnet``'s would (its options, constants here that
``--set`` changes: ``lr_schedule``, ``class_weight``, ``sampler``, …), a schedule spanning the
epochs each trains. Test metrics are the balanced classifier's: with ``select_epoch=best``
the loop selects among epochs G to the end only (:meth:`GanBalanceTask.selectable`), never
the unbalanced baseline. Likewise ASHA: its rungs count ``classifier_epochs``, the balanced
classifier's epochs (epoch G is its first; 0 before), so a trial's baseline is never
weighed against another trial's balanced classifier.

``imbalance`` < 1 keeps only that fraction of every class in the upper half of the classes in
the training split (validation and test untouched): digits is balanced, so the tests make it
imbalanced this way; BreastMNIST (147 malignant vs 399 benign) is imbalanced already.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from ray import tune
from torchvision.utils import make_grid, save_image

from core.names import CLASSIFIER_EPOCHS
from core.splits import Splits
from search_spaces.gan_balance import GanBalanceSettings
from trainables import loop
from trainables.checkpoints import build, model_args, model_state
from trainables.classify import ClassifierTask
from trainables.convnets import CondDiscriminator, CondGenerator, classifier, gan_size, resize
from trainables.loop import DeviceSplits
from trainables.optimizers import make_optimizer

SAMPLES_FILE = "samples.png"
#: Report 004 (DCGAN): Adam β1 0.5.
BETAS = (0.5, 0.999)


def imbalance_mask(y: torch.Tensor, num_classes: int, fraction: float) -> torch.Tensor:
    """Rows to keep: all of the lower half of the classes, the first ``ceil(fraction · n)``
    (at least one) of every class ``c >= num_classes // 2``."""
    keep = torch.ones_like(y, dtype=torch.bool)
    if fraction >= 1.0:
        return keep
    for c in range(num_classes // 2, num_classes):
        rows = (y == c).nonzero().flatten()
        keep[rows[max(1, math.ceil(fraction * len(rows))):]] = False
    return keep


def balance_counts(counts: list[int], ratio: float) -> list[int]:
    """Images to generate per class so that each has ``ceil(ratio · majority)``."""
    target = math.ceil(ratio * max(counts))
    return [max(0, target - c) for c in counts]


class GanBalanceTask:
    """Conditional DCGAN stage, then a classifier retrained on the balanced training split."""

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
                 ) -> None:
        s = self.settings = GanBalanceSettings.from_config(config)
        self.generator = generator
        keep = imbalance_mask(data.y["train"], data.info.num_classes, s.imbalance)
        self.real = replace(data, x={**data.x, "train": data.x["train"][keep]},
                            y={**data.y, "train": data.y["train"][keep]})
        info = data.info
        self.side = s.gan_image_size or gan_size(info.size)
        self.gen_args = model_args(CondGenerator, z_dim=s.z_dim, num_classes=info.num_classes,
                                   channels=info.channels, size=self.side,
                                   features=s.gan_features, batchnorm=s.gan_batchnorm)
        self.disc_args = model_args(CondDiscriminator, num_classes=info.num_classes,
                                    channels=info.channels, size=self.side,
                                    features=s.gan_features, batchnorm=s.gan_batchnorm)
        self.gen = data.place(build(self.gen_args))
        self.disc = data.place(build(self.disc_args))
        self.g_opt = make_optimizer(self.gen.parameters(), "adam", s.gan_lr, betas=BETAS)
        self.d_opt = make_optimizer(self.disc.parameters(), "adam", s.gan_lr, betas=BETAS)
        #: The GAN stage's loop epochs (G).
        self.stage_epochs = max(1, round(s.gan_fraction * s.max_epochs))
        self.synthetic: tuple[torch.Tensor, torch.Tensor] | None = None
        self.clf = self._classifier()

    def _classifier(self) -> ClassifierTask:
        """A fresh classifier on the real (+ synthetic, once generated) training images,
        its learning-rate schedule over the epochs it trains: 1 to G - 1 on the real images,
        G to the end on the balanced ones."""
        data, s = self.real, self.settings
        epochs = self.stage_epochs - 1
        if self.synthetic is not None:
            x, y = self.synthetic
            data = replace(data, x={**data.x, "train": torch.cat([data.x["train"], x])},
                           y={**data.y, "train": torch.cat([data.y["train"], y])})
            epochs = s.max_epochs - self.stage_epochs + 1
        args = model_args(classifier, arch=s.arch, in_shape=data.info.shape,
                          num_classes=data.info.num_classes, dropout=s.dropout or 0.0,
                          stem=s.stem)
        return ClassifierTask.from_settings(args, data, self.generator,
                                            replace(s, max_epochs=epochs))

    def gan_passes(self, epoch: int) -> int:
        """GAN passes over the training split done by the end of loop epoch ``epoch``: one
        per stage epoch, or ``gan_epochs`` spread evenly over the stage (``⌊N·e/G⌋``)."""
        epoch = min(epoch, self.stage_epochs)
        if not self.settings.gan_epochs:
            return epoch
        return self.settings.gan_epochs * epoch // self.stage_epochs

    def _gan_stage(self, passes: int) -> dict[str, float]:
        """``passes`` GAN passes; their mean losses (NaN for none)."""
        g_total = d_total = torch.zeros((), device=self.real.device)
        n = 0
        for _ in range(passes):
            g_sum, d_sum, seen = self._gan_epoch()
            g_total, d_total, n = g_total + g_sum, d_total + d_sum, n + seen
        if not n:
            return {"g_loss": math.nan, "d_loss": math.nan}
        return {"g_loss": (g_total / n).item(), "d_loss": (d_total / n).item()}

    def _gan_epoch(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """One pass over the training split: summed generator and discriminator losses (on
        the device) and the images they cover."""
        self.gen.train()
        self.disc.train()
        device = self.real.device
        g_total = d_total = torch.zeros((), device=device)
        n = 0
        for idx in self.real.batches("train", self.settings.gan_batch_size, self.generator):
            if len(idx) < 2:
                continue
            real = resize(self.real.images("train", idx), (self.side, self.side)) * 2 - 1
            y = self.real.y["train"][idx]
            z = torch.randn(len(idx), self.settings.z_dim, generator=self.generator).to(device)
            ones, zeros = torch.ones(len(idx), device=device), torch.zeros(len(idx), device=device)
            with self.real.autocast():
                fake = self.gen(z, y)
                d_loss = (F.binary_cross_entropy_with_logits(self.disc(real, y), ones)
                          + F.binary_cross_entropy_with_logits(self.disc(fake.detach(), y),
                                                               zeros))
            self.d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_opt.step()
            with self.real.autocast():
                g_loss = F.binary_cross_entropy_with_logits(self.disc(fake, y), ones)
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
            g_total = g_total + g_loss.detach() * len(idx)
            d_total = d_total + d_loss.detach() * len(idx)
            n += len(idx)
        return g_total, d_total, n

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """uint8 images of ``labels`` from the generator, resized to ``size``."""
        if not len(labels):
            return torch.zeros(0, self.real.info.channels, *size, dtype=torch.uint8,
                               device=labels.device)
        self.gen.eval()
        images = []
        for chunk in labels.split(256):
            z = torch.randn(len(chunk), self.settings.z_dim,
                            generator=self.generator).to(chunk.device)
            with self.real.autocast():
                fake = self.gen(z, chunk)
            images.append(resize((fake.float() + 1) / 2, size))
        return torch.cat(images).clamp(0, 1).mul(255).round().to(torch.uint8)

    def balance(self) -> int:
        """Generate the minority images and restart the classifier on the balanced split."""
        k = self.real.info.num_classes
        counts = torch.bincount(self.real.y["train"], minlength=k).tolist()
        need = torch.tensor(balance_counts(counts, self.settings.balance_ratio))
        labels = torch.repeat_interleave(torch.arange(k), need).to(self.real.device)
        self.synthetic = (self.generate(labels, self.real.info.size), labels)
        self.clf = self._classifier()
        return len(labels)

    def save_grid(self, path: str) -> None:
        """PNG of ``grid_columns`` generated images per class (one row per class), each in a
        1-pixel black frame, scaled up to at least 64 pixels an image."""
        k, cols = self.real.info.num_classes, self.settings.grid_columns
        labels = torch.arange(k, device=self.real.device).repeat_interleave(cols)
        x = self.generate(labels, (self.side, self.side)).cpu().float() / 255
        grid = make_grid(x, nrow=cols, padding=2)[:, 1:-1, 1:-1]  # outer frame 1 pixel too
        scale = max(1, 64 // self.side)
        save_image(grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2), path)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        stage = {"g_loss": math.nan, "d_loss": math.nan}
        if epoch <= self.stage_epochs:
            stage = self._gan_stage(self.gan_passes(epoch) - self.gan_passes(epoch - 1))
            if epoch == self.stage_epochs:
                self.balance()
                self.save_grid(os.path.join(tune.get_context().get_trial_dir(), SAMPLES_FILE))
        synthetic = 0 if self.synthetic is None else len(self.synthetic[1])
        return {**stage, "gan_epoch": self.gan_passes(epoch), "synthetic": synthetic,
                CLASSIFIER_EPOCHS: self.classifier_epochs(epoch),
                **self.clf.train_epoch(epoch)}

    def classifier_epochs(self, epoch: int) -> int:
        """Epochs the balanced classifier has trained by the end of epoch ``epoch`` (ASHA's
        clock): 0 before the GAN stage's last epoch G, which is its first."""
        return max(0, epoch - self.stage_epochs + 1)

    def validate(self) -> dict[str, float]:
        return self.clf.validate()

    def selectable(self) -> bool:
        """Whether the current state may be the reported model: the balanced classifier."""
        return self.synthetic is not None

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        return self.clf.test()

    def state_dict(self) -> dict[str, Any]:
        return {**model_state(self.gen, self.gen_args, "gen"),
                **model_state(self.disc, self.disc_args, "disc"),
                "g_opt": self.g_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                "synthetic": self.synthetic, "clf": self.clf.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.load_state_dict(state["gen"])
        self.disc.load_state_dict(state["disc"])
        self.g_opt.load_state_dict(state["g_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        if state["synthetic"] is not None:
            self.synthetic = tuple(t.to(self.real.device) for t in state["synthetic"])
            self.clf = self._classifier()
        self.clf.load_state_dict(state["clf"])


def train_gan_balance(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``gan_balance``."""
    loop.run(config, data, GanBalanceTask)
