"""``select_epoch``: the reported model is the best validation epoch's (its weights restored
before the test and kept in the final checkpoint) or the last one's; k-NN tests vote among
the training and validation codes."""

import doctest
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ray import tune

from core.defaults import LOOP_DEFAULTS
from core.layout import CHECKPOINT_FILE
from core.splits import DatasetInfo, Splits
from search_spaces import ae_classifier, gan_balance, pca_knn, vae_knn
from search_spaces.common import KnnSettings
from trainables import checkpoints, knn, loop, selection
from trainables.ae_classifier import AeClassifierTask
from trainables.gan_balance import GanBalanceTask
from trainables.loop import DeviceSplits
from trainables.selection import EpochSelector, cpu_copy


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


@pytest.fixture
def trial(tmp_path, monkeypatch):
    """Run ``loop.run`` outside Tune: each report's metrics and checkpoint file contents
    (``saved``, keyed by epoch; the directory under ``kept``), a checkpoint to resume from
    (set ``resume_from``), a trial directory."""
    state = SimpleNamespace(reports=[], saved={}, kept={}, resume_from=None)

    def report(metrics, checkpoint=None):
        state.reports.append(metrics)
        if checkpoint is not None:
            epoch = metrics["epoch"]
            state.kept[epoch] = tmp_path / f"checkpoint_{epoch}"
            shutil.copytree(checkpoint.path, state.kept[epoch], dirs_exist_ok=True)
            state.saved[epoch] = checkpoints.load(state.kept[epoch] / CHECKPOINT_FILE)

    monkeypatch.setattr(tune, "report", report)
    monkeypatch.setattr(tune, "get_checkpoint", lambda: (
        None if state.resume_from is None
        else tune.Checkpoint.from_directory(str(state.resume_from))))
    monkeypatch.setattr(tune, "get_context",
                        lambda: SimpleNamespace(get_trial_dir=lambda: str(tmp_path)))
    return state


class Scripted:
    """A task whose one weight is the epoch that trained it last and whose validation
    accuracy per epoch is ``config["script"]`` (its loss ``config["losses"]``, 1.0 if not
    given, its AUC ``config["aucs"]``, none if not given); ``selectable`` is False for the
    epochs in ``config["refuse"]``. Its state dict holds the live tensor, as a module's does."""

    def __init__(self, config, data, generator):
        self.script, self.refuse = config["script"], config.get("refuse", ())
        self.losses = config.get("losses") or [1.0] * len(self.script)
        self.aucs = config.get("aucs")
        self.data = data
        self.w = torch.zeros(1)
        self.loads: list[int] = []

    def train_epoch(self, epoch):
        self.w.fill_(epoch)
        return {"train_loss": 1.0}

    def validate(self):
        epoch = int(self.w)
        scores = {"val_loss": self.losses[epoch - 1], "val_acc": self.script[epoch - 1]}
        if self.aucs:
            scores["val_auc"] = self.aucs[epoch - 1]
        return scores

    def selectable(self):
        return int(self.w) not in self.refuse

    def test(self):
        n, k = len(self.data.y["test"]), self.data.info.num_classes
        return {"tested_w": float(self.w)}, np.full((n, k), 1.0 / k)

    def state_dict(self):
        return {"w": self.w}

    def load_state_dict(self, state):
        self.w.copy_(state["w"])
        self.loads.append(int(state["w"]))


def run_scripted(digits, script, *, select="best", tasks=None, **config):
    """``loop.run`` of a :class:`Scripted` task over ``len(script)`` epochs, checkpointed
    every epoch; the task is appended to ``tasks``."""
    tasks = [] if tasks is None else tasks
    config = {"script": script, "max_epochs": len(script), "seed": 0,
              "checkpoint_every_s": 0.0, "select_epoch": select, **config}
    loop.run(config, digits, lambda c, d, g: tasks.append(Scripted(c, d, g)) or tasks[-1])
    return tasks[-1]


def test_the_default_is_best_and_every_method_gets_it():
    assert LOOP_DEFAULTS["select_epoch"] == "best"
    assert loop.LoopSettings.from_config({"max_epochs": 1}).select_epoch == "best"
    with pytest.raises(ValueError, match="select_epoch must be one of best, last"):
        loop.LoopSettings.from_config({"max_epochs": 1, "select_epoch": "first"})


def test_doctests():
    result = doctest.testmod(selection)
    assert result.attempted > 0 and result.failed == 0


def test_the_best_epoch_is_tested_and_kept_when_it_is_not_the_last(digits, trial):
    task = run_scripted(digits, [0.5, 0.9, 0.6, 0.7])
    final = trial.reports[-1]
    assert final["tested_w"] == 2  # the test ran on epoch 2's weights
    assert final["selected_epoch"] == 2 and final["selected_val_acc"] == 0.9
    assert final["epoch"] == 4 and final["val_acc"] == 0.7  # the last epoch as trained
    assert [r["val_acc"] for r in trial.reports] == [0.5, 0.9, 0.6, 0.7]  # ASHA's curve
    assert "selected_epoch" not in trial.reports[0]
    assert task.loads == [2]
    saved = trial.saved[4]
    assert saved["task"]["w"].item() == 2 and saved["selected_epoch"] == 2
    assert saved["epoch"] == 4 and "best" not in saved
    # intermediate checkpoints carry the best so far; its state only when it is another epoch's
    assert trial.saved[2]["best"] == {"epoch": 2, "value": 0.9, "loss": 1.0,
                                      "scores": {"val_acc": 0.9, "val_loss": 1.0}}
    assert trial.saved[3]["best"]["epoch"] == 2 and trial.saved[3]["best"]["task"]["w"] == 2
    assert trial.saved[3]["task"]["w"] == 3


def test_last_keeps_the_last_weights(digits, trial):
    task = run_scripted(digits, [0.5, 0.9, 0.6], select="last")
    final = trial.reports[-1]
    assert final["tested_w"] == 3 and final["selected_epoch"] == 3
    assert final["selected_val_acc"] == 0.6
    assert task.loads == [] and trial.saved[3]["task"]["w"] == 3
    assert "best" not in trial.saved[2]


@pytest.mark.parametrize(("script", "losses", "selected"), [
    ([0.5, 0.9, 0.9], None, 3),  # a full tie with the last epoch: it stays, nothing reloads
    ([0.9, 0.9, 0.5], None, 1),  # a full tie between earlier epochs: the earlier one
    ([0.9, 0.9, 0.5], [0.4, 0.3, 0.1], 2),  # equal accuracy: the lower validation loss
    ([0.5, 0.9, 0.9], [0.1, 0.2, 0.3], 2),  # ... also against the last epoch
    ([0.5, 0.9, 0.8], [0.1, 0.5, 0.1], 2),  # the loss only breaks ties
    ([math.nan, 0.3, 0.2], None, 2),  # a NaN objective is never selected
], ids=["tie-with-last", "tie-earlier", "loss-earlier", "loss-last", "loss-no-tie",
        "nan"])
def test_ties_and_nan(digits, trial, script, losses, selected):
    task = run_scripted(digits, script, losses=losses)
    assert trial.reports[-1]["selected_epoch"] == selected
    assert trial.reports[-1]["tested_w"] == selected
    assert task.loads == ([] if selected == 3 else [selected])


def test_epochs_the_task_refuses_are_never_selected(digits, trial):
    run_scripted(digits, [0.9, 0.8, 0.3, 0.4], refuse=(1, 2))  # e.g. AE pretraining
    assert trial.reports[-1]["selected_epoch"] == 4
    assert trial.reports[-1]["selected_val_acc"] == 0.4


def test_a_trial_restored_mid_way_still_selects_its_best_epoch(digits, trial):
    run_scripted(digits, [0.5, 0.9, 0.6, 0.7])
    for resume_after, best_state in ((3, "copied"), (2, "the checkpoint's own")):
        trial.resume_from = trial.kept[resume_after]
        trial.reports.clear()
        task = run_scripted(digits, [0.5, 0.9, 0.6, 0.7])
        assert [r["epoch"] for r in trial.reports] == list(range(resume_after + 1, 5))
        final = trial.reports[-1]
        assert final["selected_epoch"] == 2 and final["tested_w"] == 2, best_state
        assert task.loads == [resume_after, 2]  # the restore, then the selection


def test_a_restored_trial_still_breaks_ties_by_the_best_epochs_loss(digits, trial):
    script, losses = [0.5, 0.9, 0.6, 0.9, 0.1], [1.0, 0.3, 1.0, 0.2, 1.0]
    run_scripted(digits, script, losses=losses)
    trial.resume_from = trial.kept[3]  # its best so far: epoch 2, loss 0.3
    trial.reports.clear()
    task = run_scripted(digits, script, losses=losses)
    assert trial.reports[-1]["selected_epoch"] == 4 and task.loads == [3, 4]


def test_a_checkpoint_without_best_starts_selection_at_the_resumed_epoch(digits, trial):
    run_scripted(digits, [0.5, 0.9, 0.6, 0.7], select="last")
    trial.resume_from = trial.kept[2]  # written with select_epoch=last: no best in it
    task = run_scripted(digits, [0.5, 0.9, 0.6, 0.7])
    assert trial.reports[-1]["selected_epoch"] == 4 and task.loads == [2]


def test_a_real_model_selected_from_an_earlier_epoch_is_rebuilt_from_the_checkpoint(
        digits, trial):
    """A VAE whose validation accuracy is scripted best at epoch 1: the final checkpoint
    holds epoch 1's weights and ``load_model`` rebuilds them."""
    weights = []

    class Vae(knn.VaeKnnTask):
        def train_epoch(self, epoch):
            out = super().train_epoch(epoch)
            weights.append(cpu_copy(self.model.state_dict()))
            return out

        def validate(self):
            return {**super().validate(), "val_acc": [0.9, 0.5, 0.6][len(weights) - 1]}

    config = {**vae_knn.DEFAULTS, "arch": "dense", "latent_dim": 4, "n_neighbors": 5,
              "k_max": 5, "dropout": 0.0, "init": "default", "beta": 1.0, "lr": 1e-2,
              "batch_size": 256, "max_epochs": 3, "seed": 0, "checkpoint_every_s": 0.0}
    loop.run(config, digits, Vae)
    assert trial.reports[-1]["selected_epoch"] == 1
    model = checkpoints.load_model(trial.kept[3] / CHECKPOINT_FILE)
    rebuilt = model.state_dict()
    assert all(torch.equal(rebuilt[k], weights[0][k]) for k in weights[0])
    assert not all(torch.equal(rebuilt[k], weights[2][k]) for k in weights[2])


def test_a_reducer_scoring_the_same_every_epoch_is_never_refitted(digits, trial, monkeypatch):
    fits = []
    fit_transform = knn.PcaKnnTask.fit_transform
    monkeypatch.setattr(knn.PcaKnnTask, "fit_transform",
                        lambda self, x: fits.append(1) or fit_transform(self, x))
    config = {**pca_knn.DEFAULTS, "n_components": 8, "whiten": False, "n_neighbors": 5,
              "max_epochs": 3, "seed": 0, "checkpoint_every_s": 0.0}
    loop.run(config, digits, knn.PcaKnnTask)
    assert trial.reports[-1]["selected_epoch"] == 3 and len(fits) == 1


def test_staged_methods_refuse_the_epochs_before_their_reported_model(digits):
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    config = {**ae_classifier.DEFAULTS, "arch": "mlp", "latent_dim": 8, "lr": 3e-3,
              "weight_decay": 0.0, "dropout": 0.0, "init": "default", "batch_size": 256,
              "ae_epochs": 1, "head_epochs": 1, "finetune_epochs": 1, "finetune_lr": 1e-3,
              "max_epochs": 3, "seed": 0, "probe_samples": 100}
    task = AeClassifierTask(config, dev, torch.Generator().manual_seed(0))
    selectable = []
    for epoch in (1, 2, 3):  # pretraining (probe val_acc, untrained head), head, fine-tuning
        task.train_epoch(epoch)
        selectable.append(task.selectable())
    assert selectable == [False, True, True]
    gan = GanBalanceTask({**gan_balance.DEFAULTS, **gan_balance.START_POINTS[0],
                          "gan_features": 8, "z_dim": 8, "max_epochs": 4}, dev,
                         torch.Generator().manual_seed(0))
    assert not gan.selectable()  # the unbalanced baseline classifier
    gan.balance()
    assert gan.selectable()


def test_the_selector_alone():
    selector = EpochSelector("best")
    selector.observe(1, {"val_acc": 0.4, "val_loss": 0.5}, task=None)
    selector.observe(2, {"val_acc": math.inf}, task=None)  # not finite: never selected
    selector.observe(4, {"val_acc": 0.4}, task=None)  # no loss: breaks no tie
    assert (selector.epoch, selector.value) == (1, 0.4)
    assert selector.entries(3, last=False) == {
        "best": {"epoch": 1, "value": 0.4, "loss": 0.5, "task": None,
                 "scores": {"val_acc": 0.4, "val_loss": 0.5}}}
    with pytest.raises(ValueError, match="reports no val_acc"):
        selector.observe(5, {"val_loss": 0.1}, task=None)
    last = EpochSelector("last")
    last.observe(1, {"val_acc": 0.9}, task=None)
    assert last.entries(1, last=False) == {}
    with pytest.raises(ValueError, match="select_epoch"):
        EpochSelector("worst")
    with pytest.raises(ValueError, match="select_metric must be one of val_acc, val_auc"):
        EpochSelector("best", "val_f1")


def test_select_metric_val_auc_tests_the_best_auc_epoch_and_reports_its_accuracy(digits,
                                                                                 trial):
    """``select_metric=val_auc``: the epoch with the best validation AUC is tested (ties to
    the lower loss); the result reports its accuracy, AUC and loss as selected_*."""
    assert loop.LoopSettings.from_config({"max_epochs": 1}).select_metric == "val_acc"
    task = run_scripted(digits, [0.5, 0.9, 0.6, 0.7], aucs=[0.6, 0.7, 0.8, 0.8],
                        losses=[1.0, 0.9, 0.5, 0.6], select_metric="val_auc")
    final = trial.reports[-1]
    assert final["tested_w"] == 3 and task.loads == [3]
    assert (final["selected_epoch"], final["selected_val_acc"], final["selected_val_auc"],
            final["selected_val_loss"]) == (3, 0.6, 0.8, 0.5)
    assert trial.saved[3]["best"]["scores"] == {"val_acc": 0.6, "val_auc": 0.8,
                                                "val_loss": 0.5}
    with pytest.raises(ValueError, match="select_metric=val_auc: this method's validation "
                                         "reports no val_auc"):
        run_scripted(digits, [0.5, 0.9], select_metric="val_auc")


def test_a_checkpoint_from_before_select_metric_restores_its_objective():
    selector = EpochSelector("best")
    selector.restore({"best": {"epoch": 2, "value": 0.9, "loss": 0.3, "task": {"w": 1}}})
    assert selector.finish(3, {"val_acc": 0.8, "val_loss": 0.1},
                           SimpleNamespace(load_state_dict=lambda state: None)) == {
        "selected_epoch": 2, "selected_val_acc": 0.9, "selected_val_loss": 0.3}


def test_cpu_copy_is_independent_and_keeps_state_dict_metadata():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    state = net.state_dict()
    copied = cpu_copy({"model": state, "pair": (torch.ones(1), 3)})
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert not torch.equal(copied["model"]["0.weight"], net[0].weight)
    assert copied["model"]._metadata == state._metadata
    assert isinstance(copied["pair"], tuple) and copied["pair"][1] == 3


# --- k-NN tests vote among the training and validation codes -------------------------------

class Identity(knn.ReducerKnnTask):
    """Codes = the flattened images (no fit)."""

    settings_type = KnnSettings

    def fit_transform(self, x):
        return x, {"train_loss": 0.0, "val_loss": 0.0}


@pytest.fixture(scope="module")
def handmade():
    """Four dark training images of class 0, two bright validation images of class 1 and a
    bright test image of class 1: only the validation images are near it."""
    info = DatasetInfo("handmade", ("dark", "bright"), 1, (2, 2), False)

    def images(*values):
        return np.array(values, dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(2, 2).repeat(2, 3)

    splits = Splits(images(0, 10, 20, 30), np.zeros(4, dtype=np.int64),
                    images(250, 240), np.ones(2, dtype=np.int64),
                    images(245), np.ones(1, dtype=np.int64), info)
    return DeviceSplits.from_splits(splits, torch.device("cpu"))


def test_a_knn_test_finds_its_neighbours_among_the_validation_images(handmade):
    task = Identity({"n_neighbors": 1, "seed": 0}, handmade, torch.Generator())
    task.train_epoch(1)
    assert task.validate()["val_acc"] == 0.0  # validation: training references only
    _, scores = task.test()
    assert scores.tolist() == [[0.0, 1.0]]


def test_the_knn_test_clamps_k_to_the_training_and_validation_images(handmade):
    task = Identity({"n_neighbors": 50, "seed": 0}, handmade, torch.Generator())
    task.train_epoch(1)
    assert task.validate()["n_neighbors_used"] == 4
    _, scores = task.test()
    assert np.allclose(scores, [[4 / 6, 2 / 6]])  # all six references vote


def test_an_autoencoder_knn_test_uses_the_validation_codes_too(handmade):
    config = {**vae_knn.DEFAULTS, "arch": "dense", "latent_dim": 2, "n_neighbors": 50,
              "k_max": 5, "dropout": 0.0, "init": "default", "lr": 1e-3, "batch_size": 4}
    task = knn.AutoencoderKnnTask(config, handmade, torch.Generator().manual_seed(0))
    task.train_epoch(1)
    _, scores = task.test()
    assert np.allclose(scores, [[4 / 6, 2 / 6]])


def test_a_reducer_refits_when_its_state_was_loaded_before_the_test(handmade):
    task = Identity({"n_neighbors": 1, "seed": 0}, handmade, torch.Generator())
    task.train_epoch(1)
    task.load_state_dict(task.state_dict())  # drops the fit
    assert task.test()[1].tolist() == [[0.0, 1.0]]
