"""Image classifiers and generators of reports 002-004, for any input size and channel count.

- :class:`ReportCNN`: the reports' small CNNs (``cifar_cnn``, ``mnist_cnn``, ``ad_proposed``,
  ``ad_test1``, ``ad_test2``) and report 002's transfer ``net_a``, as a flat list of Keras-style
  layers (conv+ReLU, pool, flatten, dense+ReLU, output) so that "the first n layers" of a net
  means what it meant in the report. The flatten size is computed from the input. On inputs
  too small for the report's stack (8×8 digits) a valid convolution that would leave no pixel
  gets just enough zero padding to keep one, and a max-pool of a 1-pixel map becomes an
  identity layer: channel widths and layer indices stay the report's.
- :func:`resnet18`: torchvision's ResNet-18 (7×7 stride-2 first conv and max-pool, as report
  004; or MedMNIST v2's 3×3 stride-1 stem for 28×28 images) with its first conv taking the
  dataset's channels.
- :class:`PretrainedNet`: an ImageNet backbone without its top + Flatten, Dense, output
  (report 003 part 2), with the two training phases (conv frozen; the report's last four
  Keras layers unfrozen: :data:`REPORT_UNFROZEN`).
- :class:`CondGenerator` / :class:`CondDiscriminator`: report 004's conditional DCGAN.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from core.names import BACKBONES, RESNET_STEMS


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a batch on its device (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


@dataclass(frozen=True)
class Conv:
    """One conv layer (+ReLU) of a report CNN, optionally followed by a 2×2 max-pool."""

    channels: int
    kernel: int = 3
    padding: int = 0
    pool: bool = True


@dataclass(frozen=True)
class CnnSpec:
    """A report CNN: conv layers, hidden dense sizes, dropout after the flatten (as a
    multiple of the ``dropout`` parameter; after every hidden dense layer it is 1×)."""

    convs: tuple[Conv, ...]
    hidden: tuple[int, ...]
    flat_dropout: float = 0.0


#: Report CNNs. Report 003 gives no channel widths for its proposed net; 32-64-128-128 here.
REPORT_CNNS: dict[str, CnnSpec] = {
    # report 002, CIFAR-10: 3→64→128→256 valid 3×3 convs, pool after each, FC →128→256→out;
    # its dropout model has 0.2 after both hidden layers and 0.1 after the flatten.
    "cifar_cnn": CnnSpec((Conv(64), Conv(128), Conv(256)), (128, 256), flat_dropout=0.5),
    # report 002, MNIST: conv 32, 64 (3×3, pad 1), one pool, FC 128, dropout 0.5, out
    "mnist_cnn": CnnSpec((Conv(32, padding=1, pool=False), Conv(64, padding=1)), (128,)),
    # report 003: four 3×3 convs each pooled, FC 128, FC 64; test models 1 and 2
    "ad_proposed": CnnSpec((Conv(32), Conv(64), Conv(128), Conv(128)), (128, 64)),
    "ad_test1": CnnSpec((Conv(32), Conv(32)), (128,)),
    "ad_test2": CnnSpec((Conv(32, pool=False), Conv(32)), (128, 64)),
    # report 002, transfer: net A = conv 32 (4×4), pool, conv 32 (4×4), pool, flatten, dense 256
    "net_a": CnnSpec((Conv(32, kernel=4), Conv(32, kernel=4)), (256,)),
}


class ReportCNN(nn.Sequential):
    """A report CNN as a Sequential of Keras-style layers; ``flat_features`` is the size of
    the flattened conv output for this input shape."""

    def __init__(self, arch: str, in_shape: Sequence[int], num_classes: int,
                 dropout: float = 0.0) -> None:
        if arch not in REPORT_CNNS:
            raise ValueError(f"unknown CNN {arch!r}; choose from {list(REPORT_CNNS)}")
        spec = REPORT_CNNS[arch]
        channels, height, width = (int(s) for s in in_shape)
        layers: list[nn.Module] = []
        for conv in spec.convs:
            pad_h, pad_w = (max(conv.padding, math.ceil((conv.kernel - side) / 2))
                            for side in (height, width))
            layers.append(nn.Sequential(
                nn.Conv2d(channels, conv.channels, conv.kernel, padding=(pad_h, pad_w)),
                nn.ReLU()))
            channels = conv.channels
            height += 2 * pad_h - conv.kernel + 1
            width += 2 * pad_w - conv.kernel + 1
            if conv.pool:
                if min(height, width) >= 2:
                    layers.append(nn.MaxPool2d(2))
                    height, width = height // 2, width // 2
                else:
                    layers.append(nn.Identity())
        flat = channels * height * width
        flatten: list[nn.Module] = [nn.Flatten()]
        if spec.flat_dropout and dropout:
            flatten.append(nn.Dropout(spec.flat_dropout * dropout))
        layers.append(nn.Sequential(*flatten))
        n_in = flat
        for n_out in spec.hidden:
            dense: list[nn.Module] = [nn.Linear(n_in, n_out), nn.ReLU()]
            if dropout:
                dense.append(nn.Dropout(dropout))
            layers.append(nn.Sequential(*dense))
            n_in = n_out
        layers.append(nn.Linear(n_in, num_classes))
        super().__init__(*layers)
        self.flat_features = flat


def resnet18(in_shape: Sequence[int], num_classes: int, stem: str = "imagenet") -> nn.Module:
    """torchvision's ResNet-18 from scratch, first conv for ``in_shape[0]`` channels; global
    average pooling makes it work from 8×8 inputs up.

    ``stem``: ``imagenet`` (torchvision's 7×7 stride-2 conv + 3×3 stride-2 max-pool: a 28×28
    image is 7×7 after it) or ``small`` (MedMNIST v2's ResNet-18 (28): 3×3 stride-1 conv, no
    max-pool: 28×28 stays 28×28).
    """
    if stem not in RESNET_STEMS:
        raise ValueError(f"unknown ResNet stem {stem!r}; choose from {list(RESNET_STEMS)}")
    net = torchvision.models.resnet18(num_classes=num_classes)
    if stem == "small":
        net.conv1 = nn.Conv2d(int(in_shape[0]), 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_shape[0] != 3:
        net.conv1 = nn.Conv2d(int(in_shape[0]), 64, 7, stride=2, padding=3, bias=False)
    return net


def classifier(arch: str, in_shape: Sequence[int], num_classes: int,
               dropout: float = 0.0, stem: str = RESNET_STEMS[0]) -> nn.Module:
    """``resnet18`` with its ``stem`` (no dropout) or a report CNN by name (no stem)."""
    if arch == "resnet18":
        return resnet18(in_shape, num_classes, stem)
    return ReportCNN(arch, in_shape, num_classes, dropout)


# --- ImageNet backbones (report 003 part 2) -----------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


#: Phase 2's trainable layers, by their torchvision names: the report's Keras
#: ``base_model.layers[-4:]`` (the last four layers of the backbone without its top).
#:
#: - ``vgg16``: block5_conv1, block5_conv2, block5_conv3, block5_pool = ``features[24:31]``
#:   (Keras folds each ReLU into its conv; torchvision's ReLUs 25, 27, 29 and the pool have
#:   no weights);
#: - ``resnet50``: conv5_block3_3_conv, conv5_block3_3_bn, conv5_block3_add, conv5_block3_out
#:   = the last bottleneck's ``conv3`` and ``bn3`` (the add and the ReLU have no weights):
#:   not the whole of ``layer4``;
#: - ``resnet18`` (not in the report; Keras has none): the same rule on its last basic block,
#:   whose last four layers are ``conv2``, ``bn2``, the add and the ReLU.
REPORT_UNFROZEN: dict[str, tuple[str, ...]] = {
    "vgg16": tuple(f"features.{i}" for i in range(24, 31)),
    "resnet50": ("layer4.2.conv3", "layer4.2.bn3"),
    "resnet18": ("layer4.1.conv2", "layer4.1.bn2"),
}


class PretrainedNet(nn.Module):
    """ImageNet backbone without its top (no pooling, as Keras' ``include_top=False``) +
    Flatten, Dense ``head_units`` ReLU, Dense classes.

    Inputs are adapted on the device: one channel repeated to three, images smaller than
    ``min_size`` resized up to it, ImageNet normalisation. Phase 1 freezes the whole backbone;
    phase 2 makes :data:`REPORT_UNFROZEN` trainable (``unfrozen``: the report's Keras
    ``layers[-4:]``). Frozen layers stay in eval mode (batch-norm statistics kept) while the
    net trains; an unfrozen batch norm trains in train mode, as an unfrozen Keras one does.
    """

    def __init__(self, backbone: str, in_shape: Sequence[int], num_classes: int, *,
                 weights: torchvision.models.WeightsEnum | None = None, head_units: int = 4096,
                 min_size: int = 32) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose from {list(BACKBONES)}")
        model = getattr(torchvision.models, backbone)(weights=weights)
        if backbone == "vgg16":
            self.features: nn.Module = model.features
        else:
            self.features = nn.Sequential(*list(model.children())[:-2])
        #: Phase 2's layers (views into ``features``: a tuple, so no second state_dict key).
        self.unfrozen = tuple(model.get_submodule(name) for name in REPORT_UNFROZEN[backbone])
        self.size = tuple(max(int(s), min_size) for s in in_shape[1:])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.features.eval()
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 3, *self.size)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, head_units), nn.ReLU(),
                                  nn.Linear(head_units, num_classes))
        self.phase = 1
        self.set_phase(1)

    def set_phase(self, phase: int) -> None:
        """1: backbone frozen; 2: :attr:`unfrozen` trainable too."""
        self.phase = phase
        self.features.requires_grad_(False)
        for layer in self.unfrozen:
            layer.requires_grad_(phase == 2)
        self.train(self.training)

    def train(self, mode: bool = True) -> PretrainedNet:
        super().train(mode)
        self.features.eval()
        if self.phase == 2:
            for layer in self.unfrozen:
                layer.train(mode)
        return self

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """Also a state saved before phase 2 followed the report's rule, which repeated the
        unfrozen block's weights under ``last_block.`` (copies of ``features.`` entries)."""
        state = {k: v for k, v in state_dict.items() if not k.startswith("last_block.")}
        return super().load_state_dict(state, strict=strict, assign=assign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (resize(x, self.size) - self.mean) / self.std
        return self.head(self.features(x))


# --- conditional DCGAN (report 004) -------------------------------------------------------

def gan_size(size: Sequence[int]) -> int:
    """The DCGAN's working side: the power of two at or above the image side, from 8 to 64
    (report 004 trains at 64×64; 8×8 digits get a one-block DCGAN of the same design)."""
    side = 8
    while side < max(size) and side < 64:
        side *= 2
    return side


def dcgan_init(model: nn.Module) -> nn.Module:
    """DCGAN init: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return model


def _blocks(size: int) -> int:
    if size not in (8, 16, 32, 64):
        raise ValueError(f"DCGAN side must be 8, 16, 32 or 64, got {size}")
    return int(math.log2(size // 4))


def _norm(channels: int, on: bool) -> list[nn.Module]:
    """A DCGAN block's batch norm, or none."""
    return [nn.BatchNorm2d(channels)] if on else []


class CondGenerator(nn.Module):
    """Noise + one-hot class -> ``channels``×size×size image in [-1, 1]: a 4×4 transposed conv
    to ``features``·2^blocks channels, then stride-2 4×4 transposed convs halving the channels
    (BN, ReLU), tanh out. At 64×64 with 64 features: 1024 → 512 → 256 → 128 → image.
    ``batchnorm=False`` drops every batch norm (report 004 had them commented out); the convs
    stay bias-free, as they were with the batch norm."""

    def __init__(self, z_dim: int, num_classes: int, channels: int, size: int = 64,
                 features: int = 64, batchnorm: bool = True) -> None:
        super().__init__()
        blocks = _blocks(size)
        widths = [features * 2 ** (blocks - i) for i in range(blocks)]
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim + num_classes, widths[0], 4, 1, 0,
                                                      bias=False),
                                   *_norm(widths[0], batchnorm), nn.ReLU()]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       *_norm(c_out, batchnorm), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = dcgan_init(nn.Sequential(*layers))
        self.z_dim, self.num_classes = z_dim, num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(y, self.num_classes).to(z.dtype)
        return self.net(torch.cat([z, onehot], 1)[:, :, None, None])


class CondDiscriminator(nn.Module):
    """Image + one-hot class planes -> real/fake logit: stride-2 4×4 convs doubling the
    channels from ``features`` (LeakyReLU 0.2, BN after the first unless ``batchnorm=False``),
    a 4×4 valid conv out."""

    def __init__(self, num_classes: int, channels: int, size: int = 64,
                 features: int = 64, batchnorm: bool = True) -> None:
        super().__init__()
        blocks = _blocks(size)
        widths = [features * 2 ** i for i in range(blocks)]
        layers: list[nn.Module] = [nn.Conv2d(channels + num_classes, widths[0], 4, 2, 1,
                                             bias=False), nn.LeakyReLU(0.2)]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), *_norm(c_out, batchnorm),
                       nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False))
        self.net = dcgan_init(nn.Sequential(*layers))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        planes = F.one_hot(y, self.num_classes).to(x.dtype)[:, :, None, None]
        return self.net(torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], 1)).flatten()
