"""The reports' presets as the trainables run them: the epochs, sizes, grid and schedule a
trial of ``gan_balance --preset report004`` and ``transfer --preset report002 / report003``
receives, and the models and optimisers its task builds from them (on tiny data; the GAN's
1000 passes are counted, not run)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from core.splits import DatasetInfo, Splits
from search_spaces import gan_balance as gan_space
from search_spaces import transfer as transfer_space
from study.plan import resolve
from study.spec import build
from trainables import classify, transfer
from trainables.augment import POLICIES
from trainables.convnets import REPORT_UNFROZEN, PretrainedNet
from trainables.gan_balance import GanBalanceTask
from trainables.loop import DeviceSplits, seed_everything

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


def preset_trials(method: str, preset: str, **fixed):
    """The spec and every trial's config (constants + --set values + grid point)."""
    spec = build({"method": method, "preset": preset, "fixed": fixed})
    plan = resolve(spec)
    return spec, [{**plan.constants, **plan.fixed, **point} for point in plan.grid]


def tiny_splits(side: int, channels: int = 3, classes: int = 2, n: int = 4) -> Splits:
    """``n`` random images a class in each split, ``side`` × ``side``."""
    rng = np.random.default_rng(0)
    parts = {}
    for part in ("train", "val", "test"):
        parts[f"x_{part}"] = rng.integers(0, 256, (n * classes, channels, side, side),
                                          dtype=np.uint8)
        parts[f"y_{part}"] = np.arange(n * classes, dtype=np.int64) % classes
    info = DatasetInfo("tiny", tuple(map(str, range(classes))), channels, (side, side), True)
    return Splits(**parts, info=info)


def trainable(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def trainable_backbone(net: PretrainedNet) -> set[str]:
    """The trainable parameters outside the new head."""
    return {name for name in trainable(net) if not name.startswith("head.")}


def record_classifier_epochs(monkeypatch) -> list[tuple[int, int]]:
    """Stand in for the classifier's training epochs: (epoch, batch size) of each call."""
    calls: list[tuple[int, int]] = []

    def train_epoch(self, epoch):
        calls.append((epoch, self.batch_size))
        return {"train_loss": 0.0, "train_acc": 0.0}

    monkeypatch.setattr(classify.ClassifierTask, "train_epoch", train_epoch)
    return calls


# --- gan_balance --preset report004 -------------------------------------------------------

def test_gan_balance_report004_trial_gets_the_reports_gan_and_classifier():
    spec, (config,) = preset_trials("gan_balance", "report004")
    assert spec.max_epochs == 50
    expected = {"gan_epochs": 1000, "gan_image_size": 64, "gan_batchnorm": False,
                "gan_fraction": 0.0, "gan_features": 64, "z_dim": 100, "gan_lr": 2e-4,
                "gan_batch_size": 128, "balance_ratio": 1.0, "arch": "resnet18",
                "lr": 1e-4, "batch_size": 8, "augment": "medmnist", "max_epochs": 50}
    assert {k: config[k] for k in expected} == expected
    # the report's other run: 600 GAN epochs
    _, (shorter,) = preset_trials("gan_balance", "report004", gan_epochs=600)
    assert shorter["gan_epochs"] == 600 and shorter["gan_image_size"] == 64


def test_gan_balance_report004_task_builds_and_counts_the_reports_stages(
        digits, trial_dir, monkeypatch):
    _, (config,) = preset_trials("gan_balance", "report004")
    task = GanBalanceTask(config, DeviceSplits.from_splits(digits, CPU), seed_everything(0))
    # DCGAN at 64×64 (the 8×8 digits resized up), generator top 1024, no batch norm
    assert task.side == 64
    widths = [m.out_channels for m in task.gen.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [1024, 512, 256, 128, 1]
    assert [m.out_channels for m in task.disc.modules()
            if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]
    assert not any(isinstance(m, nn.BatchNorm2d)
                   for m in [*task.gen.modules(), *task.disc.modules()])
    y = torch.tensor([0, 9])
    fake = task.gen(torch.randn(2, 100), y)
    assert fake.shape == (2, 1, 64, 64) and task.disc(fake, y).shape == (2,)
    assert task.g_opt.param_groups[0]["lr"] == 2e-4
    assert task.g_opt.param_groups[0]["betas"] == (0.5, 0.999)
    # the GAN stage is loop epoch 1 and runs all 1000 passes there (counted, not run)
    assert task.stage_epochs == 1
    assert [task.gan_passes(e) for e in (0, 1, 2, 50)] == [0, 1000, 1000, 1000]
    passes = []

    def fake_pass():
        passes.append(1)
        zero = torch.zeros(())
        return zero, zero, 1

    monkeypatch.setattr(task, "_gan_epoch", fake_pass)
    clf_epochs = record_classifier_epochs(monkeypatch)
    first = task.train_epoch(1)
    assert len(passes) == 1000 and first["gan_epoch"] == 1000
    assert first["synthetic"] > 0 and task.selectable()
    assert task.synthetic[0].shape[1:] == (1, 8, 8)  # generated at 64, resized back
    for epoch in range(2, config["max_epochs"] + 1):
        assert math.isnan(task.train_epoch(epoch)["g_loss"])
    assert len(passes) == 1000
    # the balanced classifier: the report's ResNet-18, Adam 1e-4, batch 8, 50 epochs
    assert clf_epochs == [(e, 8) for e in range(1, 51)]
    assert type(task.clf.model).__name__ == "ResNet"
    assert isinstance(task.clf.optimizer, torch.optim.Adam)
    assert task.clf.optimizer.param_groups[0]["lr"] == 1e-4
    assert task.clf.augment == POLICIES["medmnist"]


def test_gan_epochs_spread_over_the_stage_and_searched_defaults_stay(digits):
    config = {**gan_space.DEFAULTS, **gan_space.START_POINTS[0], "gan_features": 16,
              "z_dim": 16, "arch": "mnist_cnn", "dropout": 0.0, "max_epochs": 4}
    searched = GanBalanceTask(config, DeviceSplits.from_splits(digits, CPU),
                              seed_everything(0))
    assert searched.side == 8 and searched.stage_epochs == 2  # 0.5 of 4 loop epochs
    assert [searched.gan_passes(e) for e in range(5)] == [0, 1, 2, 2, 2]  # one a loop epoch
    assert any(isinstance(m, nn.BatchNorm2d) for m in searched.gen.modules())
    spread = GanBalanceTask({**config, "gan_epochs": 5, "gan_image_size": 16},
                            DeviceSplits.from_splits(digits, CPU), seed_everything(0))
    assert spread.side == 16
    assert [spread.gan_passes(e) for e in range(5)] == [0, 2, 5, 5, 5]
    with pytest.raises(ValueError, match="gan_image_size"):
        gan_space.GanBalanceSettings.from_config({**config, "gan_image_size": 28})


# --- transfer --preset report003 ----------------------------------------------------------

def test_transfer_report003_trials_get_the_reports_setup():
    spec, configs = preset_trials("transfer", "report003", weights="none")
    assert (spec.image_size, spec.max_epochs) == (224, 50)
    assert {(c["backbone"], c["lr"], c["augment"]) for c in configs} == {
        ("vgg16", 0.1, "none"), ("vgg16", 0.1, "flip_rotate_zoom"),
        ("resnet50", 0.01, "none"), ("resnet50", 0.01, "flip_rotate_zoom")}
    for config in configs:
        settings = transfer_space.PretrainedSettings.from_config(config)
        assert (settings.batch_size, settings.head_units, settings.momentum) == (128, 4096, 0.9)
        assert (settings.decay, settings.lr_decay_steps) == (0.002, 1e5)
        assert settings.frozen_fraction == 0.4 and settings.weights == "none"


def test_transfer_report003_task_honours_size_batch_phases_and_decay():
    _, configs = preset_trials("transfer", "report003", weights="none")
    config = next(c for c in configs if c["backbone"] == "resnet50")
    config = {**config, "head_units": 16}  # Flatten(2048×7×7) → 4096 is 411M weights
    data = DeviceSplits.from_splits(tiny_splits(224), CPU)
    task = transfer.PretrainedTask(config, data, seed_everything(0))
    net = task.net
    assert net.size == (224, 224) and net.head[1].in_features == 2048 * 7 * 7
    assert task.batch_size == 128 and task.phase1_epochs == 20
    assert isinstance(task.optimizer, torch.optim.SGD)
    assert task.optimizer.param_groups[0]["momentum"] == 0.9
    assert trainable(net) == {"head.1.weight", "head.1.bias", "head.3.weight", "head.3.bias"}
    net.set_phase(2)
    assert trainable_backbone(net) == {
        "features.7.2.conv3.weight", "features.7.2.bn3.weight", "features.7.2.bn3.bias"}
    # Keras' ExponentialDecay(0.01, decay_steps=1e5, decay_rate=0.002), per optimiser step
    for _ in range(1000):
        task.optimizer.step()
    want = 0.01 * 0.002 ** (1000 / 1e5)
    assert task.optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-9)
    assert task.scheduler.get_last_lr()[0] == pytest.approx(want, rel=1e-9)


def test_the_decay_steps_with_each_batch_of_an_epoch(digits):
    config = {**transfer_space.DEFAULTS, "weights": "none", "backbone": "resnet18",
              "head_units": 16, "momentum": 0.9, "lr": 0.01, "decay_steps": 1e3,
              "batch_size": 128, "augment": "none", "max_epochs": 2}
    task = transfer.PretrainedTask(config, DeviceSplits.from_splits(digits, CPU),
                                   seed_everything(0))
    n = len(digits.y_train)
    steps = n // 128 + (n % 128 >= 2)  # a last batch of one is skipped
    got = task.train_epoch(1)["scheduled_lr"]
    assert got == pytest.approx(0.01 * 0.002 ** (steps / 1e3), rel=1e-9)


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50", "resnet18"])
def test_phase2_unfreezes_the_reports_last_four_keras_layers(backbone):
    net = PretrainedNet(backbone, (3, 32, 32), 2, head_units=8)
    expected = {
        # block5_conv1..3 (+ block5_pool, no weights) = features[24:31]
        "vgg16": {f"features.{i}.{w}" for i in (24, 26, 28) for w in ("weight", "bias")},
        # conv5_block3_3_conv, conv5_block3_3_bn (+ add, out): layer4[-1].conv3 / bn3
        "resnet50": {"features.7.2.conv3.weight", "features.7.2.bn3.weight",
                     "features.7.2.bn3.bias"},
        "resnet18": {"features.7.1.conv2.weight", "features.7.1.bn2.weight",
                     "features.7.1.bn2.bias"},
    }[backbone]
    assert len(REPORT_UNFROZEN[backbone]) == {"vgg16": 7}.get(backbone, 2)
    assert not trainable_backbone(net) and trainable(net)
    net.set_phase(2)
    net.train()
    assert trainable_backbone(net) == expected
    norms = [(m.training, any(m is u for u in net.unfrozen))
             for m in net.features.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(training == unfrozen for training, unfrozen in norms)
    # a state saved when phase 2 unfroze the whole last block (``last_block.`` copies)
    state = net.state_dict()
    assert not any(k.startswith("last_block.") for k in state)
    old = {**state, **{"last_block." + k.removeprefix("features."): v
                       for k, v in state.items() if k.startswith("features.")}}
    PretrainedNet(backbone, (3, 32, 32), 2, head_units=8).load_state_dict(old)


# --- transfer --preset report002 ----------------------------------------------------------

def test_transfer_report002_trains_net_a_and_net_b_at_one_batch_size(digits, monkeypatch):
    spec, (config,) = preset_trials("transfer", "report002")
    assert spec.max_epochs == 10
    expected = {"mode": "split_classes", "a_epochs": 10, "n_frozen": 5, "lr": 1e-3,
                "batch_size": 200, "augment": "none"}
    assert {k: config[k] for k in expected} == expected
    first, second = transfer.class_halves(digits)
    task = transfer.SplitClassesTask(config, DeviceSplits.from_splits(second, CPU),
                                     seed_everything(0), first=first)
    assert all(a is b for a, b in zip(task.frozen, list(task.task_a.model)[:5]))
    for net in (task, task.task_a):
        assert isinstance(net.optimizer, torch.optim.Adam)
        assert net.optimizer.param_groups[0]["lr"] == 1e-3
    calls = record_classifier_epochs(monkeypatch)
    for epoch in range(1, config["max_epochs"] + 1):
        task.train_epoch(epoch)
    # net A's 10 epochs inside loop epoch 1, then net B's; all at the report's batch 200
    assert calls == [*((e, 200) for e in range(1, 11)), (1, 200),
                     *((e, 200) for e in range(2, 11))]
