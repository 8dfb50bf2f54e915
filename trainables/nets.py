"""Model definitions shared by the trainables: MLPs, conv stacks, autoencoders, init schemes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from core.names import INIT_SCHEMES


def init_weights(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise every linear / conv layer: glorot_uniform (bias 0.01, as report 003),
    he_normal (bias 0), zeros, ones, or ``default`` (leave torch's init)."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {INIT_SCHEMES}")
    if scheme == "default":
        return model
    for layer in model.modules():
        if not isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            continue
        with torch.no_grad():
            if scheme == "glorot_uniform":
                nn.init.xavier_uniform_(layer.weight)
                bias = 0.01
            elif scheme == "he_normal":
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                bias = 0.0
            else:
                bias = 0.0 if scheme == "zeros" else 1.0
                layer.weight.fill_(bias)
            if layer.bias is not None:
                layer.bias.fill_(bias)
    return model


def mlp(sizes: Sequence[int], *, dropout: float = 0.0, batchnorm: bool = False,
        last_activation: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU (+BN, +dropout) between."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            if batchnorm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """Stride-2 3×3 conv blocks (BN, ReLU, optional dropout); remembers every block's
    input size so a decoder can mirror it exactly for any image size."""

    def __init__(self, in_shape: Sequence[int], channels: Sequence[int], *,
                 batchnorm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        blocks, c_in = [], in_shape[0]
        for c_out in channels:
            block: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)]
            if batchnorm:
                block.append(nn.BatchNorm2d(c_out))
            block.append(nn.ReLU())
            if dropout > 0:
                block.append(nn.Dropout2d(dropout))
            blocks.append(nn.Sequential(*block))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        size = (int(in_shape[1]), int(in_shape[2]))
        self.sizes: list[tuple[int, int]] = []
        for _ in channels:
            self.sizes.append(size)
            size = ((size[0] - 1) // 2 + 1, (size[1] - 1) // 2 + 1)  # 3×3, stride 2, pad 1
        self.out_shape: tuple[int, ...] = (int(channels[-1]), *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class ConvDecoder(nn.Module):
    """Mirror of a :class:`ConvEncoder`: transposed convs back to the input size, logits out."""

    def __init__(self, encoder: ConvEncoder, out_channels: int, *, batchnorm: bool = True) -> None:
        super().__init__()
        chans = [block[0].out_channels for block in encoder.blocks]
        targets = list(reversed(encoder.sizes))
        c_outs = [*reversed(chans[:-1]), out_channels]
        self.targets = targets
        self.ups = nn.ModuleList()
        self.posts = nn.ModuleList()
        c_in = chans[-1]
        for i, c_out in enumerate(c_outs):
            last = i == len(c_outs) - 1
            self.ups.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1))
            post: list[nn.Module] = []
            if not last:
                if batchnorm:
                    post.append(nn.BatchNorm2d(c_out))
                post.append(nn.ReLU())
            self.posts.append(nn.Sequential(*post))
            c_in = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for up, post, size in zip(self.ups, self.posts, self.targets):
            x = post(up(x, output_size=size))
        return x


class Autoencoder(nn.Module):
    """Dense or conv (variational) autoencoder producing a ``latent_dim`` code.

    ``forward`` returns ``(reconstruction logits, mu, logvar)``; ``logvar`` is None for a
    plain autoencoder. Codes for k-NN are the means ``mu``.
    """

    def __init__(self, in_shape: Sequence[int], *, arch: str, latent_dim: int,
                 variational: bool, dropout: float = 0.0, batchnorm: bool = True,
                 # hidden: report 004's dense widths as assumed (search_spaces.ae_knn's
                 # REPORT_DENSE); checkpoints stored before ``hidden`` was rebuild with them
                 hidden: Sequence[int] = (512, 256), channels: Sequence[int] = (32, 64, 128)
                 ) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.variational = variational
        self.latent_dim = latent_dim
        code_out = 2 * latent_dim if variational else latent_dim
        if arch == "dense":
            n_in = int(torch.tensor(in_shape).prod())
            self.body = nn.Sequential(nn.Flatten(), mlp([n_in, *hidden], dropout=dropout,
                                                        batchnorm=batchnorm, last_activation=True))
            self.head = nn.Linear(hidden[-1], code_out)
            self.unhead = nn.Sequential(
                mlp([latent_dim, *reversed(hidden)], dropout=dropout, batchnorm=batchnorm,
                    last_activation=True),
                nn.Linear(hidden[0], n_in), nn.Unflatten(1, self.in_shape))
            self.unbody: nn.Module = nn.Identity()
        elif arch == "conv":
            encoder = ConvEncoder(in_shape, channels, batchnorm=batchnorm, dropout=dropout)
            flat = int(torch.tensor(encoder.out_shape).prod())
            self.body = nn.Sequential(encoder, nn.Flatten())
            self.head = nn.Linear(flat, code_out)
            self.unhead = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(),
                                        nn.Unflatten(1, encoder.out_shape))
            self.unbody = ConvDecoder(encoder, in_shape[0], batchnorm=batchnorm)
        else:
            raise ValueError(f"unknown autoencoder arch {arch!r} (dense or conv)")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latent mean and (for a VAE) log-variance of images in [0, 1]."""
        h = self.head(self.body(x))
        if self.variational:
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar
        return h, None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits for latent codes (apply sigmoid for images)."""
        return self.unbody(self.unhead(z))

    def forward(self, x: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        mu, logvar = self.encode(x)
        z = mu
        if self.variational and self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar
