"""A study's results directory -> tidy pandas frames (no Ray needed, killed studies welcome).

:func:`load` reads ``study.json`` and every trial directory (``params.json``, ``result.json``
or ``progress.csv``) into a :class:`Study`:

- ``trials``: one row per trial: ``trial_id``, ``status`` (completed / stopped / failed /
  incomplete), ``epochs``, ``compute_s``, ``failures`` (how often it failed, retries
  included) and ``failure`` (the last reason), ``repeat``, the config values under their own
  names and the metrics of the trial's last reported epoch (``val_acc``, ``test_f1``, ...);
- ``epochs``: one row per trial and epoch with every scalar metric;
- ``problems``: one line per unreadable or half-written file (reported, never fatal).

A trial is *completed* when it ran all ``max_epochs`` epochs, *stopped* when it ended on one of
ASHA's rungs (stopped early by the scheduler), *failed* when it diverged (a NaN loss: its last
row says why under ``diverged``) or Ray left an ``error.txt`` and it did not complete, and
*incomplete* otherwise (pending or killed with the study). Tune appends every failure to
``error.txt``, retried ones too; the last line of each is its reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.defaults import ASHA_REDUCTION_FACTOR
from core.errors import StudyError
from core.layout import CHECKPOINT_FILE, DIVERGED, PREDICTIONS_FILE, REPEAT_KEY, SPEC_FILE
from core.names import TIE_BREAK_METRIC

logger = logging.getLogger(__name__)

ERROR_FILE = "error.txt"
_FAILURE = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)$", re.MULTILINE)
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)(: .*)?$")  # module.Name: message
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Config keys every trial carries that are never searched (loop and spec constants).
CONSTANT_KEYS = ("max_epochs", "seed", "val_fraction", "checkpoint_every_s", "select_epoch",
                 "select_metric", "k_max")
#: Per-epoch keys that are bookkeeping, not metrics.
BOOKKEEPING = ("hostname", "node_id", "device", "gpu_ids", "timestamp", "checkpoint_dir_name",
               "done", "trial_id", "date", "pid", "node_ip", "time_since_restore",
               "iterations_since_restore", "training_iteration", "time_this_iter_s",
               "time_total_s", "should_checkpoint", "wall_time")
TEST_METRICS = ("test_acc", "test_precision", "test_recall", "test_f1", "test_auc")
STATUSES = ("completed", "stopped", "failed", "incomplete")


@dataclass
class Study:
    """Everything the analysis knows about one study, read from its directory."""

    path: Path
    spec: dict[str, Any]
    metric: str
    mode: str
    trials: pd.DataFrame
    epochs: pd.DataFrame
    params: list[str]
    constants: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        return str(self.spec.get("method", "?"))

    @property
    def dataset(self) -> str:
        return str(self.spec.get("dataset", "?"))

    @property
    def max_epochs(self) -> int:
        return int(self.spec.get("max_epochs") or self.trials["epochs"].max() or 0)

    @property
    def repeats(self) -> int:
        """Seeds per configuration (1 unless the study ran with ``--repeats``)."""
        return int(self.spec.get("repeats") or 1)

    @property
    def space(self) -> dict[str, Any]:
        """The study file's search-space overrides (``space:``): a parameter's ``{low, high[,
        log][, step]}`` or its list of choices; empty for studies that had none (or predate
        them)."""
        return dict(self.spec.get("space") or {})

    @property
    def maximize(self) -> bool:
        return self.mode == "max"

    @property
    def selection_metric(self) -> str:
        """What selects a configuration among completed trials: the objective of the epoch
        each trial tested (``selected_val_acc``, ``select_epoch``), else the objective."""
        selected = f"selected_{self.metric}"
        if selected in self.trials and self.trials[selected].notna().any():
            return selected
        return self.metric

    @property
    def tie_break(self) -> str:
        """What breaks a tie of :attr:`selection_metric` (lower wins): the tested epoch's
        validation loss (``selected_val_loss``), where trials report it."""
        return f"selected_{TIE_BREAK_METRIC}"

    def sort_keys(self, by: str) -> tuple[list[str], list[bool]]:
        """``sort_values`` columns and directions that rank trials by ``by``, best first:
        :attr:`selection_metric` ties go to the lower :attr:`tie_break`."""
        if by == self.selection_metric and self.tie_break in self.trials:
            return [by, self.tie_break], [not self.maximize, True]
        return [by], [not self.maximize]

    def ranked(self, frame: pd.DataFrame | None = None, by: str | None = None
               ) -> pd.DataFrame:
        """Trials (or ``frame``) with an objective (or ``by``), best first."""
        frame = self.trials if frame is None else frame
        by = by or self.metric
        frame = frame[frame[by].notna()] if by in frame else frame.iloc[:0]
        keys, ascending = self.sort_keys(by)
        return frame.sort_values(keys, ascending=ascending, kind="stable")

    def completed(self) -> pd.DataFrame:
        """Trials that ran all epochs (those with test metrics when any have them)."""
        done = self.trials[self.trials["status"] == "completed"]
        if "test_acc" in done and done["test_acc"].notna().any():
            done = done[done["test_acc"].notna()]
        return done

    def best_trial(self) -> pd.Series | None:
        """Selection on validation: the best :attr:`selection_metric` among completed
        trials; with repeats, the best seed of the configuration with the best mean over its
        completed seeds (tied means go to the lower mean :attr:`tie_break`). None when no
        trial completed."""
        done, by = self.completed(), self.selection_metric
        if self.repeats > 1 and not done.empty:
            key = config_key(self)
            if key:
                keys, ascending = self.sort_keys(by)
                means = done.groupby(key, dropna=False, sort=False)[keys].mean()
                best = means.sort_values(keys, ascending=ascending, kind="stable").index[0]
                done = same_configuration(done, key, best if isinstance(best, tuple) else (best,))
        ranked = self.ranked(done, by)
        return None if ranked.empty else ranked.iloc[0]

    def trial_dir(self, trial_id: str) -> Path:
        row = self.trials.set_index("trial_id").loc[trial_id]
        return self.path / str(row["dir"])

    def predictions(self, trial_id: str) -> dict[str, np.ndarray] | None:
        """``y_true``, ``scores`` and ``classes`` of a completed trial's test split."""
        path = self.trial_dir(trial_id) / PREDICTIONS_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def checkpoint(self, trial_id: str) -> Path | None:
        """The trial's latest ``checkpoint_*/state.pt``, if any."""
        found = sorted(self.trial_dir(trial_id).glob(f"checkpoint_*/{CHECKPOINT_FILE}"))
        return found[-1] if found else None

    def config(self, trial_id: str) -> dict[str, Any]:
        """A trial's full config (searched values and constants)."""
        row = self.trials.set_index("trial_id").loc[trial_id]
        keys = [*self.params, *self.constants, REPEAT_KEY]
        out = {**self.constants}
        out.update({k: plain(row[k]) for k in keys if k in row and not pd.isna(row[k])})
        return out


def load(study_dir: str | Path) -> Study:
    """Read a study's results directory (StudyError when it is not one or holds no trials)."""
    path = Path(study_dir).expanduser()
    if not path.is_dir():
        raise StudyError(f"{path}: no such directory")
    spec = _read_spec(path)
    trial_dirs = sorted(d for d in path.iterdir() if d.is_dir() and _looks_like_trial(d))
    if not spec and not trial_dirs:
        raise StudyError(f"{path}: no {SPEC_FILE} and no trial directories; "
                         "is this a study directory?")
    if not trial_dirs:
        raise StudyError(f"{path}: the study has no trials yet")
    metric, mode, grace, time_attr = _objective(spec)
    problems: list[str] = []
    if not spec:
        problems.append(f"{SPEC_FILE} missing: objective assumed to be {metric} ({mode})")
    records, epoch_frames = [], []
    for d in trial_dirs:
        record, epochs = _read_trial(d, problems)
        records.append(record)
        if not epochs.empty:
            epoch_frames.append(epochs)
    configs = pd.DataFrame([{k: json.dumps(v) if isinstance(v, (list, dict)) else v
                             for k, v in r.pop("config").items()} for r in records],
                           index=range(len(records)))
    trials = pd.DataFrame(records)
    if metric not in trials:
        trials[metric] = np.nan
    max_epochs = int(spec.get("max_epochs") or _max_epochs(configs, trials))
    scheduler = spec.get("scheduler") or ("fifo" if int(spec.get("repeats") or 1) > 1 else "asha")
    rungs = asha_rungs(grace, max_epochs) if scheduler == "asha" else set()
    trials["status"] = [_status(r, max_epochs, rungs, time_attr) for r in records]
    params, constants = _split_config(configs)
    config_cols = [c for c in configs.columns if c not in trials.columns]
    trials = pd.concat([trials, configs[config_cols]], axis=1)
    if REPEAT_KEY in trials:
        trials["repeat"] = trials[REPEAT_KEY]
    epochs = (pd.concat(epoch_frames, ignore_index=True) if epoch_frames
              else pd.DataFrame(columns=["trial_id", "epoch"]))
    for p in problems:
        logger.warning("%s: %s", path.name, p)
    return Study(path=path, spec=spec, metric=metric, mode=mode, trials=trials, epochs=epochs,
                 params=params, constants=constants, problems=problems)


def asha_rungs(grace_period: int, max_epochs: int) -> set[int]:
    """Epochs at which ASHA (as ``study.launch`` configures it) may stop a trial."""
    rungs, r = set(), max(1, min(grace_period, max_epochs))
    while r < max_epochs:
        rungs.add(r)
        r *= ASHA_REDUCTION_FACTOR
    return rungs


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """Most (start, end) intervals running at one instant, e.g. trials sharing a GPU (an
    interval ending at t does not overlap one starting at t)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def config_key(study: Study) -> list[str]:
    """Columns that identify a configuration: the searched values (not seed nor repeat)."""
    return [p for p in study.params if p not in (REPEAT_KEY, "seed")]


def same_configuration(frame: pd.DataFrame, key: Sequence[str], values: Sequence[Any]
                       ) -> pd.DataFrame:
    """Rows of ``frame`` whose ``key`` columns hold ``values`` (NaN matches NaN: a conditional
    hyperparameter that was not sampled)."""
    mask = np.ones(len(frame), dtype=bool)
    for col, value in zip(key, values):
        mask &= (frame[col].isna() if pd.isna(value) else frame[col] == value).to_numpy()
    return frame[mask]


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (for JSON, Optuna and torch constructors)."""
    return value.item() if isinstance(value, np.generic) else value


def _read_spec(path: Path) -> dict[str, Any]:
    file = path / SPEC_FILE
    if not file.is_file():
        return {}
    try:
        spec = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise StudyError(f"{file}: unreadable ({err})") from None
    if not isinstance(spec, dict):
        raise StudyError(f"{file}: not a study spec")
    return spec


def _objective(spec: dict[str, Any]) -> tuple[str, str, int, str]:
    """(objective, mode, ASHA grace period, ASHA time attribute) of the study's method (the
    objective follows the study's fixed ``select_metric``); the registry's defaults if
    unknown."""
    from study import registry

    try:
        method = registry.get(str(spec.get("method")))
    except StudyError:
        method = registry.Method(name="unknown", trainable="", space="", report="", summary="")
    fixed = spec.get("fixed")
    objective = method.objective(fixed if isinstance(fixed, dict) else {})
    return objective, method.mode, method.grace_period, method.time_attr


def _looks_like_trial(d: Path) -> bool:
    return any((d / f).exists() for f in ("params.json", "result.json", "progress.csv"))


def _read_trial(d: Path, problems: list[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """One trial directory -> (record with config, per-epoch frame)."""
    trial_id = d.name.rsplit("_", 1)[-1]
    rows_json, bad_json = _read_result_json(d / "result.json", problems)
    rows_csv, bad_csv = _read_progress_csv(d / "progress.csv", problems)
    rows = rows_json if len(rows_json) >= len(rows_csv) else rows_csv
    if rows is rows_csv and rows_csv and (d / "result.json").exists():
        problems.append(f"{d.name}: result.json has fewer rows than progress.csv; "
                        "using progress.csv")
    noted = len(problems)
    config = _read_params(d / "params.json", problems)
    if not config:
        config = next((r["config"] for r in reversed(rows_json)
                       if isinstance(r.get("config"), dict)), {})
        if config and len(problems) > noted:
            problems[-1] += "; config taken from result.json"
    reasons = _read_failures(d / ERROR_FILE, problems)
    record: dict[str, Any] = {"trial_id": trial_id, "dir": d.name, "config": config,
                              "failures": len(reasons), "failure": reasons[-1] if reasons else None,
                              "rows": len(rows), "bad_lines": bad_json + bad_csv}
    if not rows:
        problems.append(f"{d.name}: no results reported")
        record.update(epochs=0, compute_s=0.0)
        return record, pd.DataFrame()
    epochs = pd.DataFrame([{k: v for k, v in r.items() if _scalar(v)} for r in rows])
    if "epoch" not in epochs:
        epochs["epoch"] = epochs.get("training_iteration", pd.Series(range(1, len(epochs) + 1)))
    epochs = epochs.drop_duplicates("epoch", keep="last").sort_values("epoch", kind="stable")
    epochs = epochs.drop(columns=[c for c in ("trial_id", "config") if c in epochs])
    epochs.insert(0, "trial_id", trial_id)
    last = epochs.iloc[-1]
    record["epochs"] = int(last["epoch"])
    record["compute_s"] = float(_time_total(epochs))
    record["hostname"] = last.get("hostname")
    record["device"] = last.get("device")
    for key, value in last.items():
        if key in ("trial_id", "epoch", *BOOKKEEPING) or key in record:
            continue
        record[key] = _number(value)
    if isinstance(record.get(DIVERGED), str) and not record["failure"]:
        record["failure"] = f"diverged: {record[DIVERGED]}"  # error.txt not written (yet)
    return record, epochs.reset_index(drop=True)


def _read_failures(file: Path, problems: list[str]) -> list[str]:
    """The reason of each failure Tune appended to ``error.txt``: the last line of its
    traceback (exception name without its module, and message)."""
    if not file.is_file():
        return []
    try:
        text = _ANSI.sub("", file.read_text(errors="replace"))
    except OSError as err:
        problems.append(f"{file.parent.name}: {file.name} unreadable ({err})")
        return ["unknown (error.txt unreadable)"]
    blocks = _FAILURE.split(text)[1:] or [text]
    return [_reason(block) for block in blocks]


def _reason(traceback: str) -> str:
    lines = [line for line in traceback.splitlines() if line.strip()]
    for line in reversed(lines):
        found = _EXCEPTION.match(line)
        if found:
            return found.group(1) + (found.group(2) or "")
    return lines[-1].strip() if lines else "unknown"


def _read_result_json(file: Path, problems: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Rows of ``result.json`` (one JSON object a line); unreadable lines are counted."""
    if not file.is_file():
        return [], 0
    rows, bad = [], 0
    try:
        text = file.read_text(errors="replace")
    except OSError as err:
        problems.append(f"{file.parent.name}: result.json unreadable ({err})")
        return [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    if bad:
        problems.append(f"{file.parent.name}: result.json has {bad} unreadable line(s) "
                        "(half-written?)")
    return rows, bad


def _read_progress_csv(file: Path, problems: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Rows of ``progress.csv``; a last line without its newline (half-written) or a row with
    the wrong number of fields is dropped and reported."""
    try:
        text = file.read_text(errors="replace") if file.is_file() else ""
    except OSError as err:
        problems.append(f"{file.parent.name}: progress.csv unreadable ({err})")
        return [], 0
    lines = text.splitlines()
    if len(lines) < 2:
        return [], 0
    header = next(csv.reader([lines[0]]))
    body = lines[1:] if text.endswith("\n") else lines[1:-1]
    good = [line for line in body if len(next(csv.reader([line]), [])) == len(header)]
    bad = len(lines) - 1 - len(good)
    if bad:
        problems.append(f"{file.parent.name}: progress.csv has {bad} unreadable line(s) "
                        "(half-written?)")
    if not good:
        return [], bad
    frame = pd.read_csv(io.StringIO("\n".join([lines[0], *good])))
    return [{k: v for k, v in r.items() if not pd.isna(v)}
            for r in frame.to_dict("records")], bad


def _read_params(file: Path, problems: list[str]) -> dict[str, Any]:
    if not file.is_file():
        problems.append(f"{file.parent.name}: params.json missing")
        return {}
    try:
        params = json.loads(file.read_text())
    except (OSError, ValueError):
        problems.append(f"{file.parent.name}: params.json unreadable")
        return {}
    return params if isinstance(params, dict) else {}


def _status(record: dict[str, Any], max_epochs: int, rungs: set[int], time_attr: str) -> str:
    """completed, failed, stopped (by ASHA: on a rung of ``time_attr``, or of epochs for a
    study written before its method had one) or incomplete."""
    epochs = int(record.get("epochs") or 0)
    clock = record.get(time_attr, epochs)
    if isinstance(record.get(DIVERGED), str):
        return "failed"
    if epochs >= max_epochs and epochs > 0:
        return "completed"
    if record["failures"]:
        return "failed"
    if clock in rungs and not record["bad_lines"]:
        return "stopped"
    return "incomplete"


def _split_config(configs: pd.DataFrame) -> tuple[list[str], dict[str, Any]]:
    """Searched parameters (values that vary across trials) and constants (all the rest)."""
    params, constants = [], {}
    for col in configs.columns:
        values = configs[col].dropna()
        if col == REPEAT_KEY:
            continue
        hashable = values.map(lambda v: json.dumps(v, sort_keys=True, default=str))
        if col not in CONSTANT_KEYS and hashable.nunique() > 1:
            params.append(col)
        elif len(values):
            constants[col] = plain(values.iloc[0])
    return params, constants


def _max_epochs(configs: pd.DataFrame, trials: pd.DataFrame) -> int:
    if "max_epochs" in configs and configs["max_epochs"].notna().any():
        return int(configs["max_epochs"].max())
    return int(trials["epochs"].max() or 0)


def _time_total(epochs: pd.DataFrame) -> float:
    if "time_total_s" in epochs and pd.notna(epochs["time_total_s"].iloc[-1]):
        return float(epochs["time_total_s"].iloc[-1])
    if "time_this_iter_s" in epochs:
        return float(pd.to_numeric(epochs["time_this_iter_s"], errors="coerce").sum())
    return 0.0


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.generic))


def _number(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)) or value is None:
        return value
    if isinstance(value, (int, float, np.number)):
        return float(value)
    return value
