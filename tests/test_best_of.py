"""``python -m study.run --best-of STUDY_DIR``: a study's best configuration as a new study."""

import json

import pytest

from analysis import results, summary
from study.best import SUFFIX
from study.run import main, spec_from_argv
from tests.test_report_tables import write_study

TRIALS = [  # ae_knn trials; the second is the best on validation
    {"config": {"lr": 1e-3, "latent_dim": 12, "arch": "dense", "k_max": 50}, "val_acc": 0.8,
     "test_acc": 0.8},
    {"config": {"lr": 2e-3, "latent_dim": 40, "arch": "dense", "k_max": 35}, "val_acc": 0.9,
     "test_acc": 0.9}]


@pytest.fixture
def searched(tmp_path):
    return write_study(tmp_path / "searched", TRIALS)


def test_the_best_trials_values_are_fixed_under_the_command_lines(searched, tmp_path):
    spec = spec_from_argv(["--best-of", str(searched), "--repeats", "3", "--max-epochs", "9",
                           "--set", "lr=0.005"])
    # k_max differs from its default (50) in the best trial: a constant it ran with
    assert spec.fixed == {"lr": 0.005, "latent_dim": 40, "arch": "dense", "k_max": 35}
    assert (spec.method, spec.dataset, spec.max_epochs, spec.repeats) == (
        "ae_knn", "digits", 9, 3)
    assert (spec.num_samples, spec.scheduler, spec.searcher, spec.preset) == (
        1, "fifo", "optuna", None)
    assert (spec.name, spec.storage) == (f"searched{SUFFIX}", str(tmp_path))


@pytest.mark.parametrize(("extra", "message"), [
    (["--preset", "report004"], "drop --preset"),
    (["--resume", "--name", "x"], "drop --resume"),
    (["vae_knn"], "a ae_knn study, not vae_knn"),
    (["--config", "preset.yaml"], "drop --preset"),
])
def test_best_of_refusals_are_one_line(searched, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(searched.parent)
    (searched.parent / "preset.yaml").write_text("preset: report004\n")
    assert main(["--best-of", str(searched), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
    assert not (searched.parent / f"searched{SUFFIX}").exists()


def test_a_study_without_a_completed_trial_has_no_best(tmp_path, capsys):
    study = write_study(tmp_path / "empty", TRIALS)
    for trial in study.glob("train_*"):
        rows = (trial / "result.json").read_text().splitlines()
        (trial / "result.json").write_text("\n".join(rows[:1]) + "\n")  # stopped at epoch 1
    assert main(["--best-of", str(study)]) == 2
    assert "no trial completed" in capsys.readouterr().err


def test_the_rerun_trains_the_best_trials_configuration(ray_local, tmp_path):
    """End to end on digits: a 3-trial search, then its best configuration on 2 seeds."""
    args = ["--storage", str(tmp_path), "--no-report", "--max-epochs", "2"]
    assert main(["pca_knn", "--num-samples", "3", "--name", "s", "--set", "k_max=30",
                 "--searcher", "random", *args]) == 0  # random: no start point to echo
    assert main(["--best-of", str(tmp_path / "s"), "--repeats", "2", *args]) == 0
    source = results.load(tmp_path / "s")
    best = json.loads((source.trial_dir(str(source.best_trial()["trial_id"]))
                       / "params.json").read_text())
    reruns = [json.loads(p.read_text()) for p in (tmp_path / f"s{SUFFIX}").glob("*/params.json")]
    assert sorted(r.pop("__trial_index__") for r in reruns) == [0, 1]  # the repeats' seeds
    best.pop("__trial_index__", None)  # a search with one seed has none
    assert reruns == [best, best]
    lines = summary.lines(results.load(tmp_path / f"s{SUFFIX}"))
    assert any(line.endswith("over 2 seed(s)): every value fixed") for line in lines), lines


def test_a_set_that_closes_a_branch_drops_the_best_trials_values_in_it(tmp_path):
    """The best trial was a dense autoencoder 1024 wide; ``--set arch=conv`` closes the
    dense branch, so its width is no longer fixed (it would be refused as unknown)."""
    study = write_study(tmp_path / "dense", [
        {"config": {"arch": "dense", "dense_width": 1024, "lr": 1e-3}, "val_acc": 0.9,
         "test_acc": 0.9}])
    assert spec_from_argv(["--best-of", str(study)]).fixed["dense_width"] == 1024
    spec = spec_from_argv(["--best-of", str(study), "--set", "arch=conv"])
    assert spec.fixed == {"arch": "conv", "lr": 1e-3}


def test_the_source_keeps_its_space_and_seed_but_not_its_cluster_or_trackers(tmp_path):
    study = write_study(tmp_path / "wide", [
        {"config": {"lr": 0.05}, "val_acc": 0.9, "test_acc": 0.9}])
    saved = json.loads((study / "study.json").read_text())
    saved.update(space={"lr": {"low": 1e-4, "high": 0.1}}, seed=7, reproducible=True,
                 address="10.0.0.1:6379", mlflow="sqlite:///m.db")
    (study / "study.json").write_text(json.dumps(saved))
    spec = spec_from_argv(["--best-of", str(study), "--max-concurrent", "2"])
    assert spec.fixed == {"lr": 0.05}  # inside the study's own range, not the method's
    assert (spec.seed, spec.reproducible, spec.address, spec.mlflow) == (7, False, None, None)
