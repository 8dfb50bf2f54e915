"""The Optuna study of a searched study lives in ``<study dir>/optuna.journal``: the same
trials and values as Tune's, readable by ``optuna.load_study`` and ``optuna-dashboard``, and
consistent again after a ``--resume`` that meets a journal ahead of Tune's saved state."""

import json
import wsgiref.util
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.search import BasicVariantGenerator

from core.layout import OPTUNA_JOURNAL
from search_spaces import vae_knn
from study.journal import JournalOptunaSearch, study_storage
from study.launch import make_searcher
from study.plan import resolve
from study.run import main
from study.spec import build

EPOCHS = 4  # ASHA's rung at epoch 3 (vae_knn's grace period) stops some trials before it


def load(study_dir: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=JournalStorage(
        JournalFileBackend(str(study_dir / OPTUNA_JOURNAL))))


def tune_trials(study_dir: Path) -> list[tuple[dict, list[dict]]]:
    """Each Tune trial's config and results."""
    return [(json.loads((t / "params.json").read_text()),
             [json.loads(line) for line in (t / "result.json").read_text().splitlines()])
            for t in sorted(study_dir.glob("train_*"))]


@pytest.fixture(scope="module")
def study(ray_local, tmp_path_factory):
    storage = tmp_path_factory.mktemp("studies")
    # One trial at a time, seeded: the same trials and ASHA decisions on every run.
    assert main(["vae_knn", "--num-samples", "4", "--max-epochs", str(EPOCHS),
                 "--reproducible", "--set", "latent_dim=8", "--set", "k_max=25",
                 "--storage", str(storage), "--name", "journal", "--no-report"]) == 0
    return storage / "journal"


def test_every_tune_trial_is_an_optuna_trial_with_its_final_val_acc(study):
    loaded = load(study, "journal")
    trials = tune_trials(study)
    assert loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(loaded.trials) == len(trials) == 4
    epochs = sorted(len(results) for _, results in trials)
    assert epochs[0] < EPOCHS == epochs[-1]  # stopped by ASHA and run in full, both
    for trial in loaded.trials:
        [results] = [r for c, r in trials if all(c[k] == v for k, v in trial.params.items())]
        assert trial.state == TrialState.COMPLETE
        # What Tune told OptunaSearch: the last result's objective, and every epoch's but
        # the one on which ASHA stopped a trial (Tune passes it on only as the final result).
        assert trial.value == results[-1]["val_acc"]
        reported = {r["training_iteration"]: r["val_acc"] for r in results}
        if len(results) < EPOCHS:
            del reported[len(results)]
        assert trial.intermediate_values == reported
    assert loaded.trials[0].params["lr"] == vae_knn.START_POINTS[0]["lr"]  # tried first


def test_a_study_selecting_on_val_auc_ranks_its_trials_on_val_auc(ray_local, tmp_path):
    """``--set select_metric=val_auc`` makes AUC the objective of ASHA, TPE and the analysis.
    ``ae_classifier``'s pretraining reports its probe's AUC: Tune refuses a result without
    the objective."""
    from analysis.results import load as load_results

    assert main(["ae_classifier", "--num-samples", "2", "--max-epochs", "3",
                 "--set", "select_metric=val_auc", "--set", "arch=mlp",
                 "--set", "latent_dim=8", "--set", "ae_epochs=1", "--set", "head_epochs=1",
                 "--set", "finetune_epochs=1", "--storage", str(tmp_path), "--name", "auc",
                 "--no-report"]) == 0
    study_dir = tmp_path / "auc"
    trials = tune_trials(study_dir)
    assert len(trials) == 2
    for trial in load(study_dir, "auc").trials:
        [results] = [r for c, r in trials if all(c[k] == v for k, v in trial.params.items())]
        assert [r["stage"] for r in results] == [0, 1, 2]
        assert all(0.0 <= r["val_auc"] <= 1.0 for r in results)
        assert results[0]["val_auc"] > 0.5  # the pretraining probe's votes: better than chance
        assert trial.value == results[-1]["val_auc"] != results[-1]["val_acc"]
    analysed = load_results(study_dir)
    assert (analysed.metric, analysed.selection_metric) == ("val_auc", "selected_val_auc")


def test_optuna_dashboard_opens_the_journal(study):
    from optuna_dashboard import wsgi

    app = wsgi(str(study / OPTUNA_JOURNAL))  # what `optuna-dashboard FILE` serves

    def get(path: str) -> dict:
        environ = {"PATH_INFO": path}
        wsgiref.util.setup_testing_defaults(environ)
        status = []
        body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
        assert status == ["200 OK"], body[:300]
        return json.loads(body)

    [summary] = get("/api/studies")["study_summaries"]
    assert summary["study_name"] == "journal"
    detail = get(f"/api/studies/{summary['study_id']}")
    assert [t["state"] for t in detail["trials"]] == ["Complete"] * 4
    assert detail["has_intermediate_values"]
    [importances] = get(f"/api/studies/{summary['study_id']}/param_importances")[
        "param_importances"]
    assert {p["name"] for p in importances} <= {  # conditional parameters in some trials
        p["name"] for trial in detail["trials"] for p in trial["params"]}
    assert importances


def spec_plan(tmp_path, **options):
    return resolve(build({"method": "pca_knn", "storage": str(tmp_path), "name": "s",
                          **options}))


def test_the_random_searcher_keeps_a_journal_and_a_preset_grid_has_none(tmp_path):
    make_searcher(spec_plan(tmp_path, searcher="random")).suggest("t")
    assert [t.state for t in load(tmp_path / "s", "s").trials] == [TrialState.RUNNING]

    grid = make_searcher(spec_plan(tmp_path / "grid", preset="report004"))
    assert isinstance(grid, BasicVariantGenerator)
    assert not (tmp_path / "grid" / "s" / OPTUNA_JOURNAL).exists()


@pytest.mark.parametrize("options, limit", [
    ({"max_concurrent": 1}, 1), ({"reproducible": True}, 1), ({}, 0)])
def test_a_preset_grid_runs_no_more_trials_at_once_than_asked(tmp_path, options, limit):
    # Tune ignores max_concurrent_trials for a BasicVariantGenerator: it must limit itself
    grid = make_searcher(spec_plan(tmp_path, preset="report004", **options))
    assert grid.max_concurrent == limit


def test_cloud_storage_keeps_the_optuna_study_in_memory():
    assert study_storage("s3://bucket/studies/s") is None


def space(trial):
    trial.suggest_float("x", 0.0, 1.0)


def test_a_restore_meets_a_journal_ahead_of_tunes_saved_state(tmp_path):
    """As after a driver killed between Tune's snapshots: trial a finished and trial c was
    asked after the searcher was saved. Resumed, Tune runs a again, and c too when the kill
    came between Tune's saving its trials and its searcher."""
    def searcher():
        return JournalOptunaSearch(space=space, metric="val_acc", mode="max", study_name="s",
                                   storage=study_storage(str(tmp_path)))

    before = searcher()
    before.suggest("a"), before.suggest("b")
    before.on_trial_result("a", {"val_acc": 0.1, "training_iteration": 1})
    before.save(str(tmp_path / "searcher.pkl"))
    before.on_trial_result("a", {"val_acc": 0.2, "training_iteration": 2})
    before.on_trial_complete("a", {"val_acc": 0.2, "training_iteration": 2})
    before.suggest("c")

    after = searcher()
    after.restore(str(tmp_path / "searcher.pkl"))
    after.on_trial_result("a", {"val_acc": 0.3, "training_iteration": 2})  # no error
    after.on_trial_complete("a", {"val_acc": 0.3, "training_iteration": 2})
    after.on_trial_complete("b", {"val_acc": 0.4, "training_iteration": 1})
    after.on_trial_result("c", {"val_acc": 0.5, "training_iteration": 1})  # no KeyError
    after.on_trial_complete("c", {"val_acc": 0.5, "training_iteration": 1})
    after.suggest("d")
    trials = load(tmp_path, "s").trials
    assert [(t.state, t.value) for t in trials] == [
        (TrialState.COMPLETE, 0.2), (TrialState.COMPLETE, 0.4), (TrialState.FAIL, None),
        (TrialState.RUNNING, None)]
    assert trials[0].intermediate_values == {1: 0.1, 2: 0.2}
