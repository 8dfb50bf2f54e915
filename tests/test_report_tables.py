"""The report as a reader sees it, on small studies written here in the real results layout
(no Ray): which columns lead, where intervals appear and stay in range, the figures' axes,
and the search-space overrides of the study file."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import figures, intervals, summary, tables
from analysis.report import space_overrides, write_report
from analysis.results import load
from core.layout import REPEAT_KEY, SPEC_FILE

EPOCHS = 2
SPACE = {"lr": {"low": 1e-05, "high": 0.1, "log": True}, "arch": ["dense"],
         "latent_dim": {"low": 8, "high": 256, "step": 8}}


def write_study(root: Path, trials: list[dict], repeats: int = 1,
                space: dict | None = None) -> Path:
    """A finished ``ae_knn`` study: ``trials`` are (config, final val_acc, test_acc); each
    trial ran EPOCHS epochs. ``space=None`` writes a study.json without the key (older
    studies)."""
    spec = {"method": "ae_knn", "dataset": "digits", "max_epochs": EPOCHS, "repeats": repeats,
            "scheduler": "fifo", "searcher": "optuna", "num_samples": len(trials) // repeats}
    if space is not None:
        spec["space"] = space
    root.mkdir(parents=True)
    (root / SPEC_FILE).write_text(json.dumps(spec))
    for i, t in enumerate(trials):
        d = root / f"train_ae_{i:08x}"
        d.mkdir()
        config = {**t["config"], "max_epochs": EPOCHS, "seed": 0}
        (d / "params.json").write_text(json.dumps(config))
        rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e,
                 "val_acc": t["val_acc"] - 0.01 * (EPOCHS - e), "time_total_s": float(e),
                 "timestamp": 1_000 + i * 10 + e} for e in range(1, EPOCHS + 1)]
        rows[-1].update(selected_val_acc=t["val_acc"], test_acc=t["test_acc"],
                        selected_val_loss=t.get("val_loss", 0.5),
                        test_f1=t["test_acc"] - 0.01, test_precision=t["test_acc"],
                        test_recall=t["test_acc"], test_auc=min(1.0, t["test_acc"] + 0.03))
        (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


#: dense: 3 trials whose unclipped t-interval of val_acc and test_acc passes 1; conv: 2.
LRS = [1.2e-4, 3.5e-4, 9e-4, 2.2e-3, 6e-3]
PLAIN = [
    {"config": {"arch": "dense", "lr": LRS[0], "batch_size": 64}, "val_acc": 0.99,
     "test_acc": 0.985},
    {"config": {"arch": "dense", "lr": LRS[1], "batch_size": 128}, "val_acc": 0.90,
     "test_acc": 0.88},
    {"config": {"arch": "dense", "lr": LRS[2], "batch_size": 64}, "val_acc": 0.999,
     "test_acc": 0.995},
    {"config": {"arch": "conv", "lr": LRS[3], "batch_size": 128}, "val_acc": 0.60,
     "test_acc": 0.58},
    {"config": {"arch": "conv", "lr": LRS[4], "batch_size": 64}, "val_acc": 0.62,
     "test_acc": 0.61},
]


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    study = write_study(tmp_path_factory.mktemp("plain") / "plain", PLAIN, space=SPACE)
    write_report(study, latent_walk=False)
    return study


def markdown_table(text: str, title: str) -> pd.DataFrame:
    """The Markdown table under the heading ``### title`` of report.md, as strings."""
    lines = text.split(f"### {title}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    cells = [[c.strip() for c in r.strip("|").split(" | ")] for r in rows]
    return pd.DataFrame(cells[2:], columns=cells[0])


# ---------------------------------------------------------------- the interval


def test_no_interval_below_three_values_and_t_interval_from_three():
    assert math.isnan(intervals.mean_ci([0.5, 0.7])[1])
    assert intervals.mean_ci([0.5, 0.7])[::2] == (pytest.approx(0.6), 2)
    x = [0.9, 0.8, 0.95, float("nan")]
    mean, half, n = intervals.mean_ci(x)
    expected = stats.t.ppf(0.975, 2) * np.std(x[:3], ddof=1) / math.sqrt(3)
    assert (mean, half, n) == (pytest.approx(np.mean(x[:3])), pytest.approx(expected), 3)
    assert intervals.mean_ci([]) == (pytest.approx(math.nan, nan_ok=True),
                                     pytest.approx(math.nan, nan_ok=True), 0)


@pytest.mark.parametrize(("metric", "expected"), [
    ("test_acc", (0.7, 1.0)), ("selected_val_acc", (0.7, 1.0)), ("val_acc@5", (0.7, 1.0)),
    ("test_auc", (0.7, 1.0)), ("test_f1", (0.7, 1.0)), ("val_loss", (0.7, 1.3)),
    ("beta", (0.7, 1.3))])
def test_interval_is_clipped_to_the_metrics_range(metric, expected):
    assert intervals.interval(1.0, 0.3, metric) == pytest.approx(expected)
    assert intervals.interval(0.1, 0.3, "val_loss") == pytest.approx((0.0, 0.4))
    assert all(math.isnan(v) for v in intervals.interval(0.9, math.nan, metric))


def test_mean_with_interval_text():
    assert tables.fmt_mean_ci(0.96, 0.1, "test_acc") == "0.9600 [0.8600, 1.0000]"
    assert tables.fmt_mean_ci(0.5903, math.nan, "test_acc") == "0.5903"
    assert tables.fmt_mean_ci(math.nan, math.nan, "test_acc") == "–"


# ---------------------------------------------------------------- tables


def test_trials_tied_on_validation_accuracy_rank_by_their_validation_loss(tmp_path):
    tied = [{"config": {"arch": "dense", "lr": lr, "batch_size": 64}, "val_acc": 0.9,
             "val_loss": loss, "test_acc": test}
            for lr, loss, test in ((LRS[0], 0.4, 0.8), (LRS[1], 0.2, 0.85), (LRS[2], 0.3, 0.9))]
    study = load(write_study(tmp_path / "tied", tied, space=SPACE))
    assert study.best_trial()["lr"] == LRS[1]
    assert study.ranked(by=study.selection_metric)["lr"].tolist() == [LRS[1], LRS[2], LRS[0]]
    board = tables.leaderboard(study)
    assert board.numeric["lr"].tolist() == [LRS[1], LRS[2], LRS[0]]
    assert "(ties: lower selected_val_loss)" in board.note


def test_configurations_tied_on_mean_validation_accuracy_rank_by_their_mean_loss(tmp_path):
    """With repeats, equal means of selected_val_acc go to the lower mean selected_val_loss,
    in the best trial and in the configurations table."""
    trials = [{"config": {"arch": "dense", "lr": lr, "batch_size": 64, REPEAT_KEY: seed},
               "val_acc": acc, "val_loss": loss, "test_acc": test}
              for lr, runs in ((LRS[0], [(0.9, 0.5, 0.80), (0.8, 0.5, 0.81)]),
                               (LRS[1], [(0.8, 0.3, 0.90), (0.9, 0.2, 0.91)]))
              for seed, (acc, loss, test) in enumerate(runs)]
    study = load(write_study(tmp_path / "tied", trials, repeats=2, space=SPACE))
    best = study.best_trial()
    assert (best["lr"], best[REPEAT_KEY]) == (LRS[1], 1)  # then its best seed, by accuracy
    configs = tables.configurations(study).numeric
    assert configs["lr"].tolist() == [LRS[1], LRS[0]]
    assert configs["selected_val_loss mean"].tolist() == pytest.approx([0.25, 0.5])


def test_leaderboard_leads_with_objective_test_metrics_and_searched_params(plain):
    text = (plain / "report" / "report.md").read_text()
    board = markdown_table(text, "Leaderboard (top 5 trials)")
    assert list(board.columns) == ["rank", "trial_id", "selected_val_acc", "test_acc",
                                   "test_recall", "test_auc", "arch", "lr", "batch_size",
                                   "val_acc"]
    assert board["selected_val_acc"].tolist() == ["0.9990", "0.9900", "0.9000", "0.6200",
                                                  "0.6000"]
    csv = pd.read_csv(plain / "report" / "tables" / "leaderboard.csv")
    for col in ("status", "epochs", "test_f1", "test_precision", "compute_s", "val_acc"):
        assert col in csv, col
    # constants once, in the summary, never as columns
    assert "- fixed: max_epochs=2, seed=0" in text
    assert "seed" not in board and "max_epochs" not in board


def test_marginal_table_shows_intervals_from_three_trials_clipped_to_one(plain):
    text = (plain / "report" / "report.md").read_text()
    arch = markdown_table(text, "Effect of arch").set_index("arch")
    assert list(arch.columns) == ["trials", "val_acc best", "val_acc mean [95 % CI]",
                                  "test_acc mean [95 % CI]", "test_recall mean [95 % CI]",
                                  "test_auc mean [95 % CI]"]
    assert arch.loc["conv", "val_acc mean [95 % CI]"] == "0.6100"  # n = 2: the mean alone
    dense = arch.loc["dense", "test_acc mean [95 % CI]"]
    accs = [0.985, 0.88, 0.995]
    half = stats.t.ppf(0.975, 2) * np.std(accs, ddof=1) / math.sqrt(3)
    assert np.mean(accs) + half > 1  # the unclipped interval would leave [0, 1]
    assert dense == f"{np.mean(accs):.4f} [{np.mean(accs) - half:.4f}, 1.0000]"
    csv = pd.read_csv(plain / "report" / "tables" / "marginal_arch.csv").set_index("arch")
    assert math.isnan(csv.loc["conv", "val_acc ci95"])
    assert csv.loc["dense", "test_acc ci95"] == pytest.approx(half)
    for col in ("completed", "test_f1 mean", "test_recall ci95", "val_acc n"):
        assert col in csv, col


def test_summary_and_configurations_table_print_the_same_figures(tmp_path):
    trials = [{"config": {"arch": arch, "lr": lr, "batch_size": 64, REPEAT_KEY: seed},
               "val_acc": v, "test_acc": a}
              for arch, lr, vals in (("dense", 1e-3, [(0.99, 0.98), (0.95, 0.97), (0.999, 0.99)]),
                                     ("conv", 3e-3, [(0.7, 0.6), (0.72, 0.62), (0.71, 0.65)]))
              for seed, (v, a) in enumerate(vals)]
    study_dir = write_study(tmp_path / "rep", trials, repeats=3)
    report = write_report(study_dir, latent_walk=False)
    configs = markdown_table(report.path.read_text(), "Configurations over seeds (top 2)")
    assert list(configs.columns[:5]) == ["rank", "selected_val_acc mean [95 % CI]",
                                         "test_acc mean [95 % CI]",
                                         "test_recall mean [95 % CI]", "test_auc mean [95 % CI]"]
    best = configs.iloc[0]
    assert best["arch"] == "dense" and best["test_acc mean [95 % CI]"].endswith(", 1.0000]")
    lines = summary.lines(load(study_dir))
    assert f"best selected_val_acc: {best['selected_val_acc mean [95 % CI]']}; trials" in (
        "\n".join(lines))
    assert f"its test metrics: acc {best['test_acc mean [95 % CI]']}," in "\n".join(lines)


def test_no_interval_column_header_without_any_interval(tmp_path):
    study_dir = write_study(tmp_path / "two", PLAIN[:2] + PLAIN[3:4])
    text = write_report(study_dir, latent_walk=False).path.read_text()
    arch = markdown_table(text, "Effect of arch")
    assert "val_acc mean" in arch and "[" not in " ".join(arch.columns)


# ---------------------------------------------------------------- the study file's space


def test_report_names_the_overridden_search_space(plain):
    assert load(plain).space == SPACE
    line = ("search space overridden by the study file: lr in [1e-05, 0.1] (log), "
            "arch in {dense}, latent_dim in [8, 256] step 8")
    assert f"- {line}\n" in (plain / "report" / "report.md").read_text()
    assert space_overrides({"init": ["he_normal", "zeros"]}) == "init in {he_normal, zeros}"


def test_studies_without_space_key_have_no_override_line(tmp_path):
    study_dir = write_study(tmp_path / "old", PLAIN)
    assert "space" not in json.loads((study_dir / SPEC_FILE).read_text())
    assert load(study_dir).space == {}
    assert "overridden" not in write_report(study_dir, latent_walk=False).path.read_text()


# ---------------------------------------------------------------- figures


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the next calls save, drawn (so tick labels are laid out)."""
    figs = []

    def keep(fig, path):
        fig.canvas.draw()
        figs.append(fig)
        return path

    monkeypatch.setattr(figures, "_save", keep)
    return figs


def overlapping(labels: list) -> bool:
    boxes = sorted((t.get_window_extent() for t in labels if t.get_text()), key=lambda b: b.x0)
    return any(a.x1 > b.x0 for a, b in itertools.pairwise(boxes))


def test_objective_figure_stays_in_range_with_readable_ticks(plain, drawn, tmp_path):
    figures.objective_vs_params(load(plain), tmp_path / "o.png")
    axes = {ax.get_xlabel(): ax for ax in drawn[0].axes if ax.get_visible()}
    assert set(axes) == {"arch", "batch_size", "lr"}
    for name, ax in axes.items():
        low, high = ax.get_ylim()
        assert 0 <= low < high <= 1, (name, low, high)
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), dtype=float)
            assert ((y >= 0) & (y <= 1)).all(), (name, y)
        for bars in ax.collections:
            for segment in getattr(bars, "get_segments", list)():
                assert ((segment[:, 1] >= 0) & (segment[:, 1] <= 1)).all(), name
        assert not overlapping(ax.get_xticklabels()), name
    lr = axes["lr"]
    assert lr.get_xscale() == "log"
    shown = [t.get_text() for t in lr.get_xticklabels() if t.get_text()]
    assert 3 <= len(shown) <= 6 and shown == ["3e-4", "1e-3", "3e-3"], shown


def test_learning_curve_bands_stay_in_range(tmp_path, drawn):
    trials = [{"config": {"arch": "dense", "lr": 1e-3, "batch_size": 64, REPEAT_KEY: seed},
               "val_acc": v, "test_acc": 0.9} for seed, v in enumerate([0.999, 0.9, 0.99])]
    study = load(write_study(tmp_path / "curves", trials, repeats=3))
    figures.learning_curves(study, tmp_path / "c.png", groups=[list(study.trials["trial_id"])])
    ax_loss, ax_obj = drawn[0].axes[:2]
    assert ax_obj.get_ylim()[1] <= 1 and ax_loss.get_ylim()[0] >= 0
    band = ax_obj.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(1.0) and band.min() > 0


@pytest.mark.parametrize(("value", "scientific", "text"), [
    (1e-4, True, "1e-4"), (0.0015, True, "1.5e-3"), (2.5e-5, True, "2.5e-5"),
    (0.01, True, "1e-2"), (0.0, True, "0"), (0.1, False, "0.1"), (30.0, False, "30")])
def test_tick_labels_are_short(value, scientific, text):
    assert figures._tick(value, scientific) == text


def test_campaign_bars_keep_their_intervals_in_range(tmp_path, drawn):
    numeric = pd.DataFrame({
        "row": ["a", "b"], "metric": ["test_acc", "test_auc"], "report": [0.9, 0.8],
        "faithful mean": [0.97, 0.7], f"faithful {tables.CI}": [0.08, math.nan],
        "searched mean": [0.95, 0.75], f"searched {tables.CI}": [0.01, 0.05],
        "anchor": [math.nan, 0.85]})
    figures.comparison_bars(numeric, tmp_path / "c.png", "t")
    ax = drawn[0].axes[0]
    tops = [seg[:, 1].max() for bars in ax.collections for seg in bars.get_segments()]
    # 0.97 + 0.08 clipped to 1; 0.7 has no interval (a bar of length 0)
    assert sorted(tops) == pytest.approx([0.7, 0.8, 0.96, 1.0])
    assert ax.get_ylim()[1] == 1.0


def test_best_trial_line_leaves_out_parameters_the_configuration_did_not_sample(tmp_path):
    trials = [{"config": {"lr": 1e-3, "weight_decay": 1e-4}, "val_acc": 0.8, "test_acc": 0.8},
              {"config": {"lr": 3e-3, "weight_decay": 1e-3}, "val_acc": 0.7, "test_acc": 0.7},
              {"config": {"lr": 2e-3}, "val_acc": 0.9, "test_acc": 0.9}]
    lines = summary.lines(load(write_study(tmp_path / "conditional", trials)))
    (best,) = [line for line in lines if line.startswith("best trial:")]
    assert best.endswith("): lr=0.002")  # not weight_decay=nan


def test_a_rerun_of_one_fixed_configuration_over_seeds_gets_its_report(tmp_path):
    trials = [{"config": {"arch": "dense", "lr": 1e-3, REPEAT_KEY: seed}, "val_acc": v,
               "test_acc": a} for seed, (v, a) in enumerate([(0.9, 0.8), (0.8, 0.7),
                                                             (0.85, 0.75)])]
    study_dir = write_study(tmp_path / "rerun", trials, repeats=3)
    report = write_report(study_dir, latent_walk=False)
    configs = markdown_table(report.path.read_text(), "Configurations over seeds (top 1)")
    assert configs.iloc[0]["test_acc mean [95 % CI]"].startswith("0.7500 [")
    numeric = tables.configurations(load(study_dir)).numeric
    assert (len(numeric), numeric.iloc[0]["seeds"], numeric.iloc[0]["completed"]) == (1, 3, 3)
