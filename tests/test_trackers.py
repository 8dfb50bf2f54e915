"""``--mlflow`` and ``--wandb``: Tune's logger callbacks, one run per trial; a tracker whose
package is missing, or a tracking URI MLflow refuses, is one line and exit 2 before anything
runs; ``--resume`` cannot change the trackers."""

import importlib.util
import json

import pytest

from study import trackers
from study.run import main
from study.spec import StudySpec
from tests.test_cli_refusals import one_line_error


@pytest.fixture(scope="module")
def mlflow_study(ray_local, tmp_path_factory):
    """A two-trial study logged to a local MLflow store (SQLite: MLflow 3.17 refuses its file
    store unless told otherwise)."""
    root = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{root}/mlflow.db"
    assert main(["pca_knn", "--num-samples", "2", "--max-epochs", "2", "--scheduler", "fifo",
                 "--storage", str(root), "--name", "tracked", "--no-report",
                 "--mlflow", uri]) == 0
    return root / "tracked", uri


def test_mlflow_has_one_run_per_trial_with_its_params_and_val_acc(mlflow_study):
    from mlflow import MlflowClient

    study, uri = mlflow_study
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tracked")
    # Runs are named after their trials: train_pca_<trial id>.
    runs = {run.info.run_name.rsplit("_", 1)[1]: run
            for run in client.search_runs([experiment.experiment_id])}
    trials = sorted(study.glob("train_*"))
    assert len(runs) == len(trials) == 2
    for trial in trials:
        config = json.loads((trial / "params.json").read_text())
        results = [json.loads(x) for x in (trial / "result.json").read_text().splitlines()]
        run = runs[results[-1]["trial_id"]]
        assert run.info.status == "FINISHED"
        searched = ("n_components", "n_neighbors", "whiten")
        assert {k: run.data.params[k] for k in searched} == {k: str(config[k]) for k in searched}
        assert run.data.metrics["val_acc_5"] == results[-1]["val_acc@5"]  # MLflow's name
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert [(m.step, m.value) for m in history] == [
            (r["training_iteration"], r["val_acc"]) for r in results]


def test_wandb_logs_to_the_project_in_a_group_named_after_the_study(monkeypatch):
    """The callback as built (wandb is not installed here; it reaches W&B once a study runs)."""
    from ray.air.integrations import wandb as tune_wandb

    monkeypatch.setattr(tune_wandb, "wandb", object())  # stands in for the package
    [callback] = trackers.callbacks(StudySpec("vae_knn", name="s", wandb="hp"))
    assert isinstance(callback, tune_wandb.WandbLoggerCallback)
    assert (callback.project, callback.group) == ("hp", "s")


def test_a_missing_tracker_package_is_one_line_naming_its_extra(tmp_path, capsys,
                                                                 monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "wandb" else find_spec(name, *args))
    assert main(["vae_knn", "--wandb", "hp", "--storage", str(tmp_path), "--name", "w"]) == 2
    assert one_line_error(capsys) == (
        'error: --wandb needs the wandb extra: pip install -e ".[wandb]"')
    assert list(tmp_path.iterdir()) == []


def test_a_tracking_uri_mlflow_refuses_is_one_line(tmp_path, capsys):
    assert main(["vae_knn", "--mlflow", "nosuch://x", "--storage", str(tmp_path),
                 "--name", "m"]) == 2
    assert one_line_error(capsys).startswith("error: --mlflow nosuch://x: ")
    assert list(tmp_path.iterdir()) == []


def test_trackers_cannot_change_on_resume(tmp_path, capsys):
    """Tune restores a study's callbacks, trackers included, with its Tuner."""
    assert main(["--name", "s", "--storage", str(tmp_path), "--resume",
                 "--mlflow", "sqlite:///x.db"]) == 2
    assert "--mlflow cannot change" in one_line_error(capsys)
