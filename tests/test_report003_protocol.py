"""Report 003's protocols (``cnn``'s ``protocol``), its hard-label AUC and its Keras policy."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from core.splits import DatasetInfo, Splits, from_pool
from search_spaces import cnn as cnn_space
from trainables.augment import OFFLINE_COPIES, POLICIES, Augment, augment_offline
from trainables.cnn import protocol_splits
from trainables.metrics import classification_metrics

SPLIT, VAL = 0.3, 0.1


def config(protocol: str, **extra) -> dict:
    return {**cnn_space.DEFAULTS, **cnn_space.REPORT003, "seed": 0, "split_ratio": SPLIT,
            "protocol": protocol, **extra}


def flat_images(n: int = 60, side: int = 16) -> Splits:
    """``n`` images, each one grey level of its own (2 classes): an ``affine`` copy of a flat
    image (edges filled with the nearest pixel) keeps its level, so a level names its source."""
    levels = np.arange(n, dtype=np.uint8) * 4 + 3
    x = np.broadcast_to(levels[:, None, None, None], (n, 1, side, side)).copy()
    y = (np.arange(n) % 2).astype(np.int64)
    info = DatasetInfo("flat", ("a", "b"), 1, (side, side), official_test=False)
    return from_pool(x, y, info, 0.2, VAL, seed=0)


def levels(x: np.ndarray) -> set[int]:
    assert (x == x[:, :, :1, :1]).all(), "a copy of a flat image is no longer flat"
    return set(x[:, 0, 0, 0].tolist())


def resplit_as_the_loop(cfg: dict, data: Splits) -> Splits:
    """What ``loop.run`` trains and tests on: the protocol's images re-split."""
    return protocol_splits(cfg, data).resplit(cfg["split_ratio"], VAL, cfg["seed"])


def test_leaky_protocol_trains_on_copies_of_test_images_honest_does_not():
    data = flat_images()
    honest = resplit_as_the_loop(config("honest"), data)
    assert not levels(honest.x_test) & levels(honest.x_train)
    assert sum(honest.sizes().values()) == 60

    leaky = resplit_as_the_loop(config("leaky"), data)
    assert sum(leaky.sizes().values()) == 60 * (1 + OFFLINE_COPIES) == 300  # ×5 in all
    test, train = leaky.x_test[:, 0, 0, 0], levels(leaky.x_train)
    leaked = np.isin(test, list(train)).mean()
    assert leaked > 0.9, f"only {leaked:.0%} of the test images have a copy in training"
    assert abs(len(leaky.y_test) / 300 - SPLIT) < 0.01  # the split of the pooled set
    assert levels(leaky.x_train) | levels(leaky.x_val) | set(test.tolist()) == levels(
        np.concatenate([data.x_train, data.x_val, data.x_test]))


def test_offline_copies_are_augmented_seeded_and_pool_an_official_test(digits):
    small = Splits(digits.x_train[:40], digits.y_train[:40], digits.x_val[:10],
                   digits.y_val[:10], digits.x_test[:10], digits.y_test[:10],
                   replace(digits.info, official_test=True))
    pooled = augment_offline(small, 4, POLICIES["affine"], seed=3)
    originals = np.concatenate([small.x_train, small.x_val, small.x_test])
    assert pooled.sizes() == {"train": 300, "val": 0, "test": 0}
    assert not pooled.info.official_test  # resplit pools it all, as the report's one folder
    assert np.array_equal(pooled.x_train[:60], originals)
    assert np.array_equal(pooled.y_train, np.tile(np.concatenate(
        [small.y_train, small.y_val, small.y_test]), 5))
    copies = pooled.x_train[60:].reshape(4, 60, -1)
    changed = (copies != originals.reshape(1, 60, -1)).any(-1)
    assert changed.mean() > 0.9 and not (copies[0] == copies[1]).all(-1).any()
    again = augment_offline(small, 4, POLICIES["affine"], seed=3)
    assert np.array_equal(again.x_train, pooled.x_train)
    assert sum(pooled.resplit(0.3, 0.3, 0).sizes().values()) == 300


def test_leaky_needs_a_split_ratio_and_the_presets_name_their_protocol():
    with pytest.raises(ValueError, match="split_ratio is needed with protocol=leaky"):
        protocol_splits(config("leaky", split_ratio=None), flat_images())
    assert cnn_space.DEFAULTS["protocol"] == "honest"
    honest, leaky = cnn_space.PRESETS["report003"], cnn_space.PRESETS["report003_leaky"]
    assert leaky.settings == {"protocol": "leaky"} and not honest.settings
    assert [{**p, "augment": "affine"} for p in leaky.points()] == honest.points()
    assert {p["augment"] for p in leaky.points()} == {"none"}  # the copies are the augmentation


def test_auc_of_labels_is_the_macro_recall_of_two_classes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = rng.random((200, 2))
    scores[np.arange(200), y] += 0.3
    m = classification_metrics(y, scores)
    assert m["test_auc_labels"] == pytest.approx(m["test_recall"])
    assert m["test_auc_labels"] == pytest.approx(skm.balanced_accuracy_score(y, scores.argmax(1)))
    assert m["test_auc_labels"] != pytest.approx(m["test_auc"])  # not the scores' AUC


def test_affine_is_the_reports_keras_generator():
    affine = POLICIES["affine"]
    assert (affine.rotation, affine.shift, affine.shear) == (15.0, 0.1, 0.2)
    assert not affine.hflip and not affine.vflip and affine.zoom == (1.0, 1.0)
    assert affine.fill == "nearest"  # Keras' default fill_mode


def centre_of_mass_x(x: torch.Tensor) -> torch.Tensor:
    cols = torch.arange(x.shape[-1], dtype=x.dtype)
    return (x.sum(dim=(1, 2)) * cols).sum(-1) / x.sum(dim=(1, 2, 3))


def test_affine_never_mirrors_an_asymmetric_image():
    x = torch.zeros(400, 1, 32, 32)
    x[..., 8:24, 3:9] = 1.0  # a bar in the left quarter: centre of mass at x = 5.5
    gen = torch.Generator().manual_seed(0)
    assert centre_of_mass_x(POLICIES["affine"](x, gen)).max() < 12
    flipped = centre_of_mass_x(Augment(hflip=True)(x, gen))  # the check would see a flip
    assert flipped.max() > 20


def test_shear_is_in_degrees():
    side = 64
    ramp = ((torch.arange(side) + 0.5) / side).expand(side, side)  # value = column / side
    x = ramp.expand(64, 1, side, side).clone()
    gen = torch.Generator().manual_seed(0)

    def moved(shear: float) -> float:  # largest horizontal move, in pixels, inside
        out = Augment(shear=shear)(x, gen)
        return float((out - x)[..., 8:-8, 8:-8].abs().max()) * side

    # Keras' shear matrix [[1, -sin s], [0, cos s]]: a row y pixels from the centre moves
    # by sin(s) * y; 0.2° moves the outer rows here (y ~ 24) by at most 0.08 px
    assert moved(0.2) <= math.sin(math.radians(0.2)) * 24 + 1e-3
    assert moved(20.0) > 4  # a factor of 0.2 (about 11°) would move them by ~4.8 px
