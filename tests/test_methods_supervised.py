"""cnn, transfer, medmnist_resnet and gan_balance: architectures against reports 002-004,
on-device augmentation, class splits, imbalance and balancing, ImageNet-weight handling,
spaces, and a real 2-trial study of each method on digits through the CLI's main()."""

import io
import json
import math
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from medmnist.evaluator import getACC, getAUC
from PIL import Image
from torch import nn

from core.errors import StudyError
from core.names import CNN_ARCHS
from search_spaces import cnn as cnn_space
from search_spaces import gan_balance as gan_space
from search_spaces import transfer as transfer_space
from study import registry
from study.run import main
from trainables import transfer
from trainables.augment import POLICIES, Augment
from trainables.convnets import (
    REPORT_CNNS,
    CondDiscriminator,
    CondGenerator,
    PretrainedNet,
    ReportCNN,
    gan_size,
    resnet18,
)
from trainables.gan_balance import GanBalanceTask, balance_counts, imbalance_mask
from trainables.loop import Acceleration, DeviceSplits, seed_everything
from trainables.medmnist_resnet import medmnist_metrics

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64)]


def linear_sizes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def conv_widths(module: nn.Module) -> list[int]:
    return [m.out_channels for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


# --- architectures against the reports ----------------------------------------------------

def test_report002_cifar_cnn():
    net = ReportCNN("cifar_cnn", (3, 32, 32), 10, dropout=0.2)
    assert net.flat_features == 1024
    assert conv_widths(net) == [64, 128, 256]
    assert linear_sizes(net) == [(1024, 128), (128, 256), (256, 10)]
    assert sorted(m.p for m in net.modules() if isinstance(m, nn.Dropout)) == [0.1, 0.2, 0.2]
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_report002_mnist_cnn():
    net = ReportCNN("mnist_cnn", (1, 28, 28), 10, dropout=0.5)
    assert net.flat_features == 12544
    assert conv_widths(net) == [32, 64]
    assert linear_sizes(net) == [(12544, 128), (128, 10)]
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.5]


def test_report002_net_a_has_the_reports_seven_layers():
    net = ReportCNN("net_a", (3, 32, 32), 5)
    kinds = [type(layer[0] if isinstance(layer, nn.Sequential) else layer).__name__
             for layer in net]
    assert kinds == ["Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d", "Flatten", "Linear", "Linear"]
    assert [m.kernel_size for m in net.modules() if isinstance(m, nn.Conv2d)] == [(4, 4)] * 2
    assert linear_sizes(net) == [(800, 256), (256, 5)]


def test_report003_nets_on_64x64():
    proposed = ReportCNN("ad_proposed", (1, 64, 64), 2)
    assert sum(isinstance(m, nn.MaxPool2d) for m in proposed.modules()) == 4
    assert linear_sizes(proposed)[1:] == [(128, 64), (64, 2)]
    test1 = ReportCNN("ad_test1", (1, 64, 64), 2)
    assert conv_widths(test1) == [32, 32] and linear_sizes(test1) == [(32 * 14 * 14, 128),
                                                                      (128, 2)]
    test2 = ReportCNN("ad_test2", (1, 64, 64), 2)
    assert sum(isinstance(m, nn.MaxPool2d) for m in test2.modules()) == 1
    assert linear_sizes(test2) == [(32 * 30 * 30, 128), (128, 64), (64, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("arch", list(REPORT_CNNS))
def test_report_cnns_adapt_to_every_image_size(arch, shape):
    net = ReportCNN(arch, shape, 3, dropout=0.1)
    assert net(torch.rand(2, *shape)).shape == (2, 3)
    assert len(net) == len(ReportCNN(arch, (3, 32, 32), 3, dropout=0.1))  # same layer count


def test_resnet18_stem_and_any_size():
    net = resnet18((1, 28, 28), 2)
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert net.conv1.in_channels == 1
    for shape in SHAPES:
        assert resnet18(shape, 2)(torch.rand(2, *shape)).shape == (2, 2)


def test_dcgan_of_report004_at_64():
    gen, disc = CondGenerator(100, 2, 1, 64, 64), CondDiscriminator(2, 1, 64, 64)
    widths = [m.out_channels for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [1024, 512, 256, 128, 1]
    assert conv_widths(disc) == [64, 128, 256, 512, 1]
    assert all(m.negative_slope == 0.2 for m in disc.modules() if isinstance(m, nn.LeakyReLU))
    y = torch.tensor([0, 1, 1])
    fake = gen(torch.randn(3, 100), y)
    assert fake.shape == (3, 1, 64, 64) and fake.abs().max() <= 1
    assert disc(fake, y).shape == (3,)
    assert abs(float(gen.net[0].weight.std()) - 0.02) < 0.005


@pytest.mark.parametrize(("shape", "side"), [((1, 8, 8), 8), ((1, 28, 28), 32),
                                             ((3, 32, 32), 32), ((1, 64, 64), 64)])
def test_dcgan_side_follows_the_image(shape, side):
    assert gan_size(shape[1:]) == side
    gen, disc = CondGenerator(16, 10, shape[0], side, 16), CondDiscriminator(10, shape[0], side, 16)
    y = torch.arange(4)
    assert disc(gen(torch.randn(4, 16), y), y).shape == (4,)


@pytest.mark.parametrize("backbone", ["resnet18", "vgg16"])
def test_pretrained_net_phases_and_small_inputs(backbone):
    net = PretrainedNet(backbone, (1, 8, 8), 5, head_units=16)
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 5)
    flat = 512  # both backbones end in 512 channels at 1×1 for 32×32 inputs
    assert linear_sizes(net.head) == [(flat, 16), (16, 5)]
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.") for n in trainable)
    net.set_phase(2)
    last = {id(p) for layer in net.unfrozen for p in layer.parameters()}
    assert last and all(p.requires_grad == (id(p) in last) for p in net.features.parameters())
    net.train()
    assert all(layer.training for layer in net.unfrozen) and not net.features[0].training


# --- augmentation -------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(POLICIES))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_augmentation_keeps_shape_dtype_and_range(name, shape):
    x = torch.rand(16, *shape)
    out = POLICIES[name](x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    again = POLICIES[name](x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert (out is x) == (name == "none")


def test_flip_and_crop_move_pixels_exactly():
    x = torch.rand(64, 1, 8, 8)
    flipped = Augment(hflip=True)(x, torch.Generator().manual_seed(1))
    same = (flipped == x).flatten(1).all(1)
    assert same.any() and (~same).any()
    assert torch.equal(flipped[~same], x[~same].flip(-1))
    cropped = Augment(crop_pad=4 / 32)(x, torch.Generator().manual_seed(2))  # 1 px on 8×8
    for out, img in zip(cropped, x):  # every output is the input shifted by whole pixels
        padded = nn.functional.pad(img, (1, 1, 1, 1))
        assert any(torch.allclose(out, padded[:, 1 + dy:9 + dy, 1 + dx:9 + dx], atol=1e-5)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))


# --- transfer: class splits and ImageNet weights ------------------------------------------

def test_split_classes_relabels_the_halves(digits):
    first, second = transfer.class_halves(digits)
    assert first.info.classes == ("0", "1", "2", "3", "4")
    assert second.info.classes == ("5", "6", "7", "8", "9")
    for part in ("train", "val", "test"):
        y = getattr(digits, f"y_{part}")
        assert np.array_equal(getattr(first, f"y_{part}"), y[y < 5])
        assert np.array_equal(getattr(second, f"y_{part}"), y[y >= 5] - 5)
        assert np.array_equal(getattr(second, f"x_{part}"), getattr(digits, f"x_{part}")[y >= 5])


def test_split_classes_needs_four_classes(digits):
    two = transfer.class_subset(digits, [3, 8])
    assert two.info.classes == ("3", "8") and set(two.y_train) == {0, 1}
    with pytest.raises(StudyError, match="at least 4 classes"):
        transfer.class_halves(two)


def test_net_b_freezes_net_a_layers(digits):
    first, second = transfer.class_halves(digits)
    config = {"a_epochs": 1, "n_frozen": 5, "lr": 1e-3, "batch_size": 64, "augment": "none"}
    task = transfer.SplitClassesTask(config, DeviceSplits.from_splits(second, torch.device("cpu")),
                                     seed_everything(0), first=first)
    before = [p.clone() for p in task.frozen.parameters()]
    metrics = task.train_epoch(1)
    assert {"a_val_acc", "a_train_loss", "train_loss"} <= set(metrics)
    after_a = [p.clone() for p in task.frozen.parameters()]
    assert any(not torch.equal(b, a) for b, a in zip(before, after_a))  # net A trained them
    task.train_epoch(2)
    assert all(torch.equal(a, p) for a, p in zip(after_a, task.frozen.parameters()))
    assert linear_sizes(task.model[1]) == [(32, 128), (128, 5)]  # 8×8 digits: 32 features


def test_imagenet_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    weights = transfer.WEIGHTS["resnet18"]

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(type(weights), "get_state_dict", offline)
    assert transfer.imagenet_weights("resnet18", "none") is None
    assert transfer.imagenet_weights("resnet18", "auto") is None
    with pytest.raises(StudyError, match="not in torchvision's cache") as info:
        transfer.imagenet_weights("resnet18", "imagenet")
    assert "\n" not in str(info.value) and "weights=none" in str(info.value)
    cached = tmp_path / "checkpoints" / Path(weights.url).name
    cached.parent.mkdir()
    cached.write_bytes(b"")
    assert transfer.imagenet_weights("resnet18", "auto") is weights
    assert transfer.imagenet_weights("resnet18", "imagenet") is weights


# --- gan_balance: imbalance and balancing -------------------------------------------------

def test_imbalance_and_balance_counts():
    y = torch.arange(4).repeat_interleave(torch.tensor([10, 10, 10, 7]))
    kept = torch.bincount(y[imbalance_mask(y, 4, 0.3)], minlength=4).tolist()
    assert kept == [10, 10, 3, 3]
    assert imbalance_mask(y, 4, 1.0).all()
    assert balance_counts([399, 147], 1.0) == [0, 252]  # report 004's BreastMNIST
    assert balance_counts([10, 10, 3, 3], 0.5) == [0, 0, 2, 2]


@pytest.mark.parametrize("amp_dtype", [None, torch.bfloat16])
def test_gan_balance_generates_the_missing_images(digits, trial_dir, amp_dtype):
    # The small CNN classifies: the GAN and the balancing are under test (ResNet-18 made this
    # test 20× slower, 76 s under bf16 on a 2-core CI machine).
    config = {**gan_space.DEFAULTS, **gan_space.START_POINTS[0], "imbalance": 0.3,
              "gan_features": 16, "z_dim": 32, "batch_size": 64, "max_epochs": 2,
              "arch": "mnist_cnn", "dropout": 0.1}
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"), Acceleration(amp_dtype))
    task = GanBalanceTask(config, dev, seed_everything(0))
    dtypes = set()
    for layer in [*task.gen.modules(), *task.disc.modules()]:
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layer.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    counts = torch.bincount(task.real.y["train"], minlength=10).tolist()
    assert counts[:5] == torch.bincount(dev.y["train"], minlength=10).tolist()[:5]
    assert max(counts[5:]) < min(counts[:5])
    metrics = task.train_epoch(1)  # gan_fraction 0.5 of 2 epochs: the GAN stage is epoch 1
    assert math.isfinite(metrics["g_loss"]) and math.isfinite(metrics["d_loss"])
    assert metrics[registry.get("gan_balance").time_attr] == 1  # the balanced classifier's first
    x, y = task.synthetic
    assert x.dtype == torch.uint8 and x.shape[1:] == (1, 8, 8)
    assert torch.bincount(y, minlength=10).tolist() == balance_counts(counts, 1.0)
    assert metrics["synthetic"] == len(y) > 0
    assert len(task.clf.data.y["train"]) == 10 * max(counts)
    with Image.open(trial_dir / "samples.png") as grid:  # 10 rows of 8, 8×8 cells scaled ×8
        assert grid.size == (8 * 10 * 8, 10 * 10 * 8)
    assert math.isnan(task.train_epoch(2)["g_loss"])
    assert dtypes == {amp_dtype or torch.float32}  # the GAN stage ran under the autocast


def test_asha_counts_gan_balance_epochs_from_the_balanced_classifier(digits):
    config = {**gan_space.DEFAULTS, **gan_space.START_POINTS[0], "gan_features": 8,
              "z_dim": 8, "max_epochs": 8, "gan_fraction": 0.5, "arch": "mnist_cnn",
              "dropout": 0.1}
    task = GanBalanceTask(config, DeviceSplits.from_splits(digits, torch.device("cpu")),
                          seed_everything(0))
    assert task.stage_epochs == 4
    assert [task.classifier_epochs(e) for e in range(1, 9)] == [0, 0, 0, 1, 2, 3, 4, 5]


def _round_trip(make, config, dev):
    """Train one epoch, save the state as the loop does, restore it into a fresh task:
    the same test scores."""
    task = make(config, dev, seed_everything(0))
    task.train_epoch(1)
    buffer = io.BytesIO()
    torch.save(task.state_dict(), buffer)
    buffer.seek(0)
    fresh = make(config, dev, seed_everything(1))
    fresh.load_state_dict(torch.load(buffer, map_location="cpu", weights_only=False))
    assert np.allclose(task.test()[1], fresh.test()[1], atol=1e-6)
    return task, fresh


def test_checkpoints_restore_pretrained_and_balanced_tasks(digits, trial_dir):
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    config = {**transfer_space.DEFAULTS, "weights": "none", "backbone": "resnet18",
              "head_units": 16, "momentum": 0.9, "decay": 0.01, "lr": 0.01, "batch_size": 128,
              "augment": "flip_crop", "max_epochs": 2}
    task, fresh = _round_trip(transfer.PretrainedTask, config, dev)
    assert fresh.scheduler.get_last_lr() == task.scheduler.get_last_lr() < [0.01]
    config = {**gan_space.DEFAULTS, **gan_space.START_POINTS[0], "imbalance": 0.5,
              "gan_features": 16, "z_dim": 32, "arch": "mnist_cnn", "dropout": 0.0,
              "batch_size": 128, "max_epochs": 1}
    task, fresh = _round_trip(GanBalanceTask, config, dev)
    assert torch.equal(task.synthetic[0], fresh.synthetic[0])
    assert len(fresh.clf.data.y["train"]) == len(task.clf.data.y["train"])


# --- MedMNIST's evaluator, spaces ---------------------------------------------------------

def test_medmnist_metrics_follow_its_evaluator():
    y = np.array([0, 1, 1, 0, 1])
    scores = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55], [0.1, 0.9]])
    got = medmnist_metrics(y, scores, "binary-class")
    assert got["test_medmnist_acc"] == getACC(y, scores, "binary-class") == 0.6
    assert got["test_medmnist_auc"] == getAUC(y, scores, "binary-class")
    assert math.isnan(medmnist_metrics(np.zeros(3, int), np.eye(3), "multi-class")
                      ["test_medmnist_auc"])


def test_cnn_space_covers_the_reports():
    assert set(CNN_ARCHS) == set(REPORT_CNNS) - {"net_a"}
    points = cnn_space.PRESETS["report003"].points()
    assert {p["split_ratio"] for p in points} == {0.1, 0.3, 0.5}
    assert {p["init"] for p in points} == {"glorot_uniform", "zeros", "ones"}


# --- real studies -------------------------------------------------------------------------

STUDIES = {
    "cnn": [],
    "transfer": ["--set", "weights=none", "--set", "backbone=resnet18"],
    "medmnist_resnet": ["--set", "batch_size=64"],
    "gan_balance": ["--set", "imbalance=0.3", "--set", "batch_size=64"],
}


def _check_trials(study_dir: Path, n: int, test_labels: np.ndarray) -> list[dict]:
    """The last result of each of the ``n`` trials, checked; split_classes trials of
    transfer are scored on task B (the upper half of the classes, relabelled), cnn trials
    on the test split of their split_ratio."""
    trials = [p for p in study_dir.iterdir() if (p / "result.json").exists()]
    assert len(trials) == n
    finals = []
    for trial in trials:
        last = json.loads((trial / "result.json").read_text().splitlines()[-1])
        assert 0.0 <= last["val_acc"] <= 1.0
        for key in ("test_acc", "test_precision", "test_recall", "test_f1", "test_auc"):
            assert 0.0 <= last[key] <= 1.0, key
        y, k = test_labels, int(test_labels.max()) + 1
        if last["config"].get("mode") == "split_classes":
            y, k = y[y >= k // 2] - k // 2, k - k // 2
            assert 0.0 <= last["a_val_acc"] <= 1.0
        saved = np.load(trial / "predictions.npz")
        if "split_ratio" in last["config"]:  # cnn re-splits: another test split
            y = saved["y_true"]
        assert np.array_equal(saved["y_true"], y) and saved["scores"].shape == (len(y), k)
        finals.append({**last, "dir": trial})
    return finals


@pytest.mark.slow
@pytest.mark.parametrize("method", list(STUDIES))
def test_two_trial_study_on_digits(method, tmp_path, ray_local, digits):
    assert main([method, "--dataset", "digits", "--num-samples", "2", "--max-epochs", "1",
                 "--storage", str(tmp_path), "--name", "x", "--no-report",
                 *STUDIES[method]]) == 0
    finals = _check_trials(tmp_path / "x", 2, digits.y_test)
    if method == "transfer":  # the two start points: report 002's net B and 003's backbone
        assert {f["config"]["mode"] for f in finals} == {"split_classes", "pretrained"}
    if method == "medmnist_resnet":
        assert all(0.0 <= f["test_medmnist_auc"] <= 1.0 for f in finals)
    if method == "gan_balance":
        assert all((f["dir"] / "samples.png").stat().st_size > 0 for f in finals)
        assert all(f["synthetic"] > 0 for f in finals)


def _breastmnist(root: Path) -> None:
    """A tiny breastmnist.npz in MedMNIST's format (images N×28×28, labels N×1, imbalanced)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 48), ("val", 16), ("test", 24)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 4 != 0).astype(np.uint8)[:, None]
    np.savez_compressed(root / "breastmnist.npz", **arrays)


@pytest.mark.slow
def test_medmnist_resnet_on_breastmnist(tmp_path, ray_local):
    _breastmnist(tmp_path)
    assert main(["medmnist_resnet", "--dataset", "breastmnist", "--data-dir", str(tmp_path),
                 "--max-epochs", "1", "--preset", "report004",
                 "--storage", str(tmp_path), "--name", "b", "--no-report"]) == 0
    (final,) = _check_trials(tmp_path / "b", 1, np.load(tmp_path / "breastmnist.npz")
                             ["test_labels"].ravel().astype(np.int64))
    assert 0.0 <= final["test_medmnist_acc"] <= 1.0 and 0.0 <= final["test_medmnist_auc"] <= 1.0
