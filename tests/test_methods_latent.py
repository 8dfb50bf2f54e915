"""pca_knn, isomap_knn, ae_knn and ae_classifier: architectures against reports 000 / 001,
PCA k-NN against scikit-learn, Isomap's subsample, stage plans, spaces, and a real 2-trial
study of each method on digits through the CLI's main()."""

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from core.splits import DatasetInfo, from_pool
from search_spaces import ae_classifier as ae_classifier_space
from search_spaces import ae_knn, isomap_knn, pca_knn, vae_knn
from study import data as datasets
from study import registry
from study.plan import resolve
from study.run import main
from study.spec import build
from tests.conftest import sampled_configs
from trainables import knn
from trainables.ae_classifier import AeClassifierNet, AeClassifierTask, stage_plan
from trainables.augment import POLICIES, policy
from trainables.loop import DeviceSplits, steps_per_epoch

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 30, 30)]


def linear_sizes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


@pytest.fixture(scope="module")
def digits():
    splits = datasets.load("digits")
    return splits, DeviceSplits.from_splits(splits, torch.device("cpu"))


def test_report001_mlp_layers():
    net = AeClassifierNet((1, 28, 28), 10, arch="mlp", latent_dim=30)
    assert linear_sizes(net.encoder) == [(784, 500), (500, 200), (200, 100), (100, 30)]
    assert linear_sizes(net.decoder) == [(30, 100), (100, 200), (200, 500), (500, 784)]
    assert linear_sizes(net.head) == [(30, 20), (20, 15), (15, 10)]
    x = torch.rand(4, 1, 28, 28)
    assert net.encoder(x).shape == (4, 30) and net.reconstruct(x).shape == x.shape


def test_report000_conv_encoder_is_7x7x256_on_28x28():
    net = AeClassifierNet((1, 28, 28), 10, arch="conv")
    x = torch.rand(2, 1, 28, 28)
    assert net.encoder(x).shape == (2, 256, 7, 7)
    assert net.encoder.pooled_from == [(28, 28), (14, 14)]
    assert net.reconstruct(x).shape == x.shape
    assert linear_sizes(net.head) == [(7 * 7 * 256, 128), (128, 10)]
    convs = [m.out_channels for m in net.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [32, 32, 64, 64, 128, 128, 256, 256]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_ae_classifier_adapts_to_every_image_size(shape, arch):
    net = AeClassifierNet(shape, 3, arch=arch, latent_dim=7)
    x = torch.rand(2, *shape)
    assert net.reconstruct(x).shape == x.shape
    assert net(x).shape == (2, 3)
    if arch == "conv":
        side = shape[1]
        for _ in range(2):  # report 000 pools twice while the map is at least 4 pixels
            side = side // 2 if side >= 4 else side
        assert net.encoder(x).shape == (2, 256, side, side)
        assert net.probe_codes(x).shape == (2, 256)


@pytest.mark.parametrize(("requested", "budget", "plan"), [
    ((10, 10, 0), 20, (10, 10, 0)),
    ((10, 10, 0), 1, (0, 1, 0)),
    ((10, 10, 10), 2, (1, 1, 0)),
    ((10, 10, 10), 3, (1, 1, 1)),
    ((10, 10, 10), 15, (5, 5, 5)),
    ((0, 5, 0), 4, (0, 4, 0)),
    ((20, 1, 0), 5, (4, 1, 0)),
])
def test_stage_plan_scales_to_the_budget(requested, budget, plan):
    assert stage_plan(requested, budget) == plan


def test_stage_plan_always_sums_to_the_budget_with_a_head_epoch():
    for requested in [(a, h, f) for a in (0, 1, 7, 20) for h in (1, 3, 20) for f in (0, 2, 20)]:
        for budget in range(1, 31):
            plan = stage_plan(requested, budget)
            assert sum(plan) == budget and plan[1] >= 1 and min(plan) >= 0


def test_ae_classifier_runs_its_three_stages(digits):
    _, dev = digits
    config = {"arch": "mlp", "latent_dim": 8, "lr": 3e-3, "weight_decay": 0.0, "dropout": 0.1,
              "init": "default", "batch_size": 64, "ae_epochs": 1, "head_epochs": 1,
              "finetune_epochs": 1, "finetune_lr": 1e-3, "max_epochs": 3, "seed": 0,
              **ae_classifier_space.DEFAULTS, "probe_samples": 500}
    task = AeClassifierTask(config, dev, torch.Generator().manual_seed(0))
    assert task.probe_index.shape == (500,)
    stages, classifier_epochs = [], []
    for epoch in (1, 2, 3):
        metrics = {**task.train_epoch(epoch), **task.validate()}
        stages.append(metrics["stage"])
        classifier_epochs.append(metrics[registry.get("ae_classifier").time_attr])
        assert 0.0 <= metrics["val_acc"] <= 1.0 and math.isfinite(metrics["val_loss"])
        assert ("val_knn_acc" in metrics) == (metrics["stage"] == 0)
        assert 0.0 <= metrics["val_auc"] <= 1.0
        assert metrics["stage"] > 0 or metrics["val_auc"] > 0.5  # the probe's votes score it
    assert stages == [0, 1, 2] and classifier_epochs == [0, 1, 2]  # ASHA's clock
    extra, scores = task.test()
    assert extra == {} and scores.shape == (360, 10)
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    restored = AeClassifierTask(config, dev, torch.Generator())
    restored.load_state_dict(task.state_dict())
    assert restored.stage == 2 and np.allclose(restored.test()[1], scores)


def test_classification_stages_take_the_augmentation_and_each_their_own_schedule(digits):
    _, dev = digits
    config = {"arch": "mlp", "latent_dim": 8, "lr": 3e-3, "weight_decay": 0.0, "dropout": 0.0,
              "init": "default", "batch_size": 128, "ae_epochs": 1, "head_epochs": 1,
              "finetune_epochs": 2, "finetune_lr": 1e-3, "max_epochs": 4, "seed": 0,
              **ae_classifier_space.DEFAULTS, "probe_samples": 500,
              "augment": "affine", "lr_schedule": "cosine"}
    task = AeClassifierTask(config, dev, torch.Generator().manual_seed(0))
    head, finetune = task.classifiers[1], task.classifiers[2]
    assert head.augment == finetune.augment == policy("affine")

    def rate(stage):
        return task.classifiers[stage].optimizer.param_groups[0]["lr"]

    task.train_epoch(1)  # pretraining: neither schedule moves
    assert (rate(1), rate(2)) == (3e-3, 1e-3)
    task.train_epoch(2)  # the head's one epoch spans its whole cosine
    assert rate(1) == pytest.approx(0.0, abs=1e-12) and rate(2) == 1e-3
    task.train_epoch(3)  # half of fine-tuning: the cosine's midpoint
    assert rate(2) == pytest.approx(0.5e-3, rel=0.05)
    restored = AeClassifierTask(config, dev, torch.Generator())
    restored.load_state_dict(task.state_dict())
    assert restored.classifiers[2].optimizer.param_groups[0]["lr"] == rate(2)
    assert (restored.classifiers[2].lr_scheduler.last_epoch
            == finetune.lr_scheduler.last_epoch > 0)
    task.train_epoch(4)
    assert rate(2) == pytest.approx(0.0, abs=1e-12)


def test_each_classification_stage_scores_its_own_weight_average(digits):
    _, dev = digits
    config = {"arch": "mlp", "latent_dim": 8, "lr": 3e-3, "weight_decay": 0.0, "dropout": 0.0,
              "init": "default", "batch_size": 128, "ae_epochs": 1, "head_epochs": 1,
              "finetune_epochs": 1, "finetune_lr": 1e-3, "max_epochs": 3, "seed": 0,
              **ae_classifier_space.DEFAULTS, "probe_samples": 500,
              "weight_average": "ema", "ema_decay": 0.9}
    task = AeClassifierTask(config, dev, torch.Generator().manual_seed(0))
    steps = steps_per_epoch(len(dev.y["train"]), 128)
    images, y = dev.images("val"), dev.y["val"]
    for epoch, averaged in [(1, [0, 0]), (2, [steps, 0]), (3, [steps, steps])]:
        task.train_epoch(epoch)
        metrics = task.validate()
        assert [c.averaged.n_averaged.item() for c in task.classifiers.values()] == averaged
        if epoch == 1:
            continue
        stage = task.classifiers[epoch - 1]  # each stage's average starts at its first step
        with torch.no_grad():
            scored = stage.averaged.module.eval()(images)
            trained = task.net.eval()(images)
        assert metrics["val_loss"] == pytest.approx(F.cross_entropy(scored, y).item())
        assert not torch.allclose(scored, trained)
    restored = AeClassifierTask(config, dev, torch.Generator())
    restored.load_state_dict(task.state_dict())
    assert restored.classifiers[2].averaged.n_averaged.item() == steps
    assert np.allclose(restored.test()[1], task.test()[1])


def test_the_space_searches_weight_averaging_and_the_reports_train_without(digits):
    assert set(ae_classifier_space.AUGMENTS) <= set(POLICIES)
    configs = sampled_configs(resolve(build({"method": "ae_classifier"})), draws=40)
    assert {c["weight_average"] for c in configs} == {"none", "ema"}
    assert all((c["weight_average"] == "ema") == ("ema_decay" in c) for c in configs)
    for preset in ae_classifier_space.PRESETS.values():
        assert {k: preset.grid[k] for k in ("augment", "lr_schedule", "weight_average")} == {
            "augment": "none", "lr_schedule": "constant", "weight_average": "none"}


def test_frozen_head_stage_leaves_the_encoder_untouched(digits):
    _, dev = digits
    config = {"arch": "conv", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0, "init": "default",
              "batch_size": 256, "ae_epochs": 0, "head_epochs": 1, "finetune_epochs": 0,
              "max_epochs": 1, "seed": 0, **ae_classifier_space.DEFAULTS}
    task = AeClassifierTask(config, dev, torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in task.net.encoder.state_dict().items()}
    head_before = [p.clone() for p in task.net.head.parameters()]
    assert task.train_epoch(1)["stage"] == 1
    after = task.net.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics included
    assert any(not torch.equal(a, b) for a, b in zip(head_before, task.net.head.parameters()))


def pca_config(**overrides):
    return {"n_components": 12, "n_neighbors": 7, "whiten": False, "seed": 0,
            **pca_knn.DEFAULTS, **overrides}


def test_pca_knn_equals_scikit_learn(digits):
    splits, dev = digits
    task = knn.PcaKnnTask(pca_config(), dev, torch.Generator())
    fit = task.train_epoch(1)
    val = task.validate()
    flat = {p: getattr(splits, f"x_{p}").reshape(len(getattr(splits, f"x_{p}")), -1)
            .astype(np.float32) / 255.0 for p in ("train", "val", "test")}
    pca = PCA(n_components=12, random_state=0).fit(flat["train"])
    z = {p: pca.transform(v) for p, v in flat.items()}
    for k in (7, 1, 5, 10, 25, 50):
        ref = KNeighborsClassifier(n_neighbors=k).fit(z["train"], splits.y_train)
        key = "val_acc" if k == 7 else f"val_acc@{k}"
        assert val[key] == pytest.approx(ref.score(z["val"], splits.y_val))
    # the test's references: the training and validation codes
    ref = KNeighborsClassifier(n_neighbors=7).fit(np.concatenate([z["train"], z["val"]]),
                                                  np.concatenate([splits.y_train, splits.y_val]))
    assert (task.test()[1].argmax(axis=1) == ref.predict(z["test"])).all()
    recon = pca.inverse_transform(z["train"])
    assert fit["train_loss"] == pytest.approx(float(np.mean((recon - flat["train"]) ** 2)),
                                              rel=1e-4)
    assert task.train_epoch(2) == fit and task.validate() == val  # fitted once
    restored = knn.PcaKnnTask(pca_config(), dev, torch.Generator())
    restored.load_state_dict(task.state_dict())
    assert restored.train_epoch(5) == fit and restored.validate() == val  # refitted alike


def test_pca_components_are_clamped_to_the_features(digits):
    _, dev = digits
    task = knn.PcaKnnTask(pca_config(n_components=200, whiten=True), dev, torch.Generator())
    assert task.train_epoch(1)["n_components_fit"] == 64
    assert task.codes["val"].shape == (len(dev.y["val"]), 64)


def test_isomap_is_fitted_on_its_subsample_only(digits, monkeypatch):
    _, dev = digits
    fitted = []

    class SpyIsomap(knn.Isomap):
        def fit(self, x, y=None):
            fitted.append(x.copy())
            return super().fit(x, y)

    monkeypatch.setattr(knn, "Isomap", SpyIsomap)
    config = {"n_components": 100, "n_neighbors": 5, "isomap_neighbors": 8, "seed": 3,
              **isomap_knn.DEFAULTS, "isomap_subsample": 300}
    task = knn.IsomapKnnTask(config, dev, torch.Generator())
    metrics = task.train_epoch(1)
    assert len(fitted) == 1 and fitted[0].shape == (300, 64)
    index = task.subsample(len(dev.y["train"]))
    train = dev.images("train").flatten(1).numpy()
    assert np.array_equal(fitted[0], train[index])
    assert np.array_equal(index, task.subsample(len(dev.y["train"])))  # seeded
    assert metrics["isomap_fit_samples"] == 300 and metrics["n_components_fit"] == 64
    assert math.isnan(metrics["train_loss"])
    assert {p: len(c) for p, c in task.codes.items()} == {
        p: len(dev.y[p]) for p in ("train", "val", "test")}
    assert 0.5 < task.validate()["val_acc"] <= 1.0


@pytest.fixture(scope="module")
def tiny():
    """Two classes, 7 training images: fewer than most n_neighbors and every batch size."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(12, 1, 8, 8), dtype=np.uint8)
    y = np.arange(12, dtype=np.int64) % 2
    splits = from_pool(x, y, DatasetInfo("tiny", ("a", "b"), 1, (8, 8), False), 0.2, 0.2, 0)
    assert splits.sizes() == {"train": 7, "val": 2, "test": 3}
    return DeviceSplits.from_splits(splits, torch.device("cpu"))


AE = {"arch": "dense", "latent_dim": 4, "lr": 1e-3, "dropout": 0.0, "init": "default",
      "batch_size": 256, "beta": 1.0}


@pytest.mark.parametrize(("task_cls", "config"), [
    (knn.PcaKnnTask, pca_config(n_components=100, whiten=True)),
    (knn.IsomapKnnTask, {"n_components": 12, "isomap_neighbors": 10, "seed": 0,
                         **isomap_knn.DEFAULTS}),
    (knn.AutoencoderKnnTask, {**AE, **ae_knn.DEFAULTS}),
    (knn.VaeKnnTask, {**AE, **vae_knn.DEFAULTS}),
], ids=["pca", "isomap", "ae", "vae"])
def test_n_neighbors_beyond_the_training_split_is_clamped_and_reported(tiny, task_cls, config):
    task = task_cls({**config, "n_neighbors": 14}, tiny, torch.Generator().manual_seed(0))
    task.train_epoch(1)
    val = task.validate()
    assert val["n_neighbors_used"] == 7
    assert sorted(k for k in val if k.startswith("val_acc@")) == [
        "val_acc@1", "val_acc@3", "val_acc@5"]  # the grid up to the 7 training images
    # all 7 vote: every image gets the training split's majority class (ties: the lower)
    counts = torch.bincount(tiny.y["train"], minlength=2)
    majority = int(counts.argmax())
    assert val["val_acc"] == pytest.approx((tiny.y["val"] == majority).float().mean().item())
    _, scores = task.test()  # the test's references: the 7 training + 2 validation images
    refs = counts + torch.bincount(tiny.y["val"], minlength=2)
    assert np.allclose(scores, (refs / 9).numpy())


def test_pca_keeps_only_directions_with_variance(tiny):
    task = knn.PcaKnnTask(pca_config(n_components=100, whiten=True), tiny, torch.Generator())
    assert task.train_epoch(1)["n_components_fit"] == 6  # 7 centred images span 6
    for codes in task.codes.values():  # whitening a seventh would amplify noise ~1e6 times
        assert codes.abs().max() < 100


def test_plain_autoencoder_task_has_no_kl(digits):
    _, dev = digits
    config = {"arch": "dense", "latent_dim": 6, "n_neighbors": 5, "lr": 1e-3, "dropout": 0.2,
              "init": "default", "batch_size": 128, "seed": 0, **ae_knn.DEFAULTS}
    task = knn.AutoencoderKnnTask(config, dev, torch.Generator().manual_seed(0))
    assert not task.model.variational and task.beta == 0.0
    task.train_epoch(1)
    val = task.validate()
    assert "kl" not in val and val["val_loss"] == val["recon_loss"]
    assert task.codes("train").shape == (len(dev.y["train"]), 6)


def test_training_codes_are_reused_only_while_the_weights_stand(digits):
    _, dev = digits
    config = {"arch": "dense", "latent_dim": 6, "n_neighbors": 5, "lr": 1e-2, "dropout": 0.0,
              "init": "default", "batch_size": 128, "seed": 0, **ae_knn.DEFAULTS}
    task = knn.AutoencoderKnnTask(config, dev, torch.Generator().manual_seed(0))
    task.train_epoch(1)
    task.validate()
    first = task.train_codes()
    assert torch.equal(first, task.codes("train"))  # what test() scores with
    state = copy.deepcopy(task.state_dict())  # the live tensors change in place
    task.train_epoch(2)
    assert not torch.allclose(task.train_codes(), first)
    task.load_state_dict(state)
    assert torch.equal(task.train_codes(), first)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pca_knn", "isomap_knn", "ae_knn", "ae_classifier"])
def test_two_trial_study_on_digits(method, tmp_path, ray_local):
    assert main([method, "--dataset", "digits", "--num-samples", "2", "--max-epochs", "1",
                 "--storage", str(tmp_path), "--name", "x", "--no-report"]) == 0
    trials = [p for p in (tmp_path / "x").iterdir() if (p / "result.json").exists()]
    assert len(trials) == 2
    for trial in trials:
        last = json.loads((trial / "result.json").read_text().splitlines()[-1])
        assert 0.0 <= last["val_acc"] <= 1.0
        for key in ("test_acc", "test_precision", "test_recall", "test_f1", "test_auc"):
            assert 0.0 <= last[key] <= 1.0, key
        saved = np.load(trial / "predictions.npz")
        assert saved["scores"].shape == (360, 10)
