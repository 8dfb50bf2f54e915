"""Faults inside a trial: a raise is retried from the checkpoint, a NaN loss fails the trial
at once (never retried), running out of memory is retried and named; the study finishes, the
report gives each failure's reason and the other trials lose nothing."""

import contextlib
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ray import tune

from analysis import results, summary
from core.errors import ExitCode
from search_spaces import isomap_knn, vae_knn
from study import registry
from study.run import main
from tests import faulty
from trainables import cnn, faults, knn, loop
from trainables.classify import ClassifierTask

CNN = {"arch": "mnist_cnn", "dropout": 0.0, "init": "default", "optimizer": "sgd",
       "momentum": 0.9, "weight_decay": 0.0, "batch_size": 64, "augment": "none",
       "max_epochs": 3, "seed": 0}
VAE = {**vae_knn.DEFAULTS, "arch": "dense", "latent_dim": 8, "n_neighbors": 5, "k_max": 10,
       "dropout": 0.0, "init": "default", "beta": 1.0, "batch_size": 128, "max_epochs": 3,
       "seed": 0}


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


@pytest.fixture
def reports(tmp_path, monkeypatch):
    """Run ``loop.run`` outside Tune: what it reports, no checkpoint, a trial directory."""
    sent: list[dict] = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: sent.append(metrics))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(tune, "get_context",
                        lambda: SimpleNamespace(get_trial_dir=lambda: str(tmp_path)))
    return sent


# --- the loop, without Ray ------------------------------------------------------------------

@pytest.mark.parametrize(("make_task", "config"), [
    (cnn.make_task, {**CNN, "lr": 1e6}),
    (knn.VaeKnnTask, {**VAE, "lr": 1e6}),  # NaN codes: the k-NN scored them 0.02 before
], ids=["cnn", "vae_knn"])
def test_a_real_method_whose_loss_turns_nan_fails_at_once(make_task, config, digits, reports):
    with pytest.raises(faults.Diverged, match=r"^(train|val)_loss is (nan|inf) at epoch 1$"):
        loop.run(config, digits, make_task)
    (row,) = reports  # the failed epoch only: no chance-level val_acc, no test
    assert row["epoch"] == 1 and row[faults.DIVERGED].endswith("at epoch 1")
    assert math.isnan(row["val_acc"]) and math.isnan(row["train_loss"])
    assert "test_acc" not in row


def test_losses_nan_by_design_are_no_divergence(digits, reports):
    config = {**isomap_knn.DEFAULTS, "n_components": 8, "isomap_neighbors": 10,
              "n_neighbors": 5, "k_max": 10, "max_epochs": 2, "seed": 0}
    loop.run(config, digits, knn.IsomapKnnTask)  # Isomap has no reconstruction loss
    assert [r["epoch"] for r in reports] == [1, 2] and 0.5 < reports[-1]["test_acc"] <= 1


def test_running_out_of_memory_names_the_epoch_and_device(digits, reports):
    config = {**faulty.DEFAULTS, "fault": "oom", "max_epochs": 3, "seed": 0}
    device = loop.pick_device().type  # a real allocation of 1 PiB there
    cause = "CUDA out of memory" if device == "cuda" else "can't allocate memory"
    with pytest.raises(faults.OutOfMemory, match=rf"^out of memory at epoch 2 on {device}: "
                                                 rf".*{cause}"):
        loop.run(config, digits, faulty.make_task)
    assert [r["epoch"] for r in reports] == [1]


def test_non_finite_test_scores_fail_the_trial(digits, reports, monkeypatch):
    monkeypatch.setattr(ClassifierTask, "test", lambda self: ({}, np.full((360, 10), np.nan)))
    with pytest.raises(faults.Diverged, match=r"^3600 of 3600 test scores are not finite at "
                                              r"epoch 1$"):
        loop.run({**CNN, "lr": 1e-3, "max_epochs": 1}, digits, cnn.make_task)
    assert reports[-1]["diverged"].startswith("3600 of 3600") and "test_acc" not in reports[-1]


@pytest.mark.parametrize("error", [MemoryError(), torch.OutOfMemoryError(
    "CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")], ids=["host", "cuda"])
def test_out_of_memory_errors_become_one_line(error):
    cpu = torch.device("cpu")
    with pytest.raises(faults.OutOfMemory) as caught, faults.out_of_memory("at epoch 3", cpu):
        raise error
    assert str(caught.value) == ("out of memory at epoch 3 on cpu: MemoryError"
                                 if isinstance(error, MemoryError) else
                                 "out of memory at epoch 3 on cpu: CUDA out of memory. Tried to "
                                 "allocate 2.00 GiB")
    with pytest.raises(RuntimeError, match=r"^other$"), faults.out_of_memory("at epoch 3", cpu):
        raise RuntimeError("other")


# --- the analysis of failures ---------------------------------------------------------------

def _trial(study: Path, trial_id: str, rows: list[dict], error: str | None = None) -> None:
    d = study / f"train_cnn_{trial_id}"
    d.mkdir(parents=True)
    (d / "params.json").write_text(json.dumps({"lr": 0.01 if trial_id == "a" else 0.02}))
    (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if error is not None:
        (d / "error.txt").write_text(error)


ERROR_TXT = """Failure # 1 (occurred at 2026-11-23_11-16-12)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, ip=127.0.0.1, repr=train_cnn)
  File "trainables/loop.py", line 255, in _epoch
    raise error
torch.OutOfMemoryError: CUDA out of memory.

The above exception was the direct cause of the following exception:

\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, ip=127.0.0.1, repr=train_cnn)
trainables.faults.OutOfMemory: out of memory at epoch 2 on cuda: CUDA out of memory.
Failure # 2 (occurred at 2026-11-23_11-16-25)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=2, ip=127.0.0.1, repr=train_cnn)
ValueError: Input contains NaN.
  which a second line explains
"""


def test_failures_are_counted_with_their_reasons_and_diverged_is_never_stopped(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps(
        {"method": "cnn", "max_epochs": 9, "scheduler": "asha"}))  # an ASHA rung at epoch 3
    row = {"train_loss": 0.5, "val_loss": 0.5, "val_acc": 0.9}
    _trial(tmp_path, "a", [{**row, "epoch": e} for e in (1, 2)]
           + [{"epoch": 3, "train_loss": math.nan, "val_loss": math.nan, "val_acc": math.nan,
               "diverged": "train_loss is nan at epoch 3"}])
    _trial(tmp_path, "b", [{**row, "epoch": e} for e in range(1, 10)], ERROR_TXT)
    study = results.load(tmp_path)
    t = study.trials.set_index("trial_id")
    assert t.loc["a", "status"] == "failed"  # not "stopped early" on the rung
    assert t.loc["a", "failure"] == "diverged: train_loss is nan at epoch 3"
    assert t.loc["b", "status"] == "completed" and t.loc["b", "failures"] == 2
    assert t.loc["b", "failure"] == "ValueError: Input contains NaN."
    assert results._read_failures(tmp_path / "train_cnn_b" / "error.txt", [])[0] == (
        "OutOfMemory: out of memory at epoch 2 on cuda: CUDA out of memory.")
    assert summary.failure_lines(study) == [
        "trial a failed: diverged: train_loss is nan at epoch 3",
        "trial b completed after 2 failures: ValueError: Input contains NaN."]


# --- a real study with one trial of each fault ----------------------------------------------

@pytest.fixture(scope="module")
def study(ray_local, tmp_path_factory):
    """``faulty_cnn`` with one trial per fault and a healthy one, --max-failures 1, faults in
    the last epoch (where ASHA's max_t is): the exit code, the printed output, the study
    directory and its trials by fault."""
    storage = tmp_path_factory.mktemp("studies")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setitem(registry.METHODS, faulty.METHOD.name, faulty.METHOD)
        rc = main(["faulty_cnn", "--num-samples", "4", "--max-epochs", "2", "--max-failures",
                   "1", "--storage", str(storage), "--name", "faults"])
        loaded = results.load(storage / "faults")
    path = storage / "faults"
    trials = {json.loads((d / "params.json").read_text())["fault"]: d
              for d in path.iterdir() if (d / "params.json").exists()}
    by_fault = loaded.trials.set_index("fault")
    return SimpleNamespace(rc=rc, out=out.getvalue(), path=path, dirs=trials, trials=by_fault,
                           report=(path / "report" / "report.md").read_text())


def rows(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def tune_status(study_dir: Path) -> dict[str, str]:
    from ray.tune import ExperimentAnalysis

    return {t.trial_id: t.status for t in ExperimentAnalysis(str(study_dir)).trials}


@pytest.mark.slow
def test_the_study_finishes_and_nothing_else_is_lost(study):
    assert study.rc == ExitCode.TRIALS_FAILED
    assert sorted(study.dirs) == sorted(faulty.FAULTS)
    assert "trials: 4 (2 completed, 0 stopped early by ASHA, 2 failed, 0 incomplete)" in study.out
    healthy = rows(study.dirs["none"])
    assert [r["epoch"] for r in healthy] == [1, 2] and 0.8 < healthy[-1]["test_acc"] <= 1
    assert (study.dirs["none"] / "predictions.npz").exists()
    assert study.trials.loc["none", "failures"] == 0
    assert "## Trials with failures" in study.report


@pytest.mark.slow
def test_a_trial_that_raises_is_retried_from_its_checkpoint(study):
    retried, healthy = rows(study.dirs["raise"]), rows(study.dirs["none"])
    assert [r["epoch"] for r in retried] == [1, 2]
    assert retried[1]["iterations_since_restore"] == 1  # epoch 2 ran again, from epoch 1's
    for key in ("val_acc", "test_acc", "test_f1"):  # same config and seed as the healthy one
        assert retried[-1][key] == pytest.approx(healthy[-1][key], abs=1e-6)
    t = study.trials.loc["raise"]
    assert (t["status"], t["failures"]) == ("completed", 1)
    line = (f"trial {t['trial_id']} completed after 1 failure: RuntimeError: injected fault "
            f"at epoch {faulty.FAULT_EPOCH}")
    assert line in study.out and line in study.report


@pytest.mark.slow
def test_a_diverged_trial_fails_at_once_and_is_never_retried(study):
    t = study.trials.loc["diverge"]
    reason = f"train_loss is nan at epoch {faulty.FAULT_EPOCH}"
    assert (t["status"], t["failures"], t["failure"]) == ("failed", 1, f"Diverged: {reason}")
    last = rows(study.dirs["diverge"])[-1]
    assert last["epoch"] == faulty.FAULT_EPOCH and last["diverged"] == reason
    assert math.isnan(last["val_acc"]) and "test_acc" not in last
    assert not (study.dirs["diverge"] / "predictions.npz").exists()
    assert tune_status(study.path)[t["trial_id"]] == "ERROR"
    line = f"trial {t['trial_id']} failed: Diverged: {reason}"
    assert line in study.out and line in study.report


@pytest.mark.slow
def test_a_trial_out_of_memory_is_retried_then_fails_with_the_reason(study):
    t = study.trials.loc["oom"]
    assert (t["status"], t["failures"]) == ("failed", 2)
    assert t["failure"].startswith(f"OutOfMemory: out of memory at epoch {faulty.FAULT_EPOCH} "
                                   "on cpu: ")
    assert [r["epoch"] for r in rows(study.dirs["oom"])] == [1]
    line = f"trial {t['trial_id']} failed (2 failures): OutOfMemory: out of memory at epoch 2"
    assert line in study.out and line in study.report
    assert tune_status(study.path)[t["trial_id"]] == "ERROR"


@pytest.mark.slow
def test_a_study_whose_every_trial_failed_exits_4(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry.METHODS, faulty.METHOD.name, faulty.METHOD)
    rc = main(["faulty_cnn", "--num-samples", "1", "--max-epochs", "2", "--set",
               "fault=diverge", "--storage", str(tmp_path), "--name", "doomed", "--no-report"])
    assert rc == ExitCode.NO_RESULT
    assert "trials: 1 (0 completed, 0 stopped early by ASHA, 1 failed" in capsys.readouterr().out
