"""On-device augmentation of image batches (float N×C×H×W in [0, 1]), seeded by the trial.

One :class:`Augment` describes a policy; :data:`POLICIES` names the reports' own policies, which
is what the search spaces' ``augment`` parameter picks from. Geometric changes (crop with
padding, rotation, shift, shear, zoom) are one affine warp per image (``F.affine_grid`` +
``F.grid_sample``, zeros or the nearest edge pixel outside); shifts and crops are relative to
the image side, so an 8×8 digit moves by at most a pixel where a 32×32 CIFAR image moves by
four. Angles (rotation, shear) are in degrees, as Keras' ``ImageDataGenerator`` takes them.

:func:`augment_offline` makes augmented copies before any split instead (report 003's leaky
protocol, ``cnn``'s ``protocol=leaky``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from core.splits import Splits

#: How a warp fills what comes from outside the image: zeros, or the nearest edge pixel
#: (Keras' default ``fill_mode="nearest"``; ``grid_sample``'s ``border``).
FILLS = {"zeros": "zeros", "nearest": "border"}


@dataclass(frozen=True)
class Augment:
    """A random augmentation policy; the default instance changes nothing."""

    hflip: bool = False
    vflip: bool = False
    crop_pad: float = 0.0  # random crop after zero padding, padding as a fraction of the side
    rotation: float = 0.0  # max degrees either way
    shift: float = 0.0  # max translation as a fraction of the side
    shear: float = 0.0  # max shear angle in degrees either way (Keras' ``shear_range``)
    zoom: tuple[float, float] = (1.0, 1.0)  # scale range; > 1 enlarges the content
    jitter: float = 0.0  # brightness and contrast factors in [1 - jitter, 1 + jitter]
    fill: str = "zeros"  # outside the image after a warp: a key of FILLS

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {self.fill!r}")

    @property
    def active(self) -> bool:
        return self != Augment()

    @property
    def geometric(self) -> bool:
        return bool(self.crop_pad or self.rotation or self.shift or self.shear
                    or self.zoom != (1.0, 1.0))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A randomly augmented copy of ``x`` (``x`` itself when the policy is off)."""
        if not self.active:
            return x
        n = len(x)

        def uniform(low: float, high: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator) * (high - low) + low).to(x.device)

        for flip, dim in ((self.hflip, -1), (self.vflip, -2)):
            if flip:
                x = torch.where((uniform(0, 1) < 0.5).view(n, 1, 1, 1), x.flip(dim), x)
        if self.geometric:
            x = self._warp(x, uniform)
        if self.jitter:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            contrast = uniform(1 - self.jitter, 1 + self.jitter).view(n, 1, 1, 1)
            brightness = uniform(1 - self.jitter, 1 + self.jitter).view(n, 1, 1, 1)
            x = (((x - mean) * contrast + mean) * brightness).clamp(0.0, 1.0)
        return x

    def _warp(self, x: torch.Tensor, uniform: Callable[[float, float], torch.Tensor]
              ) -> torch.Tensor:
        h, w = x.shape[-2:]
        angle = uniform(-self.rotation, self.rotation) * (math.pi / 180.0)
        scale = uniform(*self.zoom)
        shear = uniform(-self.shear, self.shear) * (math.pi / 180.0)
        # affine_grid maps output to input coordinates in [-1, 1]: one pixel is 2 / side.
        tx = uniform(-self.shift, self.shift) * 2.0
        ty = uniform(-self.shift, self.shift) * 2.0
        if self.crop_pad:
            pad = max(1, round(self.crop_pad * min(h, w)))
            tx = tx + uniform(-pad, pad + 1).floor().clamp(max=pad) * (2.0 / w)
            ty = ty + uniform(-pad, pad + 1).floor().clamp(max=pad) * (2.0 / h)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # rotation/zoom after Keras' shear matrix [[1, -sin s], [0, cos s]] (s in radians)
        s_sin, s_cos = torch.sin(shear), torch.cos(shear)
        theta = torch.stack([torch.stack([cos, -cos * s_sin - sin * s_cos, tx], 1),
                             torch.stack([sin, -sin * s_sin + cos * s_cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=FILLS[self.fill],
                             align_corners=False)


#: The reports' policies (report 003's offline ×5 / ×50 copies become online draws, except
#: under ``cnn``'s ``protocol=leaky``: :func:`augment_offline`).
POLICIES: dict[str, Augment] = {
    "none": Augment(),
    # report 002 (CIFAR-10): RandomHorizontalFlip + RandomCrop(32, padding 4)
    "flip_crop": Augment(hflip=True, crop_pad=4 / 32),
    # report 003 (AD/MCI): its Keras ImageDataGenerator(rotation_range=15,
    # width_shift_range=0.1, height_shift_range=0.1, shear_range=0.2) with Keras' defaults
    # otherwise (fill_mode "nearest"). shear_range is in degrees, so 0.2 is a fifth of a
    # degree (not a factor of 0.2, about 11°). No flip and no zoom: REPORTS.md's summary
    # lists "horizontal flip, zoom 0.2", but the generator in the report's code sets neither.
    "affine": Augment(rotation=15.0, shift=0.1, shear=0.2, fill="nearest"),
    # report 003 part 2 (cats vs dogs): flip, rotation up to 30°, zoom 0.75-1.25
    "flip_rotate_zoom": Augment(hflip=True, rotation=30.0, zoom=(0.75, 1.25)),
    # report 004 (BreastMNIST): flips, rotation 15°, colour jitter, random resized crop of
    # 0.8-1 of the area (a zoom of 1 to 1/sqrt(0.8))
    "medmnist": Augment(hflip=True, vflip=True, rotation=15.0, zoom=(1.0, 1 / math.sqrt(0.8)),
                        jitter=0.2),
}


def policy(name: str) -> Augment:
    """The named policy; ValueError naming the valid ones otherwise."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown augmentation {name!r}; choose from {list(POLICIES)}") from None


#: Report 003's offline augmentation: each image plus 4 augmented copies (×5 in all).
OFFLINE_COPIES = 4


def augment_offline(splits: Splits, copies: int, augment: Augment, seed: int,
                    batch_size: int = 1024) -> Splits:
    """Every image of ``splits`` (train, validation and test pooled) followed by ``copies``
    augmented copies of each, all in ``x_train``: report 003's leaky protocol, which
    augmented before splitting, so that :meth:`Splits.resplit` (the loop's ``split_ratio``)
    then splits originals and copies alike and copies of a test image can land in training.

    The pooled set has no official test split (``resplit`` would keep an empty one): an
    official test split is pooled too. Seeded and deterministic (CPU); copies are rounded back
    to uint8. Validation and test are empty until the re-split.

    >>> from core.splits import DatasetInfo
    >>> info = DatasetInfo("toy", ("a", "b"), 1, (4, 4), official_test=False)
    >>> x, y = np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1])
    >>> pooled = augment_offline(Splits(x, y, x, y, x, y, info), 4, POLICIES["affine"], 0)
    >>> pooled.sizes()
    {'train': 30, 'val': 0, 'test': 0}
    """
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    x = np.concatenate([splits.x_train, splits.x_val, splits.x_test])
    y = np.concatenate([splits.y_train, splits.y_val, splits.y_test])
    generator = torch.Generator().manual_seed(seed)
    made = []
    for _ in range(copies):
        for start in range(0, len(x), batch_size):
            batch = torch.from_numpy(x[start:start + batch_size]).float().div_(255.0)
            out = augment(batch, generator).mul_(255.0).round_().clamp_(0, 255)
            made.append(out.to(torch.uint8).numpy())
    x_all = np.concatenate([x, *made]) if made else x
    y_all = np.tile(y, copies + 1)
    empty_x, empty_y = x_all[:0], y_all[:0]
    return Splits(x_all, y_all, empty_x, empty_y, empty_x, empty_y,
                  replace(splits.info, official_test=False))
