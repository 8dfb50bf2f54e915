"""The two latent walks of a VAE checkpoint: principal directions, and report 004's corners."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from analysis import latent
from trainables import checkpoints
from trainables.checkpoints import model_args, model_state
from trainables.nets import Autoencoder

STEPS = 5


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory) -> Path:
    """A tiny untrained conv VAE on 8×8 digits, saved as the loop saves a trial's state."""
    torch.manual_seed(0)
    args = model_args(Autoencoder, in_shape=(1, 8, 8), arch="conv", latent_dim=6,
                      variational=True, channels=(4, 8))
    model = checkpoints.build(args)
    with torch.no_grad():  # batch-norm statistics that are not the identity
        model.train()
        model(torch.rand(32, 1, 8, 8))
    path = tmp_path_factory.mktemp("trial") / "state.pt"
    checkpoints.save(path, epoch=1, task=model_state(model, args),
                     generator=torch.Generator(), info={})
    return path


def stub_study(checkpoint: Path, method: str = "vae_knn") -> SimpleNamespace:
    return SimpleNamespace(method=method, dataset="digits", path=checkpoint.parent,
                           checkpoint=lambda trial_id: checkpoint,
                           config=lambda trial_id: {"arch": "conv"})


def test_corner_cells_decode_the_corner_images_codes(vae_checkpoint):
    model = checkpoints.load_model(vae_checkpoint)
    corners = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        grid = latent.corner_grid(model, corners, STEPS)
        mu = model.encode(corners)[0]
        own = torch.sigmoid(model.decode(mu))
        middle = torch.sigmoid(model.decode(mu.mean(0, keepdim=True)))[0]
    assert grid.shape == (STEPS, STEPS, 1, 8, 8)
    for (row, col), image in zip([(0, 0), (0, -1), (-1, 0), (-1, -1)], own, strict=True):
        torch.testing.assert_close(grid[row, col], image)
    torch.testing.assert_close(grid[STEPS // 2, STEPS // 2], middle)  # the four codes' mean
    assert not torch.allclose(grid[0, 0], grid[0, -1])


def test_corner_images_are_the_first_test_images_of_four_classes(digits):
    picked = latent.corner_indices(digits.y_test)
    assert sorted(digits.y_test[picked].tolist()) == [0, 1, 2, 3]
    assert all(i == np.flatnonzero(digits.y_test == digits.y_test[i])[0] for i in picked)
    with pytest.raises(ValueError, match="needs 4 images"):
        latent.corner_indices(np.array([0, 1, 1]))


def test_corner_walk_writes_its_figure_beside_the_pca_walk(vae_checkpoint, digits, tmp_path,
                                                          monkeypatch):
    monkeypatch.setattr(latent, "_splits", lambda study: digits)
    study = stub_study(vae_checkpoint)
    assert list(latent.WALKS) == ["latent_walk", "latent_walk_corners"]
    for name, (walk, _caption) in latent.WALKS.items():
        path, note = walk(study, "t0", tmp_path / f"{name}.png", steps=STEPS)
        assert path is not None and path.stat().st_size > 0, note
    assert "top left test image" in note and "(class 0)" in note

    monkeypatch.setattr(latent, "_splits", lambda study: None)
    path, note = latent.corner_walk(study, "t0", tmp_path / "none.png")
    assert path is None and "dataset cannot be loaded" in note
    path, note = latent.corner_walk(stub_study(vae_checkpoint, "pca_knn"), "t0",
                                    tmp_path / "none.png")
    assert path is None and "not a VAE method" in note
