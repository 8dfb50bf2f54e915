"""Latent spaces scored by k-NN (report 004): PCA, Isomap, AE and VAE codes, one k-NN for all.

The validation objective is the k-NN accuracy at the sampled ``n_neighbors``, the
validation codes' neighbours taken among the training codes; the same neighbour lists give
``val_acc@k`` for the whole report grid for free. Test scores are the k-NN vote fractions at
``n_neighbors`` among the codes of the training **and** validation images together (report
004 used every training image as a reference; the validation split only serves selection, so
the final test gets it back). A reference set smaller than ``n_neighbors`` votes with all its
images: the k used in validation is reported as ``n_neighbors_used`` (the test clamps to its
own, larger reference count the same way), and grid values above it are left out. The k-NN
options (``knn_metric``, ``knn_weights``, ``knn_scale``: ``trainables.neighbors``) apply to
both; ``knn_scale`` (standardize, whiten) is fitted on the references (the training codes in
validation, the training and validation codes in the test).

PCA and Isomap are not iterative. Their task fits the reducer once, in the first epoch it
runs (on the training images flattened as float in [0, 1]), and every later epoch reports
the same cached scores at the cost of a ``tune.report``; their registry entries use an ASHA
grace period of 1, so ASHA stops the weaker ones right after the fit and only the
promising ones spend (nearly free) further iterations. Nothing is checkpointed but the
epoch: a restored trial refits, deterministically, since the reducer's seed is the trial
seed and not the loop's generator. Every epoch scores the same, so ``select_epoch=best``
selects the last one (a tie with the last epoch reloads nothing) and the test never refits.
``train_loss`` / ``val_loss`` are the mean squared
pixel reconstruction errors for PCA (``inverse_transform``) and NaN for Isomap, which
cannot reconstruct. ``n_components`` (and Isomap's ``isomap_neighbors``) are clamped at fit
time to what the data allows (PCA: features, and training images less one; Isomap: its
subsample less one) and the value used is reported as ``n_components_fit``, so one space fits
8×8 digits and CIFAR alike.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.manifold import Isomap

from core.splits import Splits
from search_spaces.ae_knn import AutoencoderKnnSettings
from search_spaces.common import KnnSettings
from search_spaces.isomap_knn import IsomapKnnSettings
from search_spaces.pca_knn import PcaKnnSettings
from search_spaces.vae_knn import VaeKnnSettings
from trainables import loop, neighbors
from trainables.checkpoints import build, load_trained_state, model_args, trained_state
from trainables.loop import DeviceSplits
from trainables.nets import Autoencoder, init_weights
from trainables.optimizers import make_optimizer

PARTS = ("train", "val", "test")


def knn_options(settings: KnnSettings) -> dict[str, str]:
    """The k-NN options of ``settings`` as ``trainables.neighbors.votes`` takes them."""
    return {"metric": settings.knn_metric, "weights": settings.knn_weights,
            "scale": settings.knn_scale}


def knn_scores(train_codes: torch.Tensor, train_y: torch.Tensor, query_codes: torch.Tensor,
               query_y: torch.Tensor, settings: KnnSettings, num_classes: int
               ) -> dict[str, float]:
    """``val_acc`` at ``n_neighbors`` and ``val_acc@k`` for the report's k grid (up to
    ``k_max``).

    k never exceeds the number of training codes: ``n_neighbors`` is clamped to it (the k
    used is ``n_neighbors_used``) and grid values above it are left out.
    """
    used = min(settings.n_neighbors, len(train_codes))
    ks = neighbors.k_values(used, settings.k_max, len(train_codes))
    acc = neighbors.accuracy_by_k(train_codes, train_y, query_codes, query_y, ks, num_classes,
                                  **knn_options(settings))
    out = {f"val_acc@{k}": a for k, a in acc.items() if k in neighbors.K_GRID}
    return {**out, "val_acc": acc[used], "n_neighbors_used": used}


def knn_class_scores(ref_codes: torch.Tensor, ref_y: torch.Tensor, query_codes: torch.Tensor,
                     settings: KnnSettings, num_classes: int) -> np.ndarray:
    """Vote fractions (queries × classes; weighted votes' with ``knn_weights=distance``) at
    ``n_neighbors`` (clamped to the number of reference codes), the scores for test
    metrics."""
    k = min(settings.n_neighbors, len(ref_codes))
    votes = neighbors.votes(ref_codes, ref_y, query_codes, [k], num_classes,
                            **knn_options(settings))[k].float()
    return (votes / votes.sum(dim=1, keepdim=True)).cpu().numpy()


def references_for_test(codes: dict[str, torch.Tensor], y: dict[str, torch.Tensor]
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The final test's reference codes and labels: the training and validation splits'."""
    return torch.cat([codes["train"], codes["val"]]), torch.cat([y["train"], y["val"]])


class AutoencoderKnnTask:
    """A (dense or conv) autoencoder trained on reconstruction (BCE with logits), its codes
    scored by k-NN; :class:`VaeKnnTask` adds the KL term (``beta``) and scores the means."""

    variational: ClassVar[bool] = False
    settings_type: ClassVar[type[AutoencoderKnnSettings]] = AutoencoderKnnSettings

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
                 ) -> None:
        s = self.settings = self.settings_type.from_config(config)
        self.data, self.generator = data, generator
        self.model_args = model_args(
            Autoencoder, in_shape=data.info.shape, arch=s.arch, latent_dim=s.latent_dim,
            variational=self.variational, dropout=s.dropout, batchnorm=s.batchnorm,
            hidden=s.hidden)
        self.model = data.place(init_weights(build(self.model_args), s.init))
        self.optimizer = make_optimizer(self.model.parameters(), "adam", s.lr,
                                        weight_decay=s.weight_decay)
        self.beta = 0.0
        # Codes of the training split under the current weights: the last validation's are
        # the test's too (1.3 s saved on 50,000 CIFAR images). Reset whenever weights change.
        self._train_codes: torch.Tensor | None = None

    def _losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction and KL loss per image (KL is zero for a plain autoencoder), and
        the codes (means) of the batch."""
        logits, mu, logvar = self.model(x)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        if logvar is None:
            return recon, torch.zeros_like(recon), mu
        mu, logvar = mu.float(), logvar.float()  # CPU autocast would sum in bf16
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        return recon, kl, mu

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        self._train_codes = None

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            recon, kl, _ = self._losses(self.data.images("train", idx))
            return recon + self.beta * kl

        return {"train_loss": loop.train_batches(self.data, self.settings.batch_size,
                                                 self.generator, self.optimizer, batch_loss)}

    @torch.no_grad()
    def codes(self, part: str) -> torch.Tensor:
        """Latent codes (a VAE's means) of a whole split, in evaluation batches."""
        self.model.eval()
        with self.data.autocast():
            codes = [self.model.encode(self.data.images(part, s))[0]
                     for s in self.data.chunks(part)]
        return torch.cat(codes).float()

    def train_codes(self) -> torch.Tensor:
        """:meth:`codes` of the training split, computed once per weight update."""
        if self._train_codes is None:
            self._train_codes = self.codes("train")
        return self._train_codes

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        sums = torch.zeros(2, device=self.data.device)  # recon, kl; one sync at the end
        val_codes = []  # from the loss pass: one forward pass over the validation split
        for s in self.data.chunks("val"):
            with self.data.autocast():
                r, k, mu = self._losses(self.data.images("val", s))
            sums += torch.stack((r, k)).float() * (s.stop - s.start)
            val_codes.append(mu.float())
        recon, kl = (sums / len(self.data.y["val"])).tolist()
        scores = knn_scores(self.train_codes(), self.data.y["train"], torch.cat(val_codes),
                            self.data.y["val"], self.settings, self.data.info.num_classes)
        losses = {"val_loss": recon + self.beta * kl, "recon_loss": recon}
        if self.variational:
            losses["kl"] = kl
        return {**losses, **scores}

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        codes = {"train": self.train_codes(), "val": self.codes("val")}
        refs, ref_y = references_for_test(codes, self.data.y)
        scores = knn_class_scores(refs, ref_y, self.codes("test"), self.settings,
                                  self.data.info.num_classes)
        return {}, scores

    def state_dict(self) -> dict[str, Any]:
        return trained_state(self.model, self.model_args, self.optimizer)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_trained_state(state, self.model, self.optimizer)
        self._train_codes = None


#: Fu et al.'s share of each ``cyclical`` cycle spent ramping the KL weight up (then held).
CYCLE_RAMP = 0.5


def kl_weight(settings: VaeKnnSettings, epoch: int) -> float:
    """The KL weight of ``epoch`` (1-based) under ``beta_schedule``.

    ``constant``: ``beta``. ``warmup``: ``beta · min(1, epoch / beta_warmup_epochs)``.
    ``cyclical``: ``max_epochs`` split into ``beta_cycles`` cycles of whole epochs (the last
    takes the remainder), each starting at 0 and ramping linearly to ``beta`` over its first
    half, then holding it; a cycle spans two epochs at least, so ``beta_cycles`` is capped at
    ``max_epochs // 2`` (a one-epoch trial trains at ``beta``).

    >>> s = VaeKnnSettings.from_config({"arch": "dense", "latent_dim": 2, "n_neighbors": 1,
    ...     "lr": 1e-3, "dropout": 0.0, "init": "default", "batch_size": 8, "beta": 1.0,
    ...     "beta_schedule": "cyclical", "beta_cycles": 2, "max_epochs": 9})
    >>> [kl_weight(s, e) for e in range(1, 10)]
    [0.0, 0.5, 1.0, 1.0, 0.0, 0.4, 0.8, 1.0, 1.0]
    """
    if settings.beta_schedule == "warmup":
        return settings.beta * min(1.0, epoch / settings.beta_warmup_epochs)
    if settings.beta_schedule == "cyclical":
        epochs = settings.max_epochs
        cycles = min(settings.beta_cycles, epochs // 2)
        if cycles < 1:
            return settings.beta
        period = epochs // cycles
        cycle = min((epoch - 1) // period, cycles - 1)
        length = period if cycle < cycles - 1 else epochs - cycle * period
        position = epoch - 1 - cycle * period
        return settings.beta * min(1.0, position / (CYCLE_RAMP * length))
    return settings.beta


class VaeKnnTask(AutoencoderKnnTask):
    """A (dense or conv) VAE trained on reconstruction + β·KL, scored by k-NN on means; β
    follows :func:`kl_weight` epoch by epoch (reported as ``kl_weight``), so ``val_loss`` is
    of the epoch's own β (``recon_loss`` and ``kl`` compare across epochs). Only an epoch
    trained at the full ``beta`` may be the reported model (:meth:`selectable`)."""

    variational = True
    settings_type = VaeKnnSettings
    settings: VaeKnnSettings

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.beta = kl_weight(self.settings, epoch)
        return {**super().train_epoch(epoch), "kl_weight": self.beta}

    def selectable(self) -> bool:
        """Whether the current weights may be the reported model: trained at ``beta``."""
        return self.beta == self.settings.beta


class ReducerKnnTask(ABC):
    """A scikit-learn reducer fitted once on the training images, its codes scored by k-NN.

    Subclasses implement :meth:`fit_transform` and name their :attr:`settings_type`; the
    first epoch fits and scores, later epochs report the cached results (see the module
    docstring). Loading a state drops the fit; the next pass that needs codes refits.
    """

    settings_type: ClassVar[type[KnnSettings]]

    def __init__(self, config: dict[str, Any], data: DeviceSplits, generator: torch.Generator
                 ) -> None:
        self.settings = self.settings_type.from_config(config)
        self.data = data
        self.seed = loop.trial_seed(config)
        self.codes: dict[str, torch.Tensor] = {}
        self.fit_metrics: dict[str, float] = {}
        self.val_metrics: dict[str, float] = {}

    @abstractmethod
    def fit_transform(self, x: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                                dict[str, float]]:
        """Codes of every split from flattened [0, 1] images, and the fit's metrics
        (``train_loss``, ``val_loss``, ``n_components_fit``, ...)."""

    def fit(self) -> None:
        """Fit the reducer and encode every split, unless that is done already."""
        if not self.codes:
            x = {p: self.data.images(p).flatten(1).cpu().numpy() for p in PARTS}
            codes, self.fit_metrics = self.fit_transform(x)
            self.codes = {p: torch.from_numpy(np.ascontiguousarray(c, dtype=np.float32))
                          .to(self.data.device) for p, c in codes.items()}
            self.val_metrics = {}

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.fit()
        return {k: v for k, v in self.fit_metrics.items() if k != "val_loss"}

    def validate(self) -> dict[str, float]:
        self.fit()
        if not self.val_metrics:
            self.val_metrics = {"val_loss": self.fit_metrics["val_loss"], **knn_scores(
                self.codes["train"], self.data.y["train"], self.codes["val"], self.data.y["val"],
                self.settings, self.data.info.num_classes)}
        return self.val_metrics

    def test(self) -> tuple[dict[str, float], np.ndarray]:
        self.fit()
        refs, ref_y = references_for_test(self.codes, self.data.y)
        scores = knn_class_scores(refs, ref_y, self.codes["test"], self.settings,
                                  self.data.info.num_classes)
        return {}, scores

    def state_dict(self) -> dict[str, Any]:
        return {}  # a restored trial refits deterministically

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.codes = {}


class PcaKnnTask(ReducerKnnTask):
    """PCA (optionally whitened); losses are mean squared pixel reconstruction errors."""

    settings_type = PcaKnnSettings
    settings: PcaKnnSettings

    def fit_transform(self, x: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                                dict[str, float]]:
        n_train, n_features = x["train"].shape
        # centred training images span at most n_train - 1 directions; a further one has no
        # variance, and whitening would blow its noise up over every other component
        n_components = max(1, min(self.settings.n_components, n_features, n_train - 1))
        pca = PCA(n_components=n_components, whiten=self.settings.whiten,
                  random_state=self.seed % 2**32).fit(x["train"])
        codes = {p: pca.transform(v) for p, v in x.items()}

        def mse(part: str) -> float:
            return float(np.mean((pca.inverse_transform(codes[part]) - x[part]) ** 2))

        return codes, {"train_loss": mse("train"), "val_loss": mse("val"),
                       "n_components_fit": n_components,
                       "explained_variance": float(pca.explained_variance_ratio_.sum())}


class IsomapKnnTask(ReducerKnnTask):
    """Isomap fitted on a seeded random subsample (``isomap_subsample`` training images, as
    Isomap is quadratic in them) and applied to all splits; no reconstruction, losses NaN."""

    finite_metrics: ClassVar[tuple[str, ...]] = ()  # NaN losses are no divergence here
    settings_type = IsomapKnnSettings
    settings: IsomapKnnSettings

    def subsample(self, n_train: int) -> np.ndarray:
        """Sorted indices of the training images Isomap is fitted on."""
        size = min(self.settings.isomap_subsample, n_train)
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n_train, size=size, replace=False))

    def fit_transform(self, x: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                                dict[str, float]]:
        fit_x = x["train"][self.subsample(len(x["train"]))]
        n_fit, n_features = fit_x.shape
        n_components = max(1, min(self.settings.n_components, n_features, n_fit - 1))
        n_graph = max(1, min(self.settings.isomap_neighbors, n_fit - 1))
        isomap = Isomap(n_neighbors=n_graph, n_components=n_components,
                        n_jobs=torch.get_num_threads()).fit(fit_x)
        codes = {p: isomap.transform(v) for p, v in x.items()}
        return codes, {"train_loss": math.nan, "val_loss": math.nan,
                       "n_components_fit": n_components, "isomap_neighbors_fit": n_graph,
                       "isomap_fit_samples": n_fit}


def train_vae(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``vae_knn``."""
    loop.run(config, data, VaeKnnTask)


def train_ae(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``ae_knn``."""
    loop.run(config, data, AutoencoderKnnTask)


def train_pca(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``pca_knn``."""
    loop.run(config, data, PcaKnnTask)


def train_isomap(config: dict[str, Any], data: Splits) -> None:
    """Ray Tune trainable of ``isomap_knn``."""
    loop.run(config, data, IsomapKnnTask)
