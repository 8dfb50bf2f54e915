"""The classifier's training options (adamw, lr_schedule, label_smoothing, class_weight,
sampler, normalize, weight_average): each reaches the optimiser, the loss, the batches, the
inputs or the scored weights; the schedule and the average survive a checkpoint; the spaces
search them and the presets keep the reports'."""

import itertools
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from sklearn.utils.class_weight import compute_class_weight

from core.splits import DatasetInfo, Splits
from search_spaces import cnn as cnn_space
from search_spaces import medmnist_resnet as medmnist_space
from search_spaces.common import CLASSIFIER_OPTIONS, REPORT_CLASSIFIER, ClassifierSettings
from study.plan import resolve
from study.spec import build
from tests.conftest import sampled_configs
from tests.test_presets import trial_configs
from trainables import checkpoints, cnn, gan_balance, medmnist_resnet
from trainables.classify import balanced_class_weights
from trainables.loop import DeviceSplits, seed_everything, steps_per_epoch
from trainables.optimizers import make_optimizer

CPU = torch.device("cpu")
#: The small MNIST CNN, trained plainly; each test adds the options it checks.
BASE = {"arch": "mnist_cnn", "dropout": 0.0, "init": "default", "optimizer": "adam",
        "lr": 1e-3, "batch_size": 8, "augment": "none", "max_epochs": 3}
#: The options the searched spaces add, with the reports' values.
NEW_OPTIONS = (*CLASSIFIER_OPTIONS, "label_smoothing")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


def splits(counts: tuple[int, ...] = (25, 25), channels: int = 1, side: int = 8) -> Splits:
    """Noisy images, ``counts[c]`` of class c in every split, brighter by class and by
    channel."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(counts)), counts)
    x = rng.integers(0, 64, (len(y), channels, side, side))
    x = (x + 50 * y.reshape(-1, 1, 1, 1) + 30 * np.arange(channels).reshape(1, -1, 1, 1))
    x = x.astype(np.uint8)
    info = DatasetInfo("tiny", tuple(map(str, range(len(counts)))), channels, (side, side),
                       True)
    return Splits(x, y, x.copy(), y.copy(), x.copy(), y.copy(), info)


def make(config: dict | None = None, data: Splits | None = None):
    dev = DeviceSplits.from_splits(data or splits(), CPU)
    return cnn.make_task({**BASE, **(config or {})}, dev, seed_everything(0))


# --- optimiser and schedule ---------------------------------------------------------------

def test_adamw_decays_the_weights_decoupled_from_the_gradient():
    task = make({"optimizer": "adamw", "weight_decay": 0.05})
    assert type(task.optimizer) is torch.optim.AdamW
    assert task.optimizer.param_groups[0]["weight_decay"] == 0.05
    for name, shrink in [("adamw", 1 - 0.1 * 0.5), ("adam", None)]:
        w = torch.nn.Parameter(torch.full((3,), 2.0))
        opt = make_optimizer([w], name, 0.1, weight_decay=0.5)
        w.grad = torch.zeros(3)
        opt.step()
        if shrink:  # AdamW: a zero gradient still shrinks w by lr · decay
            assert torch.allclose(w.detach(), torch.full((3,), 2.0 * shrink))
        else:  # Adam: the decay enters the gradient, normalised to a step of lr
            assert torch.allclose(w.detach(), torch.full((3,), 1.9))


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_each_optimiser_is_torchs_fused_one_and_steps_as_the_plain_one_does(name):
    torch.manual_seed(0)
    start, grads = torch.randn(50), [torch.randn(50) for _ in range(5)]
    weights = []
    for fused in (True, False):
        w = torch.nn.Parameter(start.clone())
        opt = make_optimizer([w], name, 0.01, momentum=0.9, weight_decay=0.1, betas=(0.5, 0.9))
        assert opt.defaults["fused"]
        if not fused:  # torch's per-parameter loop, the same hyperparameters
            plain = {k: v for k, v in opt.defaults.items() if k != "decoupled_weight_decay"}
            opt = type(opt)([w], **{**plain, "fused": None, "foreach": False})
        for g in grads:
            w.grad = g.clone()
            opt.step()
        weights.append(w.detach())
    torch.testing.assert_close(weights[0], weights[1])
    assert not torch.equal(weights[0], start)


def test_steps_per_epoch_counts_the_loops_batches():
    assert [steps_per_epoch(n, 8) for n in (48, 49, 50, 1, 0)] == [6, 6, 7, 0, 0]
    task = make({"lr_schedule": "cosine"})  # 50 rows, batch 8: 7 steps an epoch
    task.train_epoch(1)
    assert task.lr_scheduler.last_epoch == 7 == steps_per_epoch(50, 8)


def rates(task, steps: int) -> list[float]:
    """The learning rate of each of the next ``steps`` optimiser steps."""
    seen = []
    for _ in range(steps):
        seen.append(task.optimizer.param_groups[0]["lr"])
        task.optimizer.step()  # no gradients: the weights stay, the hook steps the schedule
    return seen


def test_cosine_warms_up_then_decays_to_zero_over_max_epochs():
    task = make({"lr_schedule": "cosine", "warmup_epochs": 1})
    total, warmup = 3 * 7, 7
    want = [1e-3 * t / warmup if t < warmup else
            1e-3 * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))
            for t in range(total)]
    assert rates(task, total) == pytest.approx(want, abs=1e-12)
    assert rates(task, 3) == [0.0] * 3  # held at the end


def test_onecycle_rises_to_the_rate_over_30_percent_then_anneals():
    task = make({"lr_schedule": "onecycle", "optimizer": "sgd", "momentum": 0.8,
                 "batch_size": 25, "max_epochs": 10})  # 2 steps an epoch, 20 in all
    seen = rates(task, 20)
    assert seen[0] == pytest.approx(1e-3 / 25) and seen[5] == pytest.approx(1e-3)
    assert seen[-1] == pytest.approx(1e-3 / 25 / 1e4)
    assert all(a < b for a, b in itertools.pairwise(seen[:6]))
    assert all(a > b for a, b in itertools.pairwise(seen[5:]))
    assert task.optimizer.param_groups[0]["momentum"] == 0.8  # not cycled


def test_constant_schedule_is_none_and_a_schedule_needs_max_epochs():
    assert make().lr_scheduler is None
    config = {**BASE, "lr_schedule": "onecycle"}
    del config["max_epochs"]
    with pytest.raises(ValueError, match="max_epochs is needed with lr_schedule=onecycle"):
        ClassifierSettings.from_config(config)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_a_restored_task_continues_the_schedule(schedule, tmp_path):
    config = {"lr_schedule": schedule, "warmup_epochs": 1}
    task = make(config)
    task.train_epoch(1)
    rates(task, 3)
    path = tmp_path / "state.pt"
    checkpoints.save(path, epoch=1, task=task.state_dict(), generator=task.generator,
                     info=asdict(task.data.info))
    torch.load(path, weights_only=True)  # plain values only
    restored, fresh = make(config), make(config)
    restored.load_state_dict(checkpoints.load(path)["task"])
    assert restored.lr_scheduler.last_epoch == 10
    assert rates(restored, 5) == rates(task, 5) != rates(fresh, 5)


# --- loss, batches, inputs ----------------------------------------------------------------

def one_batch_loss(config: dict, data: Splits) -> tuple[float, float, torch.Tensor]:
    """The training loss of one batch of the whole training split (the model fitted a
    little first, so that its logits are far from uniform, then unchanged: lr 0), the
    validation loss, and the logits they came from."""
    task = make({**config, "lr": 0.01, "batch_size": 1000}, data)
    for epoch in range(1, 11):
        task.train_epoch(epoch)
    task.optimizer.param_groups[0]["lr"] = 0.0
    loss = task.train_epoch(11)["train_loss"]
    return loss, task.validate()["val_loss"], task.logits("train")


def test_label_smoothing_is_in_the_training_loss_only():
    data = splits()
    y = torch.from_numpy(data.y_train)
    loss, val_loss, logits = one_batch_loss({"label_smoothing": 0.1}, data)
    assert loss == pytest.approx(F.cross_entropy(logits, y, label_smoothing=0.1).item(),
                                 rel=1e-5)
    assert loss != pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-3)
    assert val_loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)


def test_balanced_class_weights_are_scikit_learns_and_weight_the_training_loss():
    data = splits((40, 8, 2), side=4)
    y = torch.from_numpy(data.y_train)
    want = compute_class_weight("balanced", classes=np.arange(3), y=data.y_train)
    assert balanced_class_weights(y, 3).numpy() == pytest.approx(want)
    loss, val_loss, logits = one_batch_loss({"class_weight": "balanced"}, data)
    weight = torch.tensor(want, dtype=torch.float32)
    assert loss == pytest.approx(F.cross_entropy(logits, y, weight=weight).item(), rel=1e-5)
    assert loss != pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-3)
    assert val_loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)


def drawn_classes(task) -> np.ndarray:
    """Rows of each class in one epoch's batches, as the task's loop draws them."""
    index = torch.cat(list(task.data.batches("train", task.batch_size, task.generator,
                                             task.sample_weights)))
    return np.bincount(task.data.y["train"][index].numpy(), minlength=2)


def test_balanced_sampler_draws_the_classes_equally_and_as_many_rows(monkeypatch):
    data = splits((900, 100), side=4)
    uniform = drawn_classes(make(data=data))
    balanced = drawn_classes(make({"sampler": "balanced"}, data))
    assert uniform.tolist() == [900, 100]
    assert balanced.sum() == 1000 and abs(balanced[1] - 500) < 50
    task = make({"sampler": "balanced", "batch_size": 64}, data)
    drawn, draw = [], task.data.batches

    def spy(*args):
        drawn.extend(draw(*args))
        return iter(drawn)

    monkeypatch.setattr(task.data, "batches", spy)
    task.train_epoch(1)  # the loop's epoch draws its batches that way
    counts = np.bincount(task.data.y["train"][torch.cat(drawn)].numpy())
    assert len(drawn) == 16 and counts.sum() == 1000 and abs(counts[1] - 500) < 50


def test_dataset_normalisation_standardises_every_split_by_the_training_split():
    data = splits(channels=3)
    task = make({"normalize": "dataset"}, data)
    x = task.inputs(task.data.images("train"))
    assert x.mean((0, 2, 3)).abs().max() < 1e-5
    assert (x.std((0, 2, 3), unbiased=False) - 1).abs().max() < 1e-5
    mean = data.x_train.mean((0, 2, 3)) / 255
    assert task.standardize[0].flatten().numpy() == pytest.approx(mean, rel=1e-6)
    assert torch.equal(make(data=data).inputs(task.data.images("val")),
                       task.data.images("val"))  # normalize=none: as they are
    # validation and test go through the same standardisation
    assert torch.allclose(task.logits("val"),
                          task.model.eval()(task.inputs(task.data.images("val"))))


def test_validation_reports_the_roc_auc_of_the_scored_model():
    task = make()
    task.train_epoch(1)
    scores = task.validate()
    probs = torch.softmax(task.logits("val"), 1)[:, 1].numpy()
    assert scores["val_auc"] == pytest.approx(roc_auc_score(task.data.y["val"].numpy(), probs))
    assert 0.5 < scores["val_auc"] <= 1.0


# --- weight averaging ------------------------------------------------------------------------

#: report 004's ResNet-18 with MedMNIST v2's stem (batch norm throughout), on tiny images.
RESNET = {"init": "default", "optimizer": "adam", "lr": 1e-3, "batch_size": 8,
          "augment": "none", "stem": "small", "max_epochs": 2}


def resnet(config: dict | None = None):
    dev = DeviceSplits.from_splits(splits(), CPU)
    return medmnist_resnet.make_task({**RESNET, **(config or {})}, dev, seed_everything(0))


def averaged_by_hand(task, epochs: int, decay: float) -> dict[str, torch.Tensor]:
    """Train ``task`` for ``epochs`` epochs and return the EMA of its weights and batch-norm
    buffers over the optimiser steps, computed from a copy taken after every step, its decay
    warmed up as TensorFlow's: min(decay, (1 + n) / (10 + n)) after n updates."""
    seen: list[dict[str, torch.Tensor]] = []
    task.optimizer.register_step_post_hook(
        lambda *_: seen.append({k: v.detach().clone()
                                for k, v in task.model.state_dict().items()}))
    for epoch in range(1, epochs + 1):
        task.train_epoch(epoch)
    ema = {k: v.double() for k, v in seen[0].items()}
    for n, state in enumerate(seen[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        ema = {k: d * ema[k] + (1 - d) * state[k].double() for k in ema}
    return ema


def test_ema_scores_the_moving_average_of_weights_and_batch_norm_statistics():
    task = resnet({"weight_average": "ema", "ema_decay": 0.3})  # warmed up from the 4th
    want = averaged_by_hand(task, 2, 0.3)
    assert task.averaged.n_averaged.item() == 2 * steps_per_epoch(50, 8)
    got = task.averaged.module.state_dict()
    floats = [k for k, v in got.items() if v.is_floating_point()]
    assert any("running_mean" in k for k in floats)  # buffers are averaged too
    for key in floats:
        torch.testing.assert_close(got[key].double(), want[key], rtol=1e-4, atol=1e-5)
    trained = task.model.state_dict()
    assert not torch.equal(got["fc.weight"], trained["fc.weight"])
    counts = [k for k in got if k not in floats]  # batch norm's step counts: the current one
    assert counts and all(torch.equal(got[k], trained[k]) for k in counts)
    images = task.inputs(task.data.images("val"))
    with torch.no_grad():
        scored = task.averaged.module.eval()(images)
        unaveraged = task.model.eval()(images)
    torch.testing.assert_close(task.logits("val"), scored)
    assert not torch.allclose(scored, unaveraged)
    plain = resnet()  # weight_average=none: scored as trained
    assert plain.averaged is None and plain.scored is plain.model


def test_ema_survives_a_checkpoint_and_rebuilds_as_a_model(tmp_path):
    config = {"weight_average": "ema", "ema_decay": 0.9}
    task = resnet(config)
    task.train_epoch(1)
    scored = task.logits("val")
    path = tmp_path / "state.pt"
    checkpoints.save(path, epoch=1, task=task.state_dict(), generator=task.generator,
                     info=asdict(task.data.info))
    with torch.no_grad():  # the checkpoint's average, as a model of its own
        rebuilt = checkpoints.load_model(path, "averaged")(task.data.images("val"))
    torch.testing.assert_close(rebuilt, scored)
    restored = resnet(config)
    restored.load_state_dict(checkpoints.load(path)["task"])
    restored.generator.set_state(task.generator.get_state())
    assert restored.averaged.n_averaged.item() == task.averaged.n_averaged.item() > 0
    for t in (task, restored):
        t.train_epoch(2)
    torch.testing.assert_close(restored.logits("val"), task.logits("val"))


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_decay_must_lie_strictly_between_zero_and_one(decay):
    with pytest.raises(ValueError, match="ema_decay must be in"):
        ClassifierSettings.from_config({**BASE, "weight_average": "ema", "ema_decay": decay})


# --- spaces and presets -------------------------------------------------------------------

@pytest.mark.parametrize("method", ["cnn", "medmnist_resnet"])
def test_the_searches_sample_every_option_and_no_constant_hides_one(method):
    plan = resolve(build({"method": method}))
    configs = sampled_configs(plan, draws=60)
    for name in (*NEW_OPTIONS, "weight_decay", "warmup_epochs", "optimizer"):
        assert name not in plan.constants, name  # it would override the sampled value
    for name, choices in CLASSIFIER_OPTIONS.items():
        assert {c[name] for c in configs} == set(choices), name
    assert {c["optimizer"] for c in configs} == {"sgd", "adam", "adamw"}
    smoothing = [c["label_smoothing"] for c in configs]
    assert 0 <= min(smoothing) < 0.05 and 0.15 < max(smoothing) <= 0.2
    warmups = {c["warmup_epochs"] for c in configs if "warmup_epochs" in c}
    assert warmups == {0, 1, 2, 3}
    assert all(c["lr_schedule"] == "cosine" for c in configs if "warmup_epochs" in c)
    decays = [c["weight_decay"] for c in configs if "weight_decay" in c]
    assert decays and all(1e-4 <= d <= 0.3 for d in decays)
    assert all(c["optimizer"] == "adamw" for c in configs if "weight_decay" in c)
    ema = [c["ema_decay"] for c in configs if "ema_decay" in c]
    assert ema and all(0.9 <= d <= 0.999 for d in ema)
    assert all(c["weight_average"] == "ema" for c in configs if "ema_decay" in c)


PRESETS = [("cnn", "report002_cifar"), ("cnn", "report002_mnist"), ("cnn", "report003"),
           ("cnn", "report003_leaky"), ("medmnist_resnet", "report004")]


@pytest.mark.parametrize(("method", "preset"), PRESETS)
def test_presets_and_first_trials_keep_the_reports_training(method, preset):
    for config in trial_configs(method, preset):
        assert {k: config[k] for k in NEW_OPTIONS} == REPORT_CLASSIFIER
        assert "warmup_epochs" not in config and config.get("weight_decay", 0.0) == 0.0
    module = medmnist_space if method == "medmnist_resnet" else cnn_space
    for point in getattr(module, "START_POINTS", []):
        assert {k: point[k] for k in NEW_OPTIONS} == REPORT_CLASSIFIER


def test_report_configs_build_the_reports_plain_training(digits):
    dev = DeviceSplits.from_splits(digits, CPU)
    (config,) = trial_configs("medmnist_resnet", "report004")
    settings = medmnist_space.MedmnistResnetSettings.from_config(config)
    assert (settings.optimizer, settings.weight_decay) == ("adam", 0.0)
    resnet = medmnist_resnet.make_task(config, dev, seed_everything(0))
    (gan_config,) = trial_configs("gan_balance", "report004")
    clf = gan_balance.GanBalanceTask(
        {**gan_config, "gan_features": 8, "z_dim": 4}, dev, seed_everything(0)).clf
    for task in (resnet, clf):
        assert type(task.optimizer) is torch.optim.Adam
        assert task.optimizer.param_groups[0]["weight_decay"] == 0.0
        assert task.lr_scheduler is None and task.label_smoothing == 0.0
        assert task.class_weights is task.sample_weights is task.standardize is None


def test_the_imbalance_preset_is_the_reports_classifier_balanced_three_ways(digits):
    """medmnist_resnet --preset report004_imbalance: report 004's ResNet as it was, with
    class weights in the loss, and with balanced batches; nothing else differs."""
    dev = DeviceSplits.from_splits(digits, CPU)
    (plain,) = trial_configs("medmnist_resnet", "report004")
    configs = trial_configs("medmnist_resnet", "report004_imbalance")
    assert [(c["class_weight"], c["sampler"]) for c in configs] == [
        ("none", "uniform"), ("balanced", "uniform"), ("none", "balanced")]
    for config in configs:
        assert {k: v for k, v in config.items() if k not in ("class_weight", "sampler")} == {
            k: v for k, v in plain.items() if k not in ("class_weight", "sampler")}
    tasks = [medmnist_resnet.make_task(c, dev, seed_everything(0)) for c in configs]
    assert tasks[0].class_weights is tasks[0].sample_weights is None
    assert tasks[1].class_weights is not None and tasks[1].sample_weights is None
    assert tasks[2].class_weights is None and tasks[2].sample_weights is not None


def test_gan_balance_trains_with_the_options_set_and_schedules_each_classifiers_epochs(
        digits):
    """gan_balance takes medmnist_resnet's training options as constants (``--set``); a
    schedule spans the epochs each of its classifiers trains: 1 to G - 1, then G to the
    end on the balanced split."""
    options = {"lr_schedule": "onecycle", "label_smoothing": 0.1, "class_weight": "balanced",
               "sampler": "balanced", "normalize": "dataset"}
    (config,) = trial_configs("gan_balance", "report004", fixed=options)
    config = {**config, "gan_features": 8, "z_dim": 4, "gan_image_size": 8, "gan_fraction": 0.3,
              "max_epochs": 10}
    task = gan_balance.GanBalanceTask(config, DeviceSplits.from_splits(digits, CPU),
                                      seed_everything(0))
    assert task.stage_epochs == 3

    def schedule_epochs() -> float:
        clf = task.clf
        return clf.lr_scheduler.total_steps / steps_per_epoch(len(clf.data.y["train"]), 8)

    assert schedule_epochs() == 2
    task.balance()
    assert task.synthetic is not None and schedule_epochs() == 8
    clf = task.clf
    assert clf.label_smoothing == 0.1
    assert clf.class_weights is not None and clf.sample_weights is not None
    assert clf.standardize is not None
    with pytest.raises(ValueError, match="label_smoothing must be in"):  # before any GAN pass
        gan_balance.GanBalanceTask({**config, "label_smoothing": 1.5},
                                   DeviceSplits.from_splits(digits, CPU), seed_everything(0))
