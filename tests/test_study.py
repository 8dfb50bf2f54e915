"""Real small Tune studies of vae_knn on digits, run in-process through the CLI's main()."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from study.run import main

CORE = ["epoch", "train_loss", "val_loss", "recon_loss", "kl", "val_acc"]
K_GRID = ["val_acc@1", "val_acc@3", "val_acc@5", "val_acc@10", "val_acc@15", "val_acc@25",
          "val_acc@35", "val_acc@50"]
TEST = ["test_acc", "test_f1", "test_precision", "test_recall", "test_auc"]


def trial_dirs(study: Path) -> list[Path]:
    return sorted(p for p in study.iterdir() if p.is_dir() and (p / "params.json").exists())


def results(trial: Path) -> list[dict]:
    return [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]


@pytest.fixture(scope="module")
def study(ray_local, tmp_path_factory):
    storage = tmp_path_factory.mktemp("studies")
    rc = main(["vae_knn", "--num-samples", "3", "--max-epochs", "3", "--storage", str(storage),
               "--name", "spine", "--set", "latent_dim=8", "--set", "k_max=25",
               "--scheduler", "fifo", "--no-report"])
    assert rc == 0
    return storage / "spine"


def test_every_trial_reports_the_core_keys_each_epoch(study):
    trials = trial_dirs(study)
    assert len(trials) == 3
    for trial in trials:
        progress = pd.read_csv(trial / "progress.csv")
        assert progress["epoch"].tolist() == [1, 2, 3]
        for key in [*CORE, *K_GRID[:6], "time_this_iter_s", "hostname", "device"]:
            assert key in progress.columns, key
        assert "val_acc@35" not in progress.columns  # above k_max=25
        assert progress["val_acc"].between(0, 1).all()


def test_final_report_has_test_metrics_and_predictions(study):
    for trial in trial_dirs(study):
        last = results(trial)[-1]
        for key in TEST:
            assert 0.0 <= last[key] <= 1.0, key
        saved = np.load(trial / "predictions.npz")
        assert saved["scores"].shape == (360, 10)
        assert (saved["scores"].argmax(1) == saved["y_true"]).mean() == pytest.approx(
            last["test_acc"])
        assert all("test_acc" not in r for r in results(trial)[:-1])


def test_fixed_values_reach_every_trial_and_searched_ones_vary(study):
    configs = [json.loads((t / "params.json").read_text()) for t in trial_dirs(study)]
    assert {c["latent_dim"] for c in configs} == {8}
    assert {c["k_max"] for c in configs} == {25}
    assert len({c["lr"] for c in configs}) == 3
    assert {c["max_epochs"] for c in configs} == {3}


def test_study_json_records_the_spec(study):
    spec = json.loads((study / "study.json").read_text())
    assert spec["method"] == "vae_knn" and spec["fixed"] == {"latent_dim": 8, "k_max": 25}


def test_repeats_run_every_configuration_with_each_seed(ray_local, tmp_path, capsys):
    rc = main(["vae_knn", "--num-samples", "2", "--repeats", "2", "--max-epochs", "2",
               "--storage", str(tmp_path), "--name", "rep", "--no-report"])
    assert rc == 0
    configs = [json.loads((t / "params.json").read_text()) for t in trial_dirs(tmp_path / "rep")]
    assert len(configs) == 4
    groups: dict[str, set[int]] = {}
    for c in configs:
        key = json.dumps({k: v for k, v in c.items() if k != "__trial_index__"}, sort_keys=True)
        groups.setdefault(key, set()).add(c["__trial_index__"])
    assert list(groups.values()) == [{0, 1}, {0, 1}]
    out = capsys.readouterr().out
    assert "tensorboard --logdir" in out and str(tmp_path / "rep") in out


def test_uri_storage_runs_and_resumes(ray_local, tmp_path):
    storage = f"file://{tmp_path}"
    args = ["vae_knn", "--storage", storage, "--name", "uri", "--no-report"]
    assert main([*args, "--num-samples", "2", "--max-epochs", "1"]) == 0
    assert json.loads((tmp_path / "uri" / "study.json").read_text())["storage"] == storage
    assert main([*args, "--resume"]) == 0  # finished study: resumes to the same two trials
    assert len(trial_dirs(tmp_path / "uri")) == 2


def test_time_budget_ends_the_study_early_as_a_finished_one(ray_local, tmp_path, capsys):
    rc = main(["vae_knn", "--num-samples", "40", "--max-epochs", "4", "--time-budget", "8s",
               "--max-concurrent", "1", "--storage", str(tmp_path), "--name", "tb",
               "--no-report"])
    # 40 trials of 4 epochs take far longer than 8 s anywhere; how many ran depends on the
    # machine, and none completed (exit 4) is a possible outcome on a slow one
    assert rc in (0, 4)
    assert "time budget of 8s spent:" in capsys.readouterr().out
    assert len(trial_dirs(tmp_path / "tb")) < 40


class _Results(list):
    """What ``launch.unfinished`` reads of Tune's ResultGrid."""

    def __init__(self, epochs: list[int], errors: int = 0) -> None:
        super().__init__(SimpleNamespace(metrics={"training_iteration": e}, error=None)
                         for e in epochs)
        self.num_terminated, self.num_errors = len(epochs), errors


@pytest.mark.parametrize(("scheduler", "epochs", "cut_short"), [
    ("fifo", [9, 9], False), ("fifo", [9, 5], True),  # Ctrl-C ends a running trial TERMINATED
    ("asha", [9, 3], False),  # stopped by ASHA on its rung
    ("asha", [9, 4], True), ("fifo", [9], True)])  # a trial never started
def test_a_study_cut_short_by_ctrl_c_is_unfinished(scheduler, epochs, cut_short):
    from study.launch import unfinished
    from study.spec import StudySpec

    spec = StudySpec(method="vae_knn", num_samples=2, max_epochs=9, scheduler=scheduler)
    assert unfinished(spec, _Results(epochs)) is cut_short


def test_asha_compares_ae_classifier_trials_only_after_equal_classification_epochs():
    """A trial still pretraining scores its codes' k-NN probe (about 0.93 on MNIST), a trial
    in its head stage its classifier: ASHA must not weigh one against the other."""
    from study import registry
    from study.launch import make_scheduler
    from study.spec import StudySpec

    spec = StudySpec(method="ae_classifier", max_epochs=20, scheduler="asha")
    scheduler = make_scheduler(SimpleNamespace(spec=spec, method=registry.get("ae_classifier")))
    scheduler.set_search_properties("val_acc", "max")
    pretrains, heads = SimpleNamespace(trial_id="pretrains"), SimpleNamespace(trial_id="heads")
    for trial in (pretrains, heads):
        scheduler.on_trial_add(None, trial)

    def report(trial, epoch, classifier_epochs, val_acc):
        result = {"training_iteration": epoch, "classifier_epochs": classifier_epochs,
                  "val_acc": val_acc}
        return scheduler.on_trial_result(None, trial, result)

    grace = registry.get("ae_classifier").grace_period
    assert report(pretrains, grace, 0, 0.93) == "CONTINUE"  # the probe, on epoch `grace`
    assert report(heads, grace, grace, 0.85) == "CONTINUE"  # not measured against the probe
    # The pretrained trial reaches the same classification epochs with a worse classifier.
    assert report(pretrains, 10 + grace, grace, 0.80) == "STOP"


@pytest.mark.parametrize(("classifier_epochs", "cut_short"), [(6, False), (5, True)])
def test_an_ae_classifier_trial_stopped_on_a_classification_rung_is_finished(
        classifier_epochs, cut_short):
    from study.launch import unfinished
    from study.spec import StudySpec

    spec = StudySpec(method="ae_classifier", num_samples=2, max_epochs=20, scheduler="asha")
    grid = _Results([20, 14])
    grid[1].metrics["classifier_epochs"] = classifier_epochs  # 8 pretraining epochs before
    assert unfinished(spec, grid) is cut_short


def test_analysis_counts_ae_classifier_rungs_in_classification_epochs(tmp_path):
    from analysis.results import load

    (tmp_path / "study.json").write_text(json.dumps(
        {"method": "ae_classifier", "max_epochs": 20, "scheduler": "asha"}))
    for trial_id, pretraining, epochs in (("a", 8, 14), ("b", 0, 6)):
        d = tmp_path / f"train_ae_classifier_{trial_id}"
        d.mkdir()
        (d / "params.json").write_text(json.dumps({"ae_epochs": pretraining}))
        (d / "result.json").write_text("".join(
            json.dumps({"epoch": e, "val_acc": 0.9, "val_loss": 0.1, "train_loss": 0.1,
                        "classifier_epochs": max(0, e - pretraining)}) + "\n"
            for e in range(1, epochs + 1)))
    status = load(tmp_path).trials.set_index("trial_id")["status"]
    assert status.to_dict() == {"a": "stopped", "b": "stopped"}  # each on classifier epoch 6
