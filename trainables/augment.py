"""On-device augmentation of image batches (float N×C×H×W in [0, 1]), seeded by the trial.

One :class:`Augment` describes a policy; :data:`POLICIES` names the reports' own policies, which
is what the search spaces' ``augment`` parameter picks from. Geometric changes (crop with
padding, rotation, shift, shear, zoom) are one affine warp per image (``F.affine_grid`` +
``F.grid_sample``, zeros outside); magnitudes are relative to the image side, so an 8×8 digit
moves by at most a pixel where a 32×32 CIFAR image moves by four.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """A random augmentation policy; the default instance changes nothing."""

    hflip: bool = False
    vflip: bool = False
    crop_pad: float = 0.0  # random crop after zero padding, padding as a fraction of the side
    rotation: float = 0.0  # max degrees either way
    shift: float = 0.0  # max translation as a fraction of the side
    shear: float = 0.0  # max shear factor either way
    zoom: tuple[float, float] = (1.0, 1.0)  # scale range; > 1 enlarges the content
    jitter: float = 0.0  # brightness and contrast factors in [1 - jitter, 1 + jitter]

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
        shear = uniform(-self.shear, self.shear)
        # affine_grid maps output to input coordinates in [-1, 1]: one pixel is 2 / side.
        tx = uniform(-self.shift, self.shift) * 2.0
        ty = uniform(-self.shift, self.shift) * 2.0
        if self.crop_pad:
            pad = max(1, round(self.crop_pad * min(h, w)))
            tx = tx + uniform(-pad, pad + 1).floor().clamp(max=pad) * (2.0 / w)
            ty = ty + uniform(-pad, pad + 1).floor().clamp(max=pad) * (2.0 / h)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin + shear * cos, tx], 1),
                             torch.stack([sin, cos + shear * sin, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)


#: The reports' policies (report 003's offline ×5 / ×50 copies become online draws).
POLICIES: dict[str, Augment] = {
    "none": Augment(),
    # report 002 (CIFAR-10): RandomHorizontalFlip + RandomCrop(32, padding 4)
    "flip_crop": Augment(hflip=True, crop_pad=4 / 32),
    # report 003 (AD/MCI): rotation 15°, shift 0.1, shear 0.2, horizontal flip, zoom 0.2
    "affine": Augment(hflip=True, rotation=15.0, shift=0.1, shear=0.2, zoom=(0.8, 1.2)),
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
