"""Decoded latent walks of a VAE trial (report 004's latent exploration), from its checkpoint.

The model is rebuilt from the constructor arguments its checkpoint stores beside the weights
(``trainables.checkpoints.load_model``; checkpoints written before they did have no walk).
Two walks, each a grid of decoded codes (:data:`WALKS`, by figure name):

- ``latent_walk`` (:func:`walk`, the project's): ±2 standard deviations along the two
  highest-variance directions of the training codes (PCA of the latent means) when the
  study's dataset can be loaded here; otherwise (a results directory copied without its
  data) the prior N(0, I) along the two latent axes that change the decoded image most.
- ``latent_walk_corners`` (:func:`corner_walk`, the report's): four real test images of
  different classes (:func:`corner_indices`) encoded to their latent means, put at the
  grid's corners, and every cell decoded from the bilinear blend of the four codes
  (:func:`corner_grid`). It needs the dataset.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis import figures
from analysis.results import Study

logger = logging.getLogger(__name__)

#: Methods whose checkpoints hold a VAE ``Autoencoder`` under ``task.model``.
VAE_METHODS = ("vae_knn",)
MAX_CODES = 2000


def walk(study: Study, trial_id: str, path: Path, steps: int = 9) -> tuple[Path | None, str]:
    """Decode a ``steps × steps`` latent grid of a VAE trial along the principal directions
    of its codes into a PNG; (path, description)."""
    model, why = _model(study, trial_id)
    if model is None:
        return None, f"no latent walk: {why}"
    import torch

    splits = _splits(study)
    with torch.no_grad():
        codes = None if splits is None else _codes(splits.x_train, model)
        offsets = np.linspace(-2.0, 2.0, steps)
        if codes is not None and len(codes) > 2:
            centre = codes.mean(0)
            _, sing, vt = torch.linalg.svd(codes - centre, full_matrices=False)
            sd = sing[:2] / np.sqrt(len(codes) - 1)
            axes = vt[:2] * sd[:, None]
            if len(axes) < 2:  # a one-dimensional latent space: walk it along the rows only
                axes = torch.cat([axes, torch.zeros_like(axes)])
            how = (f"PCA of the latent means of {len(codes)} training images: rows move along "
                   "the first, columns along the second principal direction, ±2 sd around "
                   "the mean code")
        else:
            centre, axes = _prior_axes(model)
            how = ("prior N(0, I) (dataset not available here): the two latent axes that "
                   "change the decoded image most, from -2 to 2")
        grid = torch.stack([torch.stack([centre + a * axes[0] + b * axes[1] for b in offsets])
                            for a in offsets])
        flat = grid.reshape(-1, grid.shape[-1]).float()
        images = torch.sigmoid(model.decode(flat)).reshape(steps, steps, *model.in_shape)
    config = study.config(trial_id)
    title = (f"latent walk of trial {trial_id} ({config.get('arch')}, latent_dim "
             f"{model.latent_dim}) on {study.dataset}")
    out = figures.image_grid(images.numpy(), path, title)
    return out, f"Decoded {steps}×{steps} grid; {how}."


def corner_walk(study: Study, trial_id: str, path: Path, steps: int = 9
                ) -> tuple[Path | None, str]:
    """Report 004's walk: decode a ``steps × steps`` grid blending the latent means of four
    test images (:func:`corner_indices`) placed at its corners into a PNG; (path,
    description). Needs the study's dataset (no figure when it cannot be loaded here)."""
    model, why = _model(study, trial_id)
    if model is None:
        return None, f"no corner walk: {why}"
    splits = _splits(study)
    if splits is None:
        return None, "no corner walk: the study's dataset cannot be loaded here"
    if tuple(splits.x_test.shape[1:]) != tuple(model.in_shape):
        return None, (f"no corner walk: the dataset's images ({splits.x_test.shape[1:]}) do "
                      f"not fit the model ({model.in_shape})")
    import torch

    picked = corner_indices(splits.y_test)
    corners = torch.from_numpy(splits.x_test[picked]).float().div_(255.0)
    with torch.no_grad():
        images = corner_grid(model, corners, steps)
    names = [splits.info.classes[c] for c in splits.y_test[picked]]
    config = study.config(trial_id)
    title = (f"corner walk of trial {trial_id} ({config.get('arch')}, latent_dim "
             f"{model.latent_dim}) on {study.dataset}")
    out = figures.image_grid(images.numpy(), path, title)
    where = ", ".join(f"{corner} test image {i} (class {name})" for corner, i, name in zip(
        ("top left", "top right", "bottom left", "bottom right"), picked, names, strict=True))
    return out, (f"Decoded {steps}×{steps} grid between the latent means of four test "
                 f"images at its corners ({where}); each cell decodes the bilinear blend of "
                 "the four codes.")


def corner_indices(labels: np.ndarray, count: int = 4) -> list[int]:
    """The first image of each class in class order, then each class's second, and so on:
    ``count`` test images of as many different classes as there are, deterministically.

    >>> corner_indices(np.array([3, 1, 1, 0, 2, 3, 0]))
    [3, 1, 4, 0]
    >>> corner_indices(np.array([1, 1, 0, 1, 0]))
    [2, 0, 4, 1]
    """
    by_class = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    order = [members[rank] for rank in range(max(map(len, by_class), default=0))
             for members in by_class if rank < len(members)]
    if len(order) < count:
        raise ValueError(f"a corner walk needs {count} images, the test split has {len(order)}")
    return order[:count]


def corner_grid(model: Any, corners: Any, steps: int) -> Any:
    """Decoded images (steps × steps × C×H×W, in [0, 1]) of the codes blending the latent
    means of ``corners`` (4 images: top left, top right, bottom left, bottom right)
    bilinearly: the cell in row ``i``, column ``j`` decodes
    ``(1-u)(1-v) z_tl + (1-u) v z_tr + u (1-v) z_bl + u v z_br`` with ``u = i / (steps - 1)``,
    ``v = j / (steps - 1)``, so each corner cell decodes its image's own code."""
    import torch

    if len(corners) != 4 or steps < 2:
        raise ValueError(f"a corner grid needs 4 corner images and steps >= 2, got "
                         f"{len(corners)} and {steps}")
    tl, tr, bl, br = model.encode(corners)[0]
    u = torch.linspace(0.0, 1.0, steps).view(steps, 1, 1)
    v = torch.linspace(0.0, 1.0, steps).view(1, steps, 1)
    codes = ((1 - u) * (1 - v) * tl + (1 - u) * v * tr + u * (1 - v) * bl + u * v * br)
    flat = codes.reshape(steps * steps, -1)
    return torch.sigmoid(model.decode(flat)).reshape(steps, steps, *model.in_shape)


#: The walks a report draws, by figure name: (function, caption).
WALKS: dict[str, tuple[Callable[..., tuple[Path | None, str]], str]] = {
    "latent_walk": (walk, "decoded latent walk along the principal directions"),
    "latent_walk_corners": (corner_walk, "decoded latent walk between four test images"),
}


def _model(study: Study, trial_id: str) -> tuple[Any, str]:
    """The trial's VAE rebuilt from its checkpoint (CPU, eval), or None and why not."""
    if study.method not in VAE_METHODS:
        return None, f"{study.method} is not a VAE method"
    checkpoint = study.checkpoint(trial_id)
    if checkpoint is None:
        return None, f"trial {trial_id} has no checkpoint"
    from trainables.checkpoints import load_model

    try:
        return load_model(checkpoint), ""
    except (ValueError, KeyError, RuntimeError) as err:
        return None, str(err)


def _splits(study: Study) -> Any:
    """The study's dataset as its trials got it (never downloaded), or None when it cannot
    be loaded here (results copied without their data); the last study's is kept, for the
    walks of one report."""
    return _load_splits(str(study.path))


@functools.lru_cache(maxsize=1)
def _load_splits(study_path: str) -> Any:
    try:
        from study.data import load_for
        from study.spec import load_saved

        return load_for(dataclasses.replace(load_saved(study_path), download=False))
    except Exception as err:  # missing data, another machine: fall back to the prior
        logger.info("latent walk: dataset not loadable here (%s); walking the prior", err)
        return None


def _codes(x_train: np.ndarray, model: Any) -> Any:
    """Latent means of up to MAX_CODES training images (None if the shapes differ)."""
    import torch

    x = torch.from_numpy(x_train[:MAX_CODES]).float().div_(255.0)
    if tuple(x.shape[1:]) != tuple(model.in_shape):
        return None
    return torch.cat([model.encode(x[i:i + 512])[0] for i in range(0, len(x), 512)])


def _prior_axes(model: Any) -> tuple[Any, Any]:
    """Centre 0 and the two unit latent axes whose ±2 moves change the decoding most."""
    import torch

    dim = model.latent_dim
    eye = torch.eye(dim)
    change = (torch.sigmoid(model.decode(2 * eye)) - torch.sigmoid(model.decode(-2 * eye)))
    strength = change.flatten(1).pow(2).mean(1)
    top = strength.argsort(descending=True)[:2]
    if dim == 1:
        return torch.zeros(dim), torch.stack([eye[0], torch.zeros(dim)])
    return torch.zeros(dim), eye[top]
