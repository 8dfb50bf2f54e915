"""PNG figures of a study (matplotlib ``Figure`` objects on the Agg canvas, no pyplot state).

With ``--repeats`` the learning curves and the objective-vs-hyperparameter plots show the
mean and 95 % CI over each configuration's seeds (:mod:`analysis.intervals`: none below three
seeds). A metric's axis never leaves its range (accuracies and AUCs in [0, 1], losses >= 0),
and neither does an interval drawn on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.intervals import interval, mean_ci, value_range
from analysis.results import Study, config_key
from analysis.tables import CI, MAX_LEVELS, fmt_value, levels

DPI = 110
STATUS_COLOURS = {"completed": "tab:blue", "stopped": "tab:orange", "failed": "tab:red",
                  "incomplete": "tab:gray"}
#: Ratio of largest to smallest value from which a positive hyperparameter gets a log axis.
LOG_RATIO = 10
#: Categorical tick labels longer than this (or more than 3 of them) are slanted.
SHORT_LABEL = 7


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _label(study: Study, trial_id: str) -> str:
    row = study.trials.set_index("trial_id").loc[trial_id]
    shown = [p for p in study.params if p in ("arch", "latent_dim", "n_neighbors")][:3]
    extra = ", ".join(f"{p}={fmt_value(row[p])}" for p in shown)
    return f"{trial_id} ({extra})" if extra else trial_id


def _clip_y(ax: Any, metric: str) -> None:
    """Keep ``ax``'s y-axis inside the range of ``metric``."""
    low, high = value_range(metric) or (-math.inf, math.inf)
    bottom, top = ax.get_ylim()
    ax.set_ylim(max(bottom, low), min(top, high))


def _yerr(means: Sequence[float], halves: Sequence[float], metrics: Sequence[str]
          ) -> np.ndarray:
    """Error-bar lengths (2 × n: below, above) of each mean's clipped interval; 0 for none."""
    out = np.zeros((2, len(means)))
    for i, (mean, half, metric) in enumerate(zip(means, halves, metrics)):
        low, high = interval(mean, half, metric)
        if np.isfinite(low):
            out[:, i] = mean - low, high - mean
    return out


def learning_curves(study: Study, path: Path, trial_ids: Sequence[str] | None = None,
                    groups: Sequence[Sequence[str]] | None = None) -> Path | None:
    """Train / validation loss and the objective per epoch of the top trials, or, given
    ``groups`` (the seeds of each top configuration), their mean and 95 % CI over seeds."""
    ep = study.epochs
    if ep.empty:
        return None
    series = groups if groups else [[t] for t in (trial_ids or [])]
    if not series:
        return None
    fig = _figure(11, 4.2)
    ax_loss, ax_obj = fig.subplots(1, 2)
    colours = [f"C{i % 10}" for i in range(len(series))]
    for ids, colour in zip(series, colours):
        label = _label(study, ids[0]) if len(ids) == 1 else (
            f"{_label(study, ids[0]).split(' ', 1)[-1]} × {len(ids)} seeds")
        for ax, col, style in ((ax_loss, "train_loss", "-"), (ax_loss, "val_loss", "--"),
                               (ax_obj, study.metric, "-")):
            if col not in ep:
                continue
            x, mean, low, high = _mean_band(ep[ep["trial_id"].isin(ids)], col)
            if not len(x):
                continue
            ax.plot(x, mean, style, color=colour, marker="." if len(x) < 30 else None,
                    label=label if (col != "val_loss") else None)
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=colour, alpha=0.2)
    ax_loss.set(title="loss (solid: train, dashed: validation)", xlabel="epoch", ylabel="loss")
    ax_obj.set(title=f"{study.metric} per epoch", xlabel="epoch", ylabel=study.metric)
    if any(len(s) > 1 for s in series):
        ax_obj.set_title(f"{study.metric} per epoch (mean and 95 % CI over seeds)")
    ax_obj.legend(fontsize=7, loc="best")
    from matplotlib.ticker import MaxNLocator

    for ax, metric in ((ax_loss, "loss"), (ax_obj, study.metric)):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _clip_y(ax, metric)
    return _save(fig, path)


def _mean_band(frame: pd.DataFrame, col: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean of ``col`` over the trials, and its clipped interval (NaN where none)."""
    rows = []
    for epoch, g in frame.groupby("epoch", sort=True):
        mean, half, n = mean_ci(g[col].astype(float))
        if n:
            rows.append((epoch, mean, *interval(mean, half, col)))
    if not rows:
        return np.array([]), np.array([]), np.array([]), np.array([])
    x, m, low, high = (np.asarray(v, dtype=float) for v in zip(*rows))
    return x, m, low, high


def _param_axis(ax: Any, values: pd.Series) -> tuple[np.ndarray, bool]:
    """Place a hyperparameter's values on ``ax``'s x-axis: numbers on a numeric axis (log
    when they span a factor of :data:`LOG_RATIO`), anything else as categories. Returns the
    x positions and whether the axis is numeric."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    present = values.dropna()
    numeric = (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
               and (present.nunique() > MAX_LEVELS
                    or not (present.astype(float) % 1 == 0).all()))
    if not numeric:
        lv = levels(values)
        cats = list(lv.cat.categories)
        slant = len(cats) > 3 or max(len(c) for c in cats) > SHORT_LABEL
        ax.set_xticks(range(len(cats)), cats, rotation=30 if slant else 0,
                      ha="right" if slant else "center", fontsize=8)
        ax.set_xlim(-0.5, len(cats) - 0.5)
        return lv.cat.codes.to_numpy().astype(float), False
    x = values.astype(float).to_numpy()
    lo, hi = np.nanmin(x), np.nanmax(x)
    log = lo > 0 and hi / lo >= LOG_RATIO
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
    size = max(abs(lo), abs(hi))
    scientific = (0 < (lo if log else size) < 1e-2) or size >= 1e4
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v, scientific)))
    ax.tick_params(axis="x", labelsize=8)
    return x, True


def _log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Ticks of a log axis over [lo, hi]: the decades, else 1-3-10 or 1-2-5 steps, whichever
    first gives three; at most ``most`` of them."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for steps in ((1,), (1, 3), (1, 2, 5)):
        ticks = [m * 10.0 ** e for e in decades for m in steps if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 3:
            break
    return ticks[::math.ceil(len(ticks) / most)] if ticks else ticks


def _tick(value: float, scientific: bool) -> str:
    """A tick label: ``1e-4`` / ``2.5e-5`` on an axis of tiny or huge values, else 3
    significant digits."""
    if scientific and value != 0:
        exponent = math.floor(math.log10(abs(value)))
        return f"{value / 10.0 ** exponent:.2g}e{exponent}"
    return f"{value:.3g}"


def objective_vs_params(study: Study, path: Path) -> Path | None:
    """Final objective against each searched hyperparameter (one panel each); with repeats,
    one point per configuration with its mean and 95 % CI over seeds."""
    m = study.metric
    t = study.trials[study.trials[m].notna()] if m in study.trials else None
    params = [p for p in study.params if t is not None and t[p].nunique() > 1]
    if t is None or t.empty or not params:
        return None
    ncols = min(4, len(params))
    nrows = int(np.ceil(len(params) / ncols))
    fig = _figure(3.2 * ncols, 2.9 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    rng = np.random.default_rng(0)
    key = config_key(study)
    for ax, p in zip(axes, params):
        x, numeric = _param_axis(ax, t[p])
        if study.repeats > 1 and key:
            frame = t.assign(_x=x)
            for _, g in frame.groupby(key, dropna=False, sort=False):
                mean, half, _n = mean_ci(g[m].astype(float))
                ax.errorbar(g["_x"].iloc[0], mean, yerr=_yerr([mean], [half], [m]), fmt="o",
                            ms=4, capsize=3, color="tab:blue")
        else:
            jitter = 0 if numeric else rng.uniform(-0.12, 0.12, len(x))
            ax.scatter(x + jitter, t[m], s=16, alpha=0.8,
                       c=[STATUS_COLOURS.get(s, "k") for s in t["status"]])
            if not numeric:
                for code in np.unique(x):
                    mean, half, _n = mean_ci(t[m][x == code].astype(float))
                    ax.errorbar(code + 0.3, mean, yerr=_yerr([mean], [half], [m]), fmt="_",
                                ms=10, capsize=3, color="k")
        ax.set(xlabel=p, ylabel=m)
        ax.grid(alpha=0.3)
        _clip_y(ax, m)
    for ax in axes[len(params):]:
        ax.set_visible(False)
    title = (f"final {m} vs hyperparameters"
             + (" (mean and 95 % CI over seeds)" if study.repeats > 1 else
                " (blue: completed, orange: stopped early; black: mean and 95 % CI)"))
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def importances(frame: pd.DataFrame, path: Path) -> Path:
    """Horizontal bars of fANOVA importances."""
    fig = _figure(5.5, 0.4 * len(frame) + 1.2)
    ax = fig.subplots()
    ax.barh(frame["hyperparameter"][::-1], frame["importance"][::-1], color="tab:green")
    ax.set(xlabel="fANOVA importance", title="hyperparameter importance")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def comparison_bars(numeric: pd.DataFrame, path: Path, title: str) -> Path:
    """One group of bars per row of a campaign's comparison: the report's figure, the
    faithful and searched means with their 95 % CIs (clipped to the row's metric's range),
    and the anchor as a marker."""
    fig = _figure(max(5.0, 1.1 * len(numeric) + 2.0), 4.2)
    ax = fig.subplots()
    x = np.arange(len(numeric))
    width = 0.27
    ax.bar(x - width, numeric["report"], width, label="report", color="tab:gray")
    lows = []
    for offset, name, colour in ((0.0, "faithful", "tab:blue"),
                                 (width, "searched", "tab:green")):
        means = numeric[f"{name} mean"]
        yerr = _yerr(means, numeric[f"{name} {CI}"], numeric["metric"])
        ax.bar(x + offset, means, width, yerr=yerr, capsize=3, label=name, color=colour)
        lows.append(means - yerr[0])
    if numeric["anchor"].notna().any():
        ax.plot(x, numeric["anchor"], "k_", markersize=22, markeredgewidth=2,
                label="published anchor")
    ax.set_xticks(x, numeric["row"], rotation=30, ha="right", fontsize=8)
    shown = pd.concat([numeric["report"], numeric["anchor"], *lows])
    low = shown[np.isfinite(shown)].min() if np.isfinite(shown).any() else 0.0
    ax.set_ylim(max(0.0, low - 0.05), 1.0)  # the differences, not the bars' common base
    ax.set(ylabel="test figure", title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """Heatmap of a confusion matrix with the counts written in the cells."""
    n = len(classes)
    fig = _figure(1.0 + 0.55 * max(n, 4), 0.8 + 0.5 * max(n, 4))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = range(n)
    long = max((len(str(c)) for c in classes), default=0) > 3
    ax.set_xticks(ticks, [str(c) for c in classes], rotation=45 if long and n > 2 else 0,
                  ha="right" if long and n > 2 else "center")
    ax.set_yticks(ticks, [str(c) for c in classes])
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (test split)")
    top = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > top / 2 else "black")
    return _save(fig, path)


def roc_curve(y_true: np.ndarray, scores: np.ndarray, path: Path) -> Path | None:
    """ROC curve of the positive class (binary tasks only)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as sk_roc

    if scores.shape[1] != 2 or len(np.unique(y_true)) < 2:
        return None
    fpr, tpr, _ = sk_roc(y_true, scores[:, 1])
    auc = roc_auc_score(y_true, scores[:, 1])
    fig = _figure(4.5, 4.2)
    ax = fig.subplots()
    ax.plot(fpr, tpr, color="tab:blue", label=f"AUC {auc:.4f}")
    ax.plot([0, 1], [0, 1], ":", color="gray")
    ax.set(xlabel="false positive rate", ylabel="true positive rate",
           title="ROC (test split)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def k_grid_heatmap(numeric: pd.DataFrame, metric: str, path: Path) -> Path | None:
    """Mean ``{metric}@k`` per (latent_dim level, k) cell, values written in the cells."""
    if numeric.empty:
        return None
    rows = [c for c in numeric.columns
            if c not in ("k", "trials") and not str(c).startswith(metric)]
    keys = list(dict.fromkeys(numeric[rows].itertuples(index=False, name=None)))
    ks = sorted(numeric["k"].unique())
    grid = np.full((len(keys), len(ks)), np.nan)
    for rec in numeric.to_dict("records"):
        grid[keys.index(tuple(rec[c] for c in rows)), ks.index(rec["k"])] = rec[f"{metric} mean"]
    fig = _figure(1.5 + 0.7 * len(ks), 1.2 + 0.45 * len(keys))
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=f"mean {metric}@k")
    ax.set_xticks(range(len(ks)), [str(k) for k in ks])
    ax.set_yticks(range(len(keys)), [" / ".join(map(str, k)) for k in keys], fontsize=8)
    ax.set(xlabel="k (neighbours)", ylabel=" / ".join(rows),
           title=f"{' / '.join(rows)} × k: mean {metric}@k")
    finite = grid[np.isfinite(grid)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(keys)):
        for j in range(len(ks)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=7,
                        color="black" if grid[i, j] > mid else "white")
    return _save(fig, path)


def image_grid(images: np.ndarray, path: Path, title: str, xlabel: str = "",
               ylabel: str = "") -> Path:
    """A rows × cols grid of images (values in [0, 1], shape R×C×channels×H×W), 1-pixel white
    lines between them."""
    import torch
    from torchvision.utils import make_grid

    rows, cols = images.shape[:2]
    tiles = torch.as_tensor(images).flatten(0, 1)
    canvas = make_grid(tiles, nrow=cols, padding=1, pad_value=1.0).clamp(0, 1)
    fig = _figure(min(10, 0.9 + 0.6 * cols), min(10, 1.0 + 0.6 * rows))
    ax = fig.subplots()
    ax.imshow(canvas.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.title.set_fontsize(9)
    return _save(fig, path)
