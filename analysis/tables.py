"""Tables of a study: leaderboard, configurations over seeds, marginal effects, grids, classes.

Every table is a :class:`Table`: a numeric frame (what CSV files get: every column, values
exactly as the trials reported them) and a display frame (what Markdown and LaTeX get: the
columns a reader compares first, means with their interval from :mod:`analysis.intervals`
as ``mean [low, high]``). A "level" of a hyperparameter is one of its values when it has at
most :data:`MAX_LEVELS` of them, else a quantile bin labelled by the smallest and largest
value seen in it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.intervals import interval, mean_ci, value_range
from analysis.results import TEST_METRICS, Study, config_key
from core.errors import StudyError
from core.storage import unwritable

MAX_LEVELS = 6
BINS = 4
FORMATS = ("md", "csv", "tex")
CI = "ci95"
#: Test metrics the Markdown tables show (the CSV files have all of them): accuracy, macro
#: recall (balanced accuracy, what an imbalanced set such as BreastMNIST needs) and AUC.
SHOWN_TESTS = ("test_acc", "test_recall", "test_auc")
#: Level of a conditional hyperparameter in trials that did not sample it.
UNSET = "(unset)"


@dataclass
class Table:
    """A named table: numeric values, their display form, and a one-line note."""

    name: str
    title: str
    numeric: pd.DataFrame
    display: pd.DataFrame
    note: str = ""
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------- statistics


def summarise(frame: pd.DataFrame, column: str, *, best: bool = False, maximize: bool = True,
              prefix: str | None = None) -> dict[str, float]:
    """``{col best, col mean, col ci95, col n}`` of one column of ``frame``."""
    prefix = prefix or column
    values = frame[column].to_numpy(dtype=float) if column in frame else np.array([])
    mean, half, n = mean_ci(values)
    out: dict[str, float] = {}
    if best:
        finite = values[np.isfinite(values)]
        out[f"{prefix} best"] = (float(finite.max() if maximize else finite.min())
                                 if len(finite) else math.nan)
    out.update({f"{prefix} mean": mean, f"{prefix} {CI}": half, f"{prefix} n": n})
    return out


# ---------------------------------------------------------------- levels


def levels(values: pd.Series) -> pd.Series:
    """Each value's level: itself (few distinct values, strings, bools) or its quantile bin;
    :data:`UNSET` where a conditional hyperparameter was not sampled.

    Returned as an ordered categorical, in the values' natural order.
    """
    present = values.dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric or present.nunique() <= MAX_LEVELS:
        order = sorted(present.unique(), key=_sort_key)
        labels = values.map(lambda v: None if pd.isna(v) else fmt_value(v))
        cats = _unique([fmt_value(v) for v in order])
    else:
        bins = pd.qcut(values.astype(float), q=min(BINS, present.nunique()), duplicates="drop")
        names: dict[object, str] = {}
        for interval, group in values.groupby(bins, observed=True):
            lo, hi = group.min(), group.max()
            names[interval] = fmt_value(lo) if lo == hi else f"{fmt_value(lo)}–{fmt_value(hi)}"
        labels = pd.Series([None if pd.isna(b) else names.get(b) for b in bins],
                           index=values.index, dtype=object)
        cats = [names[c] for c in bins.cat.categories if c in names]
    if labels.isna().any():
        labels = labels.where(labels.notna(), UNSET)
        cats = [*cats, UNSET]
    return pd.Series(pd.Categorical(labels, categories=cats, ordered=True), index=values.index)


# ---------------------------------------------------------------- tables


def leaderboard(study: Study, top: int = 10) -> Table:
    """Top trials, ranked as the selection ranks them: completed trials by
    :attr:`~analysis.results.Study.selection_metric`, then the others by their last
    objective."""
    sel, m = study.selection_metric, study.metric
    t = study.trials[study.trials[m].notna()] if m in study.trials else study.trials.iloc[:0]
    done = t["status"] == "completed"
    t = t.assign(_done=done, _by=t[sel].where(done, t[m]))
    keys, ascending = study.sort_keys(sel)
    t = t.sort_values(["_done", "_by", *keys[1:]], ascending=[False, *ascending],
                      kind="stable").head(top)
    tests = [x for x in TEST_METRICS if x in t]
    ids = ["trial_id", *(["repeat"] if "repeat" in t else [])]
    objective = _unique([sel, m])
    numeric = t[[*ids, "status", "epochs", *study.params, *objective, *tests,
                 "compute_s"]].reset_index(drop=True)
    numeric.insert(0, "rank", range(1, len(numeric) + 1))
    shown = ["rank", *ids, sel, *[x for x in SHOWN_TESTS if x in tests], *study.params,
             *(["status"] if (numeric["status"] != "completed").any() else []),
             *objective[1:]]
    ties = f" (ties: lower {keys[1]})" if len(keys) > 1 else ""
    note = (f"Ranked by {sel}{ties} among the trials that ran all {study.max_epochs} epochs, "
            f"then the others by their last {m}; only completed trials have test metrics.")
    return Table("leaderboard", f"Leaderboard (top {len(numeric)} trials)", numeric,
                 display_frame(numeric[shown], study.params), note)


def configurations(study: Study, top: int = 10) -> Table:
    """Configurations over seeds (``--repeats``): mean and interval of the objective and the
    test metrics over the completed seeds, best mean of the selection metric first (tied
    means: the lower mean tie-break, ``Study.sort_keys``)."""
    key = config_key(study)
    sel = study.selection_metric
    order, ascending = study.sort_keys(sel)
    objective = _unique([*order, study.metric])
    done = study.completed()
    tests = _test_metrics(study)
    rows = []
    # every parameter fixed (a rerun of one configuration over seeds): one group of all
    groups = study.trials.groupby(key, dropna=False, sort=False) if key else [
        ((), study.trials)]
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        g_done = done.loc[done.index.intersection(group.index)]
        row = dict(zip(key, values))
        row["seeds"] = len(group)
        row["completed"] = len(g_done)
        for m in [*objective, *tests]:
            row.update(summarise(g_done, m))
        row["trials"] = " ".join(group["trial_id"])
        rows.append(row)
    numeric = pd.DataFrame(rows)
    numeric = numeric.sort_values([f"{m} mean" for m in order], ascending=ascending,
                                  na_position="last", kind="stable").head(top)
    numeric = numeric.reset_index(drop=True)
    numeric.insert(0, "rank", range(1, len(numeric) + 1))
    shown = ["rank", *_mean_ci([sel, *[m for m in SHOWN_TESTS if m in tests]]), *key,
             *_counts(numeric, "seeds")]
    note = (f"Each configuration ran with {study.repeats} seeds; means over the seeds that "
            "completed all epochs.")
    return Table("configurations", f"Configurations over seeds (top {len(numeric)})", numeric,
                 display_frame(numeric[shown], study.params), note)


def marginal(study: Study, param: str) -> Table:
    """Effect of one hyperparameter: per level, best and mean of the final objective over all
    trials, and mean of the test metrics over the completed trials (with intervals)."""
    m = study.metric
    t = study.trials[study.trials[m].notna()].copy()
    t["_level"] = levels(t[param])
    done_ids = set(study.completed()["trial_id"])
    tests = _test_metrics(study)
    rows = []
    for level, group in t.groupby("_level", observed=True, sort=True):
        done = group[group["trial_id"].isin(done_ids)]
        row: dict[str, object] = {param: level, "trials": len(group), "completed": len(done)}
        row.update(summarise(group, m, best=True, maximize=study.maximize))
        for test in tests:
            row.update(summarise(done, test))
        rows.append(row)
    numeric = pd.DataFrame(rows)
    shown = [param, *_counts(numeric, "trials"), f"{m} best",
             *_mean_ci([m, *[x for x in SHOWN_TESTS if x in tests]])]
    note = (f"{m}: last reported value of every trial (ASHA-stopped ones at their stopping "
            "epoch); test metrics: completed trials only.")
    return Table(f"marginal_{_slug(param)}", f"Effect of {param}", numeric,
                 display_frame(numeric[shown], study.params), note)


def k_grid(study: Study, row: str = "latent_dim") -> Table | None:
    """Report 004's ``latent_dim × n_neighbors`` grid from the ``{metric}@k`` columns.

    Every trial contributes its last reported ``{metric}@k`` to the cell (its latent_dim
    level, k); cells give the best and the mean over those trials (intervals in the CSV). With
    a searched ``arch`` the rows are (arch, latent_dim).
    """
    prefix = f"{study.metric}@"
    kcols = sorted((c for c in study.trials.columns if c.startswith(prefix)),
                   key=lambda c: int(c[len(prefix):]) if c[len(prefix):].isdigit() else 0)
    if not kcols or row not in study.trials:
        return None
    t = study.trials[study.trials[kcols].notna().any(axis=1)].copy()
    if t.empty:
        return None
    rows = [r for r in ("arch",) if r in study.params and r != row] + [row]
    for r in rows:
        t[f"_{r}"] = levels(t[r])
    records = []
    for values, group in t.groupby([f"_{r}" for r in rows], observed=True, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        for col in kcols:
            rec: dict[str, object] = dict(zip(rows, values))
            rec["trials"] = len(group)
            rec["k"] = int(col[len(prefix):])
            rec.update(summarise(group, col, best=True, maximize=study.maximize,
                                 prefix=study.metric))
            records.append(rec)
    numeric = pd.DataFrame(records)
    numeric["cell"] = _cells(numeric, study.metric, counts=False)
    display = _pivot(numeric, [*rows, "trials"], "k", "k=")
    note = (f"Cell: best / mean of {prefix}k over the row's trials, the validation accuracy of "
            "a k-NN with k neighbours on the same latent codes, from each trial's last epoch.")
    return Table(f"grid_{_slug(row)}_k", f"{row} × k ({prefix}k)",
                 numeric.drop(columns="cell"), display, note)


def pair_grid(study: Study, a: str, b: str) -> Table | None:
    """Two-way grid of the final objective over the levels of two hyperparameters."""
    t = study.trials[study.trials[study.metric].notna()].copy()
    if t.empty:
        return None
    t["_a"], t["_b"] = levels(t[a]), levels(t[b])
    records = []
    for (la, lb), group in t.groupby(["_a", "_b"], observed=True, sort=True):
        rec: dict[str, object] = {a: la, b: lb}
        rec.update(summarise(group, study.metric, best=True, maximize=study.maximize))
        records.append(rec)
    numeric = pd.DataFrame(records)
    numeric["cell"] = _cells(numeric, study.metric)
    display = _pivot(numeric, [a], b, f"{b}=", list(t["_b"].cat.categories))
    note = f"Cell: best / mean (n trials) of the final {study.metric}."
    return Table(f"grid_{_slug(a)}_{_slug(b)}", f"{a} × {b}", numeric.drop(columns="cell"),
                 display, note)


def class_report(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str]) -> Table:
    """Per-class precision / recall / F1 / support of the argmax predictions, then their macro
    and weighted averages (scikit-learn's ``classification_report``)."""
    from sklearn.metrics import classification_report

    y_pred = np.asarray(scores).argmax(axis=1)
    names = [str(c) for c in classes]
    report = classification_report(y_true, y_pred, labels=np.arange(len(names)),
                                   target_names=names, output_dict=True, zero_division=0)
    rows = [*names, "macro avg", "weighted avg"]
    frame = pd.DataFrame([report[r] for r in rows]).rename(columns={"f1-score": "f1"})
    frame.insert(0, "class", rows)
    frame["support"] = frame["support"].astype(int)
    acc = float((y_pred == np.asarray(y_true)).mean()) if len(y_true) else math.nan
    return Table("classes", "Per-class report (test split)", frame, display_frame(frame),
                 f"Accuracy {acc:.4f} on {len(y_true)} test images.")


def confusion(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str]) -> Table:
    """Confusion matrix (rows: true class, columns: predicted class)."""
    from sklearn.metrics import confusion_matrix

    y_pred = np.asarray(scores).argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(len(classes)))
    names = [str(c) for c in classes]
    frame = pd.DataFrame(cm, index=pd.Index(names, name="true \\ predicted"), columns=names)
    numeric = frame.reset_index()
    return Table("confusion", "Confusion matrix (test split)", numeric, numeric.astype(str),
                 "Rows: true class; columns: predicted class.")


# ---------------------------------------------------------------- formatting and writing


def fmt_value(v: object) -> str:
    """A config value or level as text: 3 significant digits for floats."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e6 else f"{v:.3g}"
    return str(v)


def fmt_number(v: object, digits: int = 4) -> str:
    """A metric as text: ``digits`` decimals for floats (3 significant digits when tiny or
    huge), ``–`` for a missing or infinite value."""
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.3g}"
    return fmt_value(v)


def fmt_mean_ci(mean: float, half: float, metric: str) -> str:
    """``mean [low, high]``: the interval clipped to ``metric``'s range; the mean alone where
    there is no interval, ``–`` without a mean."""
    if not np.isfinite(mean):
        return "–"
    low, high = interval(mean, half, metric)
    if not np.isfinite(low):
        return fmt_number(mean)
    return f"{fmt_number(mean)} [{fmt_number(low)}, {fmt_number(high)}]"


def display_frame(numeric: pd.DataFrame, params: Sequence[str] = ()) -> pd.DataFrame:
    """Strings for Markdown / LaTeX: ``X mean`` + ``X ci95`` become one ``X mean [95 % CI]``
    column (``X mean`` where no row has an interval), clipped to the range of metric X, or,
    where X names no metric, of the row's ``metric``; hyperparameter columns (``params``) get
    3 significant digits, metrics 4 decimals."""
    out: dict[str, list[str]] = {}
    cols = list(numeric.columns)
    rows = (numeric["metric"].astype(str) if "metric" in numeric
            else pd.Series("", index=numeric.index))
    for col in cols:
        if isinstance(col, str) and col.endswith(f" {CI}") and col[:-len(CI)] + "mean" in cols:
            continue
        if isinstance(col, str) and col.endswith(" mean") and f"{col[:-5]} {CI}" in cols:
            name, half = col[:-5], numeric[f"{col[:-5]} {CI}"]
            header = f"{name} mean [95 % CI]" if half.notna().any() else f"{name} mean"
            out[header] = [fmt_mean_ci(m, h, name if value_range(name) else row)
                           for m, h, row in zip(numeric[col], half, rows)]
        elif col in ("trials", "seeds", "completed", "epochs", "rank", "support"):
            out[str(col)] = [fmt_number(v) for v in numeric[col]]
        elif col == "compute_s":
            out["compute s"] = [f"{v:.1f}" if np.isfinite(v) else "–" for v in numeric[col]]
        else:
            fmt = fmt_value if col in params else fmt_number
            out[str(col)] = [fmt(v) for v in numeric[col]]
    return pd.DataFrame(out)


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (no tabulate needed)."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in frame.columns]
    rows = [[cell(v) for v in r] for r in frame.itertuples(index=False)]
    numeric_col = [all(_looks_numeric(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if num else "---" for num in numeric_col) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def to_latex(frame: pd.DataFrame) -> str:
    text = frame.to_latex(index=False, escape=True)
    return text.replace("±", r"$\pm$").replace("–", "--").replace("×", r"$\times$")


def write(table: Table, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Write ``NAME.csv`` (numeric), ``NAME.md`` / ``NAME.tex`` (display) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{table.name}.{fmt}"
        if fmt == "csv":
            table.numeric.to_csv(path, index=False)
        elif fmt == "md":
            path.write_text(f"{table.title}\n\n{to_markdown(table.display)}\n")
        elif fmt == "tex":
            path.write_text(to_latex(table.display))
        paths.append(path)
    table.files = paths
    return paths


def check_out_dir(out: str | Path | None) -> None:
    """StudyError unless ``--out`` is absent or can be a directory of output files."""
    problem = None if out is None else unwritable(str(out))
    if problem:
        raise StudyError(f"--out {out}: {problem}")


def parse_formats(text: str) -> list[str]:
    """``md,csv,tex`` -> list, checked (StudyError on an unknown format)."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise StudyError(f"--format {text!r}: choose from {','.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def _test_metrics(study: Study) -> list[str]:
    return [m for m in TEST_METRICS if m in study.trials and study.trials[m].notna().any()]


def _pivot(numeric: pd.DataFrame, index: list[str], column: str, prefix: str,
           order: Sequence[object] | None = None) -> pd.DataFrame:
    """``cell`` values as rows × columns, in the order the levels appear in ``numeric``."""
    wide = numeric.pivot(index=index, columns=column, values="cell")
    rows = list(dict.fromkeys(map(tuple, numeric[index].itertuples(index=False))))
    present = set(numeric[column])
    cols = [c for c in (order or dict.fromkeys(numeric[column])) if c in present]
    wide = wide.reindex(index=pd.MultiIndex.from_tuples(rows, names=index) if len(index) > 1
                        else pd.Index([r[0] for r in rows], name=index[0]), columns=cols)
    wide.columns = [f"{prefix}{c}" for c in wide.columns]
    return wide.reset_index().fillna("–")


def _cells(numeric: pd.DataFrame, metric: str, counts: bool = True) -> list[str]:
    """A grid's cells: ``best / mean`` of ``metric`` (`` (n)`` trials with ``counts``), ``–``
    where no trial fell."""
    return [f"{fmt_number(best)} / {fmt_number(mean)}" + (f" ({int(n)})" if counts else "")
            if n else "–"
            for best, mean, n in zip(numeric[f"{metric} best"], numeric[f"{metric} mean"],
                                     numeric[f"{metric} n"])]


def _mean_ci(metrics: Sequence[str]) -> list[str]:
    """The ``X mean`` and ``X ci95`` columns of each metric (one display column each)."""
    return [col for m in metrics for col in (f"{m} mean", f"{m} {CI}")]


def _counts(numeric: pd.DataFrame, total: str) -> list[str]:
    """``total`` (trials or seeds), and ``completed`` where some did not complete."""
    return [total, *(["completed"] if (numeric["completed"] != numeric[total]).any() else [])]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _sort_key(v: object) -> tuple[int, object]:
    if isinstance(v, (bool, np.bool_)):
        return (0, int(v))
    if isinstance(v, (int, float, np.number)):
        return (1, float(v))
    return (2, str(v))


def _looks_numeric(text: str) -> bool:
    head = text.split(" ")[0].replace("–", "")
    try:
        float(head)
    except ValueError:
        return text in ("–", "")
    return True
