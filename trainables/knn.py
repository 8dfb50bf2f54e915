"""Latent spaces scored by k-NN (report 004): VAE codes today, one k-NN for all of them.

The validation objective is the k-NN accuracy at the sampled ``n_neighbors``; the same
neighbour lists give ``val_acc@k`` for the whole report grid for free.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from study.splits import Splits
from trainables import loop, neighbors
from trainables.loop import DeviceSplits
from trainables.nets import Autoencoder, init_weights


def knn_scores(train_codes: torch.Tensor, train_y: torch.Tensor, query_codes: torch.Tensor,
               query_y: torch.Tensor, *, n_neighbors: int, k_max: int, num_classes: int,
               prefix: str = "val") -> dict[str, float]:
    """``{prefix}_acc`` at ``n_neighbors`` and ``{prefix}_acc@k`` for the report's k grid."""
    ks = neighbors.k_values(n_neighbors, k_max, len(train_codes))
    acc = neighbors.accuracy_by_k(train_codes, train_y, query_codes, query_y, ks, num_classes)
    out = {f"{prefix}_acc@{k}": a for k, a in acc.items() if k in neighbors.K_GRID}
    out[f"{prefix}_acc"] = acc[min(n_neighbors, len(train_codes))]
    return out


def knn_class_scores(train_codes: torch.Tensor, train_y: torch.Tensor, query_codes: torch.Tensor,
                     n_neighbors: int, num_classes: int) -> np.ndarray:
    """Vote fractions (queries × classes) at ``n_neighbors``, the scores for test metrics."""
    k = min(n_neighbors, len(train_codes))
    labels = neighbors.nearest_labels(train_codes, train_y, query_codes, k)
    counts = neighbors.vote_counts(labels, [k], num_classes)[k]
    return (counts.float() / k).cpu().numpy()


class VaeKnnTask:
    """A (dense or conv) VAE trained on reconstruction + ``beta``·KL, scored by k-NN on means."""

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
                 ) -> None:
        self.config, self.data, self.generator = config, data, generator
        self.model = init_weights(Autoencoder(
            data.info.shape, arch=config["arch"], latent_dim=int(config["latent_dim"]),
            variational=True, dropout=float(config["dropout"]),
            batchnorm=bool(config.get("batchnorm", True))), config["init"]).to(data.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(config["lr"]),
                                          weight_decay=float(config.get("weight_decay", 0.0)))
        self.beta = float(config["beta"])

    def _losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, mu, logvar = self.model(x)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        return recon, kl

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        total, n = torch.zeros((), device=self.data.device), 0
        for idx in self.data.batches("train", int(self.config["batch_size"]), self.generator):
            if len(idx) < 2:  # batch norm needs two samples
                continue
            recon, kl = self._losses(self.data.images("train", idx))
            loss = recon + self.beta * kl
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach() * len(idx)
            n += len(idx)
        return {"train_loss": (total / max(n, 1)).item()}

    @torch.no_grad()
    def codes(self, part: str) -> torch.Tensor:
        """Latent means of a whole split, in evaluation batches."""
        self.model.eval()
        return torch.cat([self.model.encode(self.data.images(part, s))[0]
                          for s in self.data.chunks(part)])

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        recon = kl = 0.0
        for s in self.data.chunks("val"):
            r, k = self._losses(self.data.images("val", s))
            n = s.stop - s.start
            recon, kl = recon + r.item() * n, kl + k.item() * n
        n_val = len(self.data.y["val"])
        recon, kl = recon / n_val, kl / n_val
        scores = knn_scores(self.codes("train"), self.data.y["train"], self.codes("val"),
                            self.data.y["val"], n_neighbors=int(self.config["n_neighbors"]),
                            k_max=int(self.config["k_max"]),
                            num_classes=self.data.info.num_classes)
        return {"val_loss": recon + self.beta * kl, "recon_loss": recon, "kl": kl, **scores}

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        scores = knn_class_scores(self.codes("train"), self.data.y["train"], self.codes("test"),
                                  int(self.config["n_neighbors"]), self.data.info.num_classes)
        return {}, scores

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def train_vae(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``vae_knn``."""
    loop.run(config, data, VaeKnnTask)
