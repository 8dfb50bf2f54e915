"""A decoded latent walk of a VAE trial (report 004's latent exploration), from its checkpoint.

The model is rebuilt from the constructor arguments its checkpoint stores beside the weights
(``trainables.checkpoints.load_model``; checkpoints written before they did have no walk).
The walk covers ±2 standard deviations along the two highest-variance directions
of the training codes (PCA of the latent means) when the study's dataset can be loaded here;
otherwise (a results directory copied without its data) it walks the prior N(0, I) along the
two latent axes that change the decoded image most.
"""

from __future__ import annotations

import dataclasses
import logging
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
    """Decode a ``steps × steps`` latent grid of a VAE trial into a PNG; (path, description)."""
    if study.method not in VAE_METHODS:
        return None, f"no latent walk: {study.method} is not a VAE method"
    checkpoint = study.checkpoint(trial_id)
    if checkpoint is None:
        return None, f"no latent walk: trial {trial_id} has no checkpoint"
    import torch

    from trainables.checkpoints import load_model

    try:
        model = load_model(checkpoint)
    except (ValueError, KeyError, RuntimeError) as err:
        return None, f"no latent walk: {err}"
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


def _splits(study: Study) -> Any:
    """The study's dataset as its trials got it (never downloaded), or None when it cannot
    be loaded here (results copied without their data)."""
    try:
        from study.data import load_for
        from study.spec import load_saved

        return load_for(dataclasses.replace(load_saved(str(study.path)), download=False))
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
