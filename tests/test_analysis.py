"""analysis/: the report's tables and figures against the trials' own result files.

Two real small studies (one plain, one with --repeats) run in-process through study.run's
main(), which writes their reports through the run hook; every number checked here is read
back independently from the trials' result.json / predictions.npz.
"""

import contextlib
import io
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import compare, tables
from analysis.report import write_report
from analysis.results import load, most_at_once
from tests.conftest import ROOT

EPOCHS = 4
MIN_PNG_BYTES = 5_000


# ---------------------------------------------------------------- fixtures and helpers


def run_study(*args: str) -> str:
    from study.run import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(list(args))
    assert rc == 0, out.getvalue()[-3000:]
    return out.getvalue()


@pytest.fixture(scope="module")
def studies(ray_local, tmp_path_factory):
    """(plain study dir, repeats study dir, stdout of the plain run)."""
    storage = tmp_path_factory.mktemp("analysis")
    printed = run_study("vae_knn", "--num-samples", "4", "--max-epochs", str(EPOCHS),
                        "--set", "checkpoint_every_s=0", "--storage", str(storage),
                        "--name", "plain")
    # two grid points of report 004's (dense and conv at latent 40, k 5), two seeds each
    run_study("vae_knn", "--preset", "report004", "--set", "latent_dim=40",
              "--set", "n_neighbors=5", "--repeats", "2", "--max-epochs", "2",
              "--storage", str(storage), "--name", "rep")
    return storage / "plain", storage / "rep", printed


@pytest.fixture(scope="module")
def plain(studies):
    return studies[0]


@pytest.fixture(scope="module")
def rep(studies):
    return studies[1]


def trial_files(study: Path) -> dict[str, dict]:
    """trial id -> {config, rows, last} read straight from params.json / result.json."""
    out = {}
    for d in sorted(study.glob("train_*")):
        rows = [json.loads(x) for x in (d / "result.json").read_text().splitlines()]
        out[d.name.rsplit("_", 1)[-1]] = {"dir": d, "config": json.loads(
            (d / "params.json").read_text()), "rows": rows, "last": rows[-1]}
    return out


def label(value) -> str:
    return tables.fmt_value(value)


def t_interval(values: list[float]) -> float:
    """The 95 % t-interval's half-width; none below three values (analysis.intervals)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 3:
        return math.nan
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={0: str}, keep_default_na=False, na_values=[""])


# ---------------------------------------------------------------- the run hook


@pytest.mark.slow
def test_study_run_prints_summary_and_report_path(plain):
    printed = (plain.parent / "plain" / "report" / "report.md")
    assert printed.is_file()
    text = printed.read_text()
    for heading in ("## Summary", "## Leaderboard", "## Hyperparameter importance",
                    "## Marginal effects", "## Grids", "## Selected trial on the test split",
                    "## Learning curves", "## Latent space of the selected model"):
        assert heading in text, heading
    assert "Selection on validation" in text


@pytest.mark.slow
def test_run_output_ends_with_summary_and_report_line(studies):
    plain_dir, _, printed = studies
    lines = printed.strip().splitlines()
    assert lines[-1] == f"report:      {plain_dir / 'report' / 'report.md'}"
    assert any(line.startswith("trials: 4 (") for line in lines)
    assert any(line.startswith("best trial: ") for line in lines)


def test_a_failing_report_does_not_fail_the_study(monkeypatch, tmp_path, caplog):
    import analysis.report
    from study import run
    from study.spec import StudySpec

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(analysis.report, "write_report", broken)
    spec = StudySpec("vae_knn", storage=str(tmp_path), name="x")
    with caplog.at_level("WARNING", logger="study"):
        run.print_report(spec)  # must not raise
    assert "report: not written (RuntimeError: disk full)" in caplog.text


# ---------------------------------------------------------------- tables = result files


@pytest.mark.slow
def test_trials_frame_equals_result_files(plain):
    files = trial_files(plain)
    study = load(plain)
    assert set(study.trials["trial_id"]) == set(files)
    for tid, f in files.items():
        row = study.trials.set_index("trial_id").loc[tid]
        last = f["last"]
        assert row["epochs"] == last["epoch"]
        assert row["val_acc"] == last["val_acc"]
        assert row["compute_s"] == last["time_total_s"]
        assert row["status"] == ("completed" if last["epoch"] == EPOCHS else "stopped")
        if "test_acc" in last:
            assert row["test_f1"] == last["test_f1"]
        for p in study.params:
            assert row[p] == f["config"][p]
    epochs = study.epochs
    for tid, f in files.items():
        mine = epochs[epochs["trial_id"] == tid].sort_values("epoch")
        assert mine["val_loss"].tolist() == [r["val_loss"] for r in f["rows"]]


@pytest.mark.slow
def test_leaderboard_and_marginal_tables_equal_result_files(plain):
    files = trial_files(plain)
    tables_dir = plain / "report" / "tables"
    board = read_csv(tables_dir / "leaderboard.csv")
    assert len(board) == len(files)
    for _, row in board.iterrows():
        last = files[row["trial_id"]]["last"]
        assert row["val_acc"] == last["val_acc"]
        assert same(row["test_acc"], last.get("test_acc", math.nan))
    study = load(plain)
    assert study.params, "the study searched nothing?"
    for p in study.params:
        table = read_csv(tables_dir / f"marginal_{p}.csv")
        assert table["trials"].sum() == len(files)
        for _, row in table.iterrows():
            # 4 trials: every hyperparameter has <= 6 values, so levels are the values
            members = [f for f in files.values() if label(f["config"][p]) == str(row[p])]
            vals = [f["last"]["val_acc"] for f in members]
            assert row["trials"] == len(vals)
            assert same(row["val_acc best"], max(vals))
            assert same(row["val_acc mean"], float(np.mean(vals)))
            assert same(row["val_acc ci95"], t_interval(vals))
            tests = [f["last"]["test_auc"] for f in members if "test_auc" in f["last"]]
            assert row["completed"] == len(tests)
            if tests:
                assert same(row["test_auc mean"], float(np.mean(tests)))


@pytest.mark.slow
def test_latent_dim_by_k_grid_equals_val_acc_at_k(plain):
    files = trial_files(plain)
    grid = read_csv(plain / "report" / "tables" / "grid_latent_dim_k.csv")
    grid["latent_dim"] = grid["latent_dim"].astype(str)
    ks = sorted({int(k.split("@")[1]) for f in files.values() for k in f["last"]
                 if k.startswith("val_acc@")})
    assert sorted(grid["k"].unique()) == ks
    for _, cell in grid.iterrows():
        members = [f for f in files.values()
                   if label(f["config"]["latent_dim"]) == cell["latent_dim"]
                   and ("arch" not in grid or f["config"]["arch"] == cell["arch"])]
        vals = [f["last"][f"val_acc@{cell['k']}"] for f in members]
        assert cell["val_acc n"] == len(vals) > 0
        assert same(cell["val_acc best"], max(vals))
        assert same(cell["val_acc mean"], float(np.mean(vals)))
    n_cells = len({(label(f["config"]["latent_dim"]), f["config"]["arch"])
                   for f in files.values()}) if "arch" in grid else None
    if n_cells is not None:
        assert len(grid) == n_cells * len(ks)


@pytest.mark.slow
def test_confusion_matrix_and_class_report_match_predictions(plain):
    from sklearn.metrics import confusion_matrix

    files = trial_files(plain)
    done = {t: f for t, f in files.items() if "test_acc" in f["last"]}
    best = max(done, key=lambda t: done[t]["last"]["selected_val_acc"])  # on validation
    assert f"best trial: {best}" in (plain / "report" / "report.md").read_text()
    npz = np.load(done[best]["dir"] / "predictions.npz")
    cm = read_csv(plain / "report" / "tables" / "confusion.csv").set_index(
        "true \\ predicted").to_numpy()
    assert cm.sum() == len(npz["y_true"])
    expected = confusion_matrix(npz["y_true"], npz["scores"].argmax(1),
                                labels=np.arange(npz["scores"].shape[1]))
    assert (cm == expected).all()
    assert np.trace(cm) / cm.sum() == pytest.approx(done[best]["last"]["test_acc"])
    classes = read_csv(plain / "report" / "tables" / "classes.csv").set_index("class")
    assert classes.loc["macro avg", "f1"] == pytest.approx(done[best]["last"]["test_f1"])
    assert classes.loc["macro avg", "precision"] == pytest.approx(
        done[best]["last"]["test_precision"])
    assert classes["support"].iloc[:-2].sum() == len(npz["y_true"])


@pytest.mark.slow
def test_figures_are_real_non_trivial_pngs(plain, rep):
    from PIL import Image

    expected = ["learning_curves", "objective_vs_params", "importance", "confusion", "k_grid",
                "latent_walk", "latent_walk_corners"]
    for study, names in ((plain, expected), (rep, ["learning_curves", "objective_vs_params"])):
        for name in names:
            path = study / "report" / "figures" / f"{name}.png"
            assert path.is_file(), path
            assert path.stat().st_size > MIN_PNG_BYTES, path
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            assert pixels.shape[0] > 200 and pixels.shape[1] > 200
            colours = pixels.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
            assert len(np.unique(colours)) > 20, f"{path}: flat image"
            assert f"figures/{name}.png" in (study / "report" / "report.md").read_text()


# ---------------------------------------------------------------- repeats


@pytest.mark.slow
def test_repeats_are_grouped_into_configurations_with_seed_ci(rep):
    files = trial_files(rep)
    assert len(files) == 4
    assert sorted(f["config"]["__trial_index__"] for f in files.values()) == [0, 0, 1, 1]
    configs = read_csv(rep / "report" / "tables" / "configurations.csv")
    assert len(configs) == 2
    assert (configs["seeds"] == 2).all()
    for _, row in configs.iterrows():
        ids = row["trials"].split()
        vals = [files[t]["last"]["val_acc"] for t in ids]
        assert same(row["val_acc mean"], float(np.mean(vals)))
        assert math.isnan(row["val_acc ci95"])  # two seeds: no interval
        accs = [files[t]["last"]["test_acc"] for t in ids]
        assert same(row["test_acc mean"], float(np.mean(accs)))
        configs_of = {json.dumps({k: v for k, v in files[t]["config"].items()
                                  if k != "__trial_index__"}, sort_keys=True) for t in ids}
        assert len(configs_of) == 1, "a configuration mixes different hyperparameters"
    text = (rep / "report" / "report.md").read_text()
    assert "over seeds" in text and "best configuration" in text


# ---------------------------------------------------------------- robustness and CLIs


@pytest.mark.slow
def test_killed_study_is_reported_not_fatal(plain, tmp_path):
    copy = tmp_path / "copied"
    shutil.copytree(plain, copy, ignore=shutil.ignore_patterns("report"))
    dirs = sorted(copy.glob("train_*"))
    half = dirs[0]
    for name in ("result.json", "progress.csv"):
        data = (half / name).read_bytes()
        (half / name).write_bytes(data[:-25])  # the last line cut short, as by a kill
    for name in ("result.json", "progress.csv"):
        (dirs[1] / name).unlink()
    (dirs[2] / "progress.csv").write_text("")
    (dirs[2] / "result.json").write_text("")
    pending = copy / "train_vae_00000000"
    pending.mkdir()
    (pending / "params.json").write_text('{"arch": "den')

    report = write_report(copy, tmp_path / "out", formats=["md", "csv", "tex"],
                          latent_walk=False)
    study = load(copy)
    status = study.trials.set_index("dir")["status"]
    assert status[half.name] == "incomplete"
    assert status[dirs[1].name] == status[dirs[2].name] == status[pending.name] == "incomplete"
    text = report.path.read_text()
    assert "Problems found in the results" in text
    assert f"{half.name}: result.json has 1 unreadable line" in text
    assert f"{dirs[1].name}: no results reported" in text
    assert "5 (" in report.summary[0] and "incomplete" in report.summary[0]
    assert (tmp_path / "out" / "tables" / "leaderboard.tex").read_text().startswith(
        "\\begin{tabular}")


@pytest.mark.slow
def test_compare_gives_one_row_per_study(plain, rep, tmp_path, capsys):
    table = compare.compare([plain, rep])
    assert list(table.numeric["study"]) == ["plain", "rep"]
    files = trial_files(plain)
    done = {t: f for t, f in files.items() if "test_acc" in f["last"]}
    best = max(done, key=lambda t: done[t]["last"]["selected_val_acc"])
    first = table.numeric.iloc[0]
    assert first["best trial"] == best
    assert first["metric"] == "selected_val_acc"
    assert first["best val mean"] == done[best]["last"]["selected_val_acc"]
    for metric in ("test_acc", "test_recall", "test_f1", "test_auc"):
        assert first[f"{metric} mean"] == done[best]["last"][metric], metric
    assert first["trials"] == 4
    assert table.numeric.iloc[1]["seeds"] == 2
    assert compare.main([str(plain), str(rep), "--out", str(tmp_path)]) == 0
    assert len(read_csv(tmp_path / "compare.csv")) == 2
    assert "| plain | vae_knn | digits |" in capsys.readouterr().out


def test_report_cli_bad_path_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(tmp_path / "nope")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


@pytest.mark.parametrize("argv", [["{tmp}"], ["{tmp}", "--format", "xls"]])
def test_report_cli_not_a_study_is_exit_2(tmp_path, capsys, argv):
    from analysis.report import main

    (tmp_path / "notes.txt").write_text("not a study")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_compare_cli_not_a_study_is_exit_2(tmp_path, capsys):
    assert compare.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is this a study directory" in err[0]


# ---------------------------------------------------------------- small units


def test_levels_bin_continuous_values_and_keep_few_levels():
    few = tables.levels(pd.Series([40, 70, 40, 90]))
    assert list(few.cat.categories) == ["40", "70", "90"]
    many = tables.levels(pd.Series(np.geomspace(1e-4, 1e-2, 20)))
    assert len(many.cat.categories) == tables.BINS
    assert many.value_counts().tolist() == [5, 5, 5, 5]
    assert tables.levels(pd.Series(["he_normal", "zeros", "he_normal"])).nunique() == 2


def test_markdown_table_escapes_pipes():
    text = tables.to_markdown(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert text.splitlines()[2] == "| x\\|y | 1 |"


def test_binary_roc_curve_and_confusion_figures(tmp_path):
    from PIL import Image

    from analysis import figures

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(0.35 * y + rng.uniform(0, 0.65, 200), 0, 1)
    scores = np.stack([1 - p1, p1], axis=1)
    roc = figures.roc_curve(y, scores, tmp_path / "roc.png")
    cm = tables.confusion(y, scores, ["AD", "MCI"])
    assert cm.numeric[["AD", "MCI"]].to_numpy().sum() == 200
    conf = figures.confusion_matrix(cm.numeric[["AD", "MCI"]].to_numpy(), ["AD", "MCI"],
                                    tmp_path / "cm.png")
    for path in (roc, conf):
        assert path.stat().st_size > MIN_PNG_BYTES
        with Image.open(path) as image:
            assert len(np.unique(np.asarray(image.convert("L")))) > 20
    assert figures.roc_curve(y, np.ones((200, 3)) / 3, tmp_path / "none.png") is None


def test_most_at_once_counts_overlapping_spans_only():
    assert most_at_once([]) == 0
    assert most_at_once([(0, 2), (1, 3), (2.5, 4), (5, 6)]) == 2
    assert most_at_once([(0, 1), (1, 2), (2, 3)]) == 1  # back to back: never two at once
    assert most_at_once([(0, 10), (1, 9), (2, 8), (3, 4)]) == 4


def test_class_report_is_sklearns_classification_report():
    from sklearn.metrics import classification_report

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    scores = rng.random((120, 4))
    scores[:, 2] = 0  # a class never predicted, and class 3 never true: zero division
    table = tables.class_report(y, scores, ["a", "b", "c", "d"]).numeric.set_index("class")
    expected = classification_report(y, scores.argmax(1), labels=np.arange(4),
                                     target_names=["a", "b", "c", "d"], output_dict=True,
                                     zero_division=0)
    assert list(table.index) == ["a", "b", "c", "d", "macro avg", "weighted avg"]
    for name, row in table.iterrows():
        assert row["precision"] == expected[name]["precision"]
        assert row["recall"] == expected[name]["recall"]
        assert row["f1"] == expected[name]["f1-score"]
        assert row["support"] == expected[name]["support"]
    assert table["support"].dtype == np.int64
