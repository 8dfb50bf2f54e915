"""Campaigns: every report's campaign declared soundly, run end to end in the smoke budget,
compared with numbers that are the trial files', and resumed without rerunning studies."""

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import campaign as comparison
from core.errors import StudyError
from search_spaces import ae_classifier as ae_classifier_space
from study import campaign as campaigns
from study.best import best_configuration
from study.plan import resolve
from study.reproduce import main, plan_steps, share, step_spec
from study.spec import read_config
from tests.test_report_tables import write_study

REPORTS = campaigns.names()


def test_the_project_holds_a_campaign_per_report():
    assert REPORTS == ["report000", "report001", "report002", "report003", "report004"]


@pytest.mark.parametrize("report", REPORTS)
@pytest.mark.parametrize("budget", campaigns.BUDGETS)
def test_every_study_of_every_budget_resolves(report, budget, tmp_path):
    campaign = campaigns.load(report)
    options = campaigns.Options(budget=budget)
    for study in campaign.studies:
        faithful = campaigns.faithful_spec(campaign, study, options, str(tmp_path))
        searched = campaigns.searched_spec(campaign, study, options, str(tmp_path), faithful)
        assert faithful.preset and faithful.searcher == "grid"
        assert (searched.preset, searched.searcher, searched.scheduler) == (None, "optuna",
                                                                            "asha")
        assert searched.max_epochs == faithful.max_epochs
        assert searched.dataset == faithful.dataset
        resolve(faithful), resolve(searched)
        if budget == "smoke":
            assert faithful.dataset == "digits" and faithful.num_samples == 1
    for row in campaign.rows:
        assert row.report is None or row.source, f"{row.label}: cite the report's figure"
        assert row.anchor is None or row.anchor_source


@pytest.mark.parametrize(("report", "arch"), [("report000", "conv"), ("report001", "mlp")])
def test_the_autoencoder_reports_search_their_own_architecture(report, arch, tmp_path):
    campaign = campaigns.load(report)
    options = campaigns.Options(budget="full")
    faithful = campaigns.faithful_spec(campaign, "ae_classifier", options, str(tmp_path))
    searched = campaigns.searched_spec(campaign, "ae_classifier", options, str(tmp_path),
                                       faithful)
    assert resolve(faithful).fixed["arch"] == arch  # the preset's own value
    plan = resolve(searched)
    assert plan.fixed["arch"] == arch
    assert ae_classifier_space.PRESETS[report].grid in plan.start_points  # the report's


@pytest.mark.parametrize("budget", ["full", "smoke"])
def test_the_searched_study_keeps_the_presets_method_settings(budget, tmp_path):
    campaign = campaigns.load("report004")
    options = campaigns.Options(budget)
    faithful = campaigns.faithful_spec(campaign, "isomap_knn", options, str(tmp_path))
    searched = campaigns.searched_spec(campaign, "isomap_knn", options, str(tmp_path),
                                       faithful)
    # the report's 10 % of CIFAR-10 in both; the smoke budget's own value wins in both
    want = 5000 if budget == "full" else 300
    for plan in (resolve(faithful), resolve(searched)):
        assert {**plan.constants, **plan.fixed}["isomap_subsample"] == want


def test_a_full_budget_keeps_the_reports_epochs(tmp_path):
    campaign = campaigns.load("report004")
    spec = campaigns.faithful_spec(campaign, "medmnist_resnet", campaigns.Options("full"),
                                   str(tmp_path))
    assert (spec.max_epochs, spec.dataset, spec.repeats) == (50, "breastmnist", 3)


def trial_values(study_dir: Path, trial_ids: str, metric: str) -> list[float]:
    values = []
    for trial_id in trial_ids.split():
        trial = next(study_dir.glob(f"*_{trial_id}"))
        last = json.loads((trial / "result.json").read_text().splitlines()[-1])
        values.append(last[metric])
    return values


@pytest.mark.parametrize("report", REPORTS)
def test_every_row_reads_trials_its_study_runs(report):
    """A row's ``where`` matches points of its study's preset grid (or the preset's
    settings), so the faithful column is never empty by a typo."""
    from study import presets

    campaign = campaigns.load(report)
    for row in campaign.rows:
        values = read_config(str(campaign.folder / f"{row.study}.yaml"))
        preset = presets.lookup(values["method"], values["preset"])
        points = [{**preset.settings, **values, **point} for point in preset.points()]
        assert any(all(point.get(k, "absent") == v for k, v in row.where.items())
                   for point in points), f"{report}: {row.label}: no grid point {row.where}"


#: Campaigns end to end in the smoke budget: report 001's (resumed too), and one study each of
#: report 003 (the leaky protocol) and report 004. Every study's specs resolve and every row
#: reads its grid above, and every method runs on digits in its own tests: the whole of
#: ``study.reproduce all --budget smoke`` takes minutes.
SMOKE = {"report001": None, "report003": "cnn_leaky", "report004": "pca_knn"}


@pytest.mark.slow
@pytest.mark.parametrize(("report", "only"), SMOKE.items())
def test_every_campaign_runs_in_smoke(report, only, ray_local, tmp_path, one_torch_thread):
    """End to end on digits; every number of the comparison is its trials' mean."""
    assert main([report, "--budget", "smoke", "--storage", str(tmp_path),
                 *(["--only", only] if only else [])]) == 0
    folder = tmp_path / f"{report}-smoke"
    manifest = json.loads((folder / "campaign.json").read_text())
    campaign = campaigns.load(report)
    studies = [only] if only else campaign.studies
    assert set(manifest["done"]) == {f"{s}-{k}" for s in studies for k in campaigns.KINDS}
    # Trial ids such as "00000" or "12e45678" are text, not numbers.
    table = pd.read_csv(folder / "comparison" / "comparison.csv",
                        dtype={f"{kind} trials": str for kind in ("faithful", "searched")})
    assert len(table) == len([r for r in campaign.rows if r.study in studies])
    assert (folder / "comparison" / "comparison.png").stat().st_size > 0
    checked = 0
    for row in table.to_dict("records"):
        for kind, study in (("faithful", "faithful"), ("searched", "rerun")):
            ids = row[f"{kind} trials"]
            if not isinstance(ids, str):
                continue
            study_dir = folder / f"{campaigns_study(manifest, row['row'])}-{study}"
            values = trial_values(study_dir, ids, row["metric"])
            assert row[f"{kind} mean"] == pytest.approx(sum(values) / len(values))
            checked += 1
    assert checked, "no row had a number to check"
    if report == "report001":
        check_a_killed_campaign_resumes_without_rerunning_finished_studies(folder)


def check_a_killed_campaign_resumes_without_rerunning_finished_studies(folder: Path) -> None:
    """Killed during the searched study: it and the rerun are not recorded as finished, and
    the rerun never started. The resumed campaign leaves the faithful study alone, continues
    the searched one without a new trial and runs the rerun."""
    manifest = json.loads((folder / "campaign.json").read_text())
    del manifest["done"]["ae_classifier-searched"], manifest["done"]["ae_classifier-rerun"]
    (folder / "campaign.json").write_text(json.dumps(manifest))
    shutil.rmtree(folder / "ae_classifier-rerun")
    before = results_written(folder)
    assert main(["report001", "--storage", str(folder.parent), "--name", folder.name,
                 "--resume"]) == 0
    after = results_written(folder)
    assert {k: v for k, v in after.items() if "faithful" in k} == {
        k: v for k, v in before.items() if "faithful" in k}
    for kind in campaigns.KINDS:
        assert len(list(folder.glob(f"ae_classifier-{kind}/*/result.json"))) == 1
    assert set(json.loads((folder / "campaign.json").read_text())["done"]) == {
        f"ae_classifier-{kind}" for kind in campaigns.KINDS}


def campaigns_study(manifest: dict, label: str) -> str:
    return next(r["study"] for r in manifest["rows"] if r["label"] == label)


def results_written(folder: Path) -> dict[str, int]:
    """When each trial's result file was last written."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in folder.glob("*-*/*/result.json")}


@pytest.mark.parametrize(("argv", "message"), [
    (["report009"], "no campaign 'report009'; choose from report000"),
    (["report001", "--only", "cnn"], "--only cnn: report001 has ae_classifier"),
    (["report001", "--resume"], "--resume needs --name"),
    (["report001", "--name", "x", "--resume", "--budget", "full"],
     "--budget cannot change"),
    (["all", "--name", "x"], "--name names one campaign"),
])
def test_campaign_refusals_are_one_line(argv, message, tmp_path, capsys):
    assert main([*argv, "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_an_existing_campaign_is_never_replaced_without_overwrite(tmp_path, capsys):
    folder = tmp_path / "report001-smoke"
    folder.mkdir()
    (folder / "campaign.json").write_text("{}")
    assert main(["report001", "--budget", "smoke", "--storage", str(tmp_path)]) == 2
    assert "--resume to continue it, --overwrite to replace it" in capsys.readouterr().err
    assert (folder / "campaign.json").read_text() == "{}"
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["report001", "--name", "notes", "--overwrite",
                 "--storage", str(tmp_path)]) == 2
    assert (other / "keep.txt").read_text() == "mine"


def test_figure_selects_on_validation_among_the_rows_trials():
    study = _study([
        {"trial_id": "a", "arch": "dense", "val_acc": 0.9, "test_acc": 0.5, "__trial_index__": 0},
        {"trial_id": "b", "arch": "dense", "val_acc": 0.7, "test_acc": 0.9, "__trial_index__": 0},
        {"trial_id": "c", "arch": "conv", "val_acc": 0.99, "test_acc": 0.1, "__trial_index__": 0},
    ])
    cell = comparison.figure(study, "test_acc", {"arch": "dense"})
    assert (cell.mean, cell.seeds, cell.trials) == (0.5, 1, ("a",))
    assert math.isnan(comparison.figure(study, "test_acc", {"arch": "none"}).mean)
    with pytest.raises(StudyError, match=r"no campaign\.json"):
        comparison.comparison(Path("/nonexistent"))


def _study(rows: list[dict]):
    from analysis.results import Study

    trials = pd.DataFrame(rows).assign(status="completed", epochs=1)
    return Study(path=Path("."), spec={"repeats": 1}, metric="val_acc", mode="max",
                 trials=trials, epochs=pd.DataFrame(), params=["arch", "__trial_index__"],
                 constants={})


def test_a_time_budget_is_shared_by_trial_epochs_over_the_studies_left():
    assert share(3600, 0, 100, 400) == 900.0
    assert share(3600, 1800, 100, 200) == 900.0  # half spent, half the work left
    assert share(3600, 5000, 100, 200) == 1.0


def test_a_key_given_twice_in_a_campaign_is_refused(tmp_path):
    folder = tmp_path / "report009"
    folder.mkdir()
    (folder / "campaign.yaml").write_text(
        "title: t\nbudgets: {quick: {}}\nstudies:\n  a:\n    quick: {repeats: 2}\n"
        "  a:\n    smoke: {}\nrows: []\n")
    with pytest.raises(StudyError, match="key 'a' given twice"):
        campaigns.load("report009", tmp_path)


def test_a_study_files_space_section_shapes_the_searched_study_only(tmp_path):
    folder = tmp_path / "report009"
    folder.mkdir()
    (folder / "campaign.yaml").write_text(
        "title: t\nbudgets: {quick: {}}\nstudies:\n  pca:\n    quick: {}\nrows: []\n")
    (folder / "pca.yaml").write_text("method: pca_knn\npreset: report004\n"
                                     "space:\n  n_components: {low: 10, high: 120}\n")
    campaign = campaigns.load("report009", tmp_path)
    options = campaigns.Options(budget="quick")
    faithful = campaigns.faithful_spec(campaign, "pca", options, str(tmp_path))
    searched = campaigns.searched_spec(campaign, "pca", options, str(tmp_path), faithful)
    assert faithful.space == {} and faithful.preset == "report004"
    assert searched.space == {"n_components": {"low": 10, "high": 120}}
    resolve(faithful), resolve(searched)


def test_the_rerun_fixes_every_sampled_value_also_one_no_trial_varied(tmp_path):
    """With few trials a sampled parameter may take one value in all of them; the analysis
    then counts it as a constant, but the rerun must still fix it, not sample it anew."""
    study = write_study(tmp_path / "searched", [
        {"config": {"lr": 1e-3, "knn_metric": "cosine"}, "val_acc": 0.9, "test_acc": 0.9},
        {"config": {"lr": 2e-3, "knn_metric": "cosine"}, "val_acc": 0.8, "test_acc": 0.8}])
    assert best_configuration(study, ["lr", "knn_metric", "dense_width"]) == {
        "lr": 1e-3, "knn_metric": "cosine"}  # dense_width: not sampled by this trial


def test_the_rerun_repeats_the_searched_study_as_it_ran(tmp_path):
    """A campaign resumed after its files or this code changed, from a folder moved since
    and on another cluster: the rerun takes the constants the searched trials had and the
    faithful study's seeds (their saved specs), writes into the campaign's folder and runs
    on the cluster the resumed campaign names; so do the studies it resumes."""
    folder = tmp_path / "report009"
    folder.mkdir()
    (folder / "campaign.yaml").write_text(
        "title: t\nbudgets: {quick: {}}\nstudies:\n  ae:\n    quick: {}\nrows: []\n")
    (folder / "ae.yaml").write_text("method: ae_knn\npreset: report004\n")
    campaign = campaigns.load("report009", tmp_path)
    out = tmp_path / "moved"
    steps = plan_steps(campaign, ["ae"], campaigns.Options(budget="quick"), str(out))
    faithful, _, rerun = steps
    ran = {}
    for kind, trials, repeats in (("faithful", FAITHFUL_TRIALS, 4), ("searched", [
            {"config": {"lr": 1e-3, "latent_dim": 12}, "val_acc": 0.9, "test_acc": 0.9},
            {"config": {"lr": 2e-3, "latent_dim": 40}, "val_acc": 0.8, "test_acc": 0.8}], 1)):
        ran[kind] = write_study(out / f"ae-{kind}", trials, repeats=repeats)
        saved = json.loads((ran[kind] / "study.json").read_text())
        saved.update(storage=str(tmp_path / "before"), fixed={"checkpoint_every_s": 7.0})
        (ran[kind] / "study.json").write_text(json.dumps(saved))
    spec = step_spec(rerun, steps, out, "10.0.0.1:6379")
    assert spec.fixed == {"checkpoint_every_s": 7.0, "lr": 1e-3, "latent_dim": 12}
    assert (spec.name, spec.storage, spec.address) == ("ae-rerun", str(out), "10.0.0.1:6379")
    assert (spec.num_samples, spec.repeats, spec.scheduler, spec.resume, spec.overwrite) == (
        1, 4, "fifo", False, False)
    (out / "ae-rerun").mkdir()
    (out / "ae-rerun" / "study.json").write_text("{}")  # its Tuner never started
    assert step_spec(rerun, steps, out, None).overwrite
    (ran["faithful"] / "tuner.pkl").write_bytes(b"")
    resumed = step_spec(faithful, steps, out, "10.0.0.1:6379")
    assert (resumed.resume, resumed.storage, resumed.address, resumed.repeats) == (
        True, str(out), "10.0.0.1:6379", 4)


FAITHFUL_TRIALS = [{"config": {"lr": 1e-3}, "val_acc": 0.7, "test_acc": 0.7}] * 4
