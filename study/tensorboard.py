"""TensorBoard for a study: the method's curves, one HParams experiment, runs named by config.

Tune's own TBXLoggerCallback logs every result key as ``ray/tune/<key>`` (its bookkeeping
too) and declares an HParams experiment per trial from that trial's last result and its
whole config. :class:`StudyBoard` replaces it (``study.launch.run_config``):

- **scalars**: only the method's metrics, by group, the epoch as the step: ``accuracy/val``,
  ``knn/val_acc@5``, ``loss/train``, ``test/auc`` (:func:`tag`); Tune's keys are dropped;
- **one experiment** at the study's root (:data:`STUDY_EVENTS`), written when the study
  starts: the searched parameters and their domains (:func:`searched_domains`) and every
  metric a finished trial reports (:func:`declared_metrics`), plus a custom-scalars layout
  that draws ``val_acc@k`` for every k in one chart;
- **per run**: the searched values (HParams) and the fixed ones (the ``config`` text).

Trial directories, and so TensorBoard's runs, carry the searched values
(:class:`TrialDirname`): ``train_vae_dense-l122-k3-lr0.0012_c5163c09``.

>>> tag("val_acc@5"), tag("train_loss"), tag("test_auc"), tag("time_this_iter_s")
('knn/val_acc@5', 'loss/train', 'test/auc', None)
>>> run_label({"arch": "dense", "latent_dim": 122, "n_neighbors": 3, "lr": 0.00123},
...           ["arch", "latent_dim", "n_neighbors", "lr"])
'dense-l122-k3-lr0.0012'
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from ray.tune.logger import LoggerCallback
from ray.tune.result import AUTO_RESULT_KEYS, DEBUG_METRICS, DONE, TRAINING_ITERATION
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata
from tensorboard.plugins.hparams import summary_v2 as hp  # hparams.api imports Keras
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from core import storage
from core.layout import DIVERGED, REPEAT_KEY
from core.names import CLASSIFIER_EPOCHS
from study.plan import StudyPlan
from study.space import FixedSpace

#: The study's experiment and layout, at the root of the study directory ("tfevents" in
#: the name is what TensorBoard reads); one fixed name, so a resumed study keeps one.
STUDY_EVENTS = "events.out.tfevents.study"

#: Result keys that are no metric of the method: Tune's bookkeeping, where the trial ran,
#: and the epoch (the step).
NOT_METRICS = frozenset({*AUTO_RESULT_KEYS, *DEBUG_METRICS, DONE, DIVERGED, "epoch",
                         "wall_time", "node_id", "device", "gpu_ids"})

#: Tags of the method metrics that the rules of :func:`tag` do not place.
TAGS = {
    "val_acc": "accuracy/val", "train_acc": "accuracy/train", "val_auc": "auc/val",
    "val_knn_acc": "accuracy/val_knn_probe", "a_val_acc": "accuracy/val_net_a",
    "train_loss": "loss/train", "val_loss": "loss/val", "recon_loss": "loss/recon",
    "kl": "loss/kl", "g_loss": "loss/generator", "d_loss": "loss/discriminator",
    "a_train_loss": "loss/train_net_a", "n_neighbors_used": "knn/n_neighbors_used",
    "stage": "schedule/stage", CLASSIFIER_EPOCHS: "schedule/classifier_epochs",
    "phase": "schedule/phase", "scheduled_lr": "schedule/lr",
    "gan_epoch": "schedule/gan_epoch", "synthetic": "schedule/synthetic_images",
    "kl_weight": "schedule/kl_weight",
    "selected_epoch": "test/selected_epoch", "selected_val_acc": "test/selected_val_acc",
    "selected_val_loss": "test/selected_val_loss", "selected_val_auc": "test/selected_val_auc",
    "imagenet_weights": "test/imagenet_weights",
    "explained_variance": "reducer/explained_variance", "n_components_fit": "reducer/n_components",
    "isomap_neighbors_fit": "reducer/isomap_neighbors",
    "isomap_fit_samples": "reducer/isomap_fit_samples",
}

#: Short names of parameters in run names; others take their words' initials.
ABBREVIATIONS = {"latent_dim": "l", "n_neighbors": "k", "n_components": "d", "lr": "lr",
                 "dropout": "do", "beta": "b", "batch_size": "bs", "momentum": "m",
                 "weight_decay": "wd", REPEAT_KEY: "r"}
#: Characters a run name keeps of a value (it is a directory name).
_UNSAFE = re.compile(r"[^\w.]+")
#: The longest run label (the searched values of a run's name).
LABEL_MAX = 80


def tag(key: str) -> str | None:
    """The TensorBoard tag of a result key, None for what is no metric of the method:
    ``val_acc@k`` under ``knn/``, ``test_*`` under ``test/``, the rest by :data:`TAGS`, and
    anything new under ``other/``."""
    if key in NOT_METRICS:
        return None
    if key.startswith("val_acc@"):
        return f"knn/{key}"
    if key.startswith("test_"):
        return f"test/{key.removeprefix('test_')}"
    return TAGS.get(key, f"other/{key}")


def searched_domains(plan: StudyPlan, draws: int = 64) -> dict[str, hp.Domain]:
    """The study's searched parameters and their HParams domains, in the space's order.

    A search samples the space ``draws`` times (conditional parameters appear once their
    branch is drawn): integers are integer intervals, floats real ones, categorical choices
    discrete sets. A preset's grid searches the keys whose value differs between points.
    """
    if plan.grid:
        values: dict[str, list[Any]] = {}
        for point in plan.grid:
            for name, value in point.items():
                if value is not None and value not in values.setdefault(name, []):
                    values[name].append(value)
        return {name: _discrete(v) for name, v in values.items() if len(v) > 1}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sample = FixedSpace(plan.space, plan.fixed, {})
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for _ in range(draws):
        trial = study.ask()
        sample(trial)
        for name, distribution in trial.distributions.items():
            found.setdefault(name, distribution)
    return {name: _domain(d) for name, d in found.items()}


def _domain(distribution: optuna.distributions.BaseDistribution) -> hp.Domain:
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return hp.IntInterval(distribution.low, distribution.high)
    if isinstance(distribution, optuna.distributions.FloatDistribution):
        return hp.RealInterval(distribution.low, distribution.high)
    return _discrete([c for c in distribution.choices if c is not None])


def _discrete(values: Sequence[Any]) -> hp.Discrete:
    """A discrete domain of one type: integers beside floats become floats, any other mix
    strings (:func:`_typed` converts a run's value the same way)."""
    kinds = {type(v) for v in values}
    if kinds == {int, float}:
        return hp.Discrete([float(v) for v in values])
    return hp.Discrete(list(values) if len(kinds) == 1 else [str(v) for v in values])


def _typed(value: Any, domain: hp.Domain) -> Any:
    """A run's value as its domain holds it (a discrete domain of mixed values: strings)."""
    return domain.dtype(value) if isinstance(domain, hp.Discrete) else value


def declared_metrics(plan: StudyPlan) -> list[str]:
    """The result keys HParams shows: the objective, ``val_acc@k`` for every k of the k-NN
    grid up to ``k_max`` (k-NN methods: every trial reports them; a trial whose
    ``n_neighbors`` lies on the grid above ``k_max`` reports that k too, as a scalar only),
    and the test metrics of a finished trial."""
    from trainables.metrics import classification_metrics
    from trainables.neighbors import K_GRID

    k_max = {**plan.constants, **plan.fixed}.get("k_max")
    knn = [f"val_acc@{k}" for k in K_GRID if k_max is not None and k <= k_max]
    # The loop's test scores, named by the one metrics module.
    test = classification_metrics(np.array([0, 1]), np.eye(2))
    return [plan.objective, *knn, *test]


def run_label(config: Mapping[str, Any], names: Sequence[str]) -> str:
    """A short, file-name-safe form of ``config``'s values of ``names`` (None left out):
    a string as it is, a number after its parameter's abbreviation (:data:`ABBREVIATIONS`,
    else its words' initials), floats to two significant digits, a boolean as its
    parameter's name, ``no`` before it when false; the values that would make it longer
    than :data:`LABEL_MAX` are left out (params.json has them all)."""
    short = _abbreviations(names)
    label = ""
    for name in names:
        if config.get(name) is not None:
            part = _part(name, short[name], config[name])
            if len(label) + len(part) >= LABEL_MAX:
                break
            label = f"{label}-{part}" if label else part
    return label


def _abbreviations(names: Iterable[str]) -> dict[str, str]:
    """Each name's abbreviation: its own in :data:`ABBREVIATIONS`, else its words'
    initials; initials that another name's abbreviation also is give way to the full name
    (``beta_schedule`` beside ``batch_size``'s ``bs``)."""
    short = {n: ABBREVIATIONS.get(n) or "".join(w[0] for w in n.split("_") if w)
             for n in names}
    taken = list(short.values())
    return {n: a if n in ABBREVIATIONS or taken.count(a) == 1 else n for n, a in short.items()}


def _part(name: str, short: str, value: Any) -> str:
    if isinstance(value, bool):
        return name if value else f"no{name}"
    if isinstance(value, float):
        value = f"{value:.2g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    elif not isinstance(value, int):
        return _UNSAFE.sub("", str(value))
    return f"{short}{value}"


def run_names(plan: StudyPlan) -> list[str]:
    """The config keys a run's name shows: the searched ones, and the repeat index."""
    return [*searched_domains(plan), *([REPEAT_KEY] if plan.spec.repeats > 1 else [])]


class TrialDirname:
    """Tune's ``trial_dirname_creator``: ``{trainable}_{run_label}_{trial_id}`` (the trial
    id stays last, after an underscore: the analysis reads it from there). A class, not a
    closure: Tune pickles it for ``--resume``."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def __call__(self, trial: Any) -> str:
        label = run_label(trial.config, self.names)
        return "_".join(p for p in (trial.trainable_name, label, trial.trial_id) if p)


def study_summary(plan: StudyPlan, domains: Mapping[str, hp.Domain]) -> summary_pb2.Summary:
    """The study's HParams experiment (the searched parameters' ``domains``, the declared
    metrics under their scalar tags) and its custom-scalars layout, as one summary."""
    metrics = declared_metrics(plan)
    summary = hp.hparams_config_pb(
        [hp.HParam(name, domain) for name, domain in domains.items()],
        [hp.Metric(tag(key), display_name=key) for key in metrics],
        time_created_secs=time.time())
    summary.value.add(tag=layout_metadata.CONFIG_SUMMARY_TAG,
                      metadata=layout_metadata.create_summary_metadata(),
                      tensor=tensor_util.make_tensor_proto(
                          _layout(plan.method.name, any("@" in m for m in metrics))
                          .SerializeToString()))
    return summary


def _layout(title: str, knn: bool) -> layout_pb2.Layout:
    """CUSTOM SCALARS: accuracy, train and validation loss, and (k-NN methods) ``val_acc@k``
    for every k, each one chart of several lines."""
    charts = [("accuracy (val, train)", r"accuracy/(val|train)$"),
              ("loss (train, val)", r"loss/(train|val)$"),
              *([("k-NN val_acc@k, every k", r"knn/val_acc@\d+$")] if knn else [])]
    return layout_pb2.Layout(category=[layout_pb2.Category(title=title, chart=[
        layout_pb2.Chart(title=name, multiline=layout_pb2.MultilineChartContent(tag=[regex]))
        for name, regex in charts])])


def scalars(result: Mapping[str, Any]) -> summary_pb2.Summary:
    """The result's finite method metrics under their tags (:func:`tag`)."""
    summary = summary_pb2.Summary()
    for key, value in result.items():
        name = tag(key)
        if name and _finite(value):
            summary.value.extend(scalar_pb(name, float(value)).value)
    return summary


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and math.isfinite(value))


class StudyBoard(LoggerCallback):
    """Writes the study's TensorBoard files (module docstring): the experiment once, at the
    root of the study, then each trial's run in its directory.

    It holds plain values only (Tune pickles it with the Tuner for ``--resume``); build it
    with :meth:`for_plan`.
    """

    def __init__(self, study_dir: str, experiment: summary_pb2.Summary,
                 domains: Mapping[str, hp.Domain], fixed: Iterable[str]) -> None:
        self.study_dir, self.experiment = study_dir, experiment
        self.domains, self.fixed = dict(domains), frozenset(fixed)
        self._writers: dict[Any, EventFileWriter] = {}
        self._declared = False

    @classmethod
    def for_plan(cls, plan: StudyPlan) -> StudyBoard:
        domains = searched_domains(plan)
        return cls(plan.spec.study_dir, study_summary(plan, domains), domains, plan.fixed)

    def log_trial_start(self, trial: Any) -> None:
        if trial in self._writers:
            self._writers[trial].close()
        trial.init_local_path()
        self.declare(trial.local_experiment_path)
        self._writers[trial] = EventFileWriter(trial.local_path, flush_secs=30)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        """The result's metrics at its epoch; before the first epoch's, the run's header (a
        trial resumed from a checkpoint has it already)."""
        if trial not in self._writers:
            self.log_trial_start(trial)
        writer, step = self._writers[trial], int(result.get("epoch", result[TRAINING_ITERATION]))
        if step == 1:
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=0,
                                             summary=self.header(trial.config, trial.trial_id)))
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                         summary=scalars(result)))
        writer.flush()

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        writer = self._writers.pop(trial, None)
        if writer is not None:
            writer.close()

    def header(self, config: Mapping[str, Any], trial_id: str) -> summary_pb2.Summary:
        """A run's searched values (HParams session) and its fixed values (``config``
        text: a table, ``--set`` values marked)."""
        values = {name: _typed(config[name], domain) for name, domain in self.domains.items()
                  if config.get(name) is not None}
        summary = hp.hparams_pb(values, trial_id=trial_id, start_time_secs=time.time())
        rows = [f"| {key} | {config[key]}{' (--set)' if key in self.fixed else ''} |"
                for key in sorted(config) if key not in self.domains]
        searched = ", ".join(f"{k} = {v}" for k, v in values.items())
        text = "\n".join([f"searched (HPARAMS): {searched}", "", "| fixed | value |",
                          "|---|---|", *rows])
        summary.value.extend(text_pb("config", text).value)
        return summary

    def declare(self, staging_dir: str) -> None:
        """Write the experiment into Tune's staging copy of the study directory (Tune
        uploads it), once: not again in this run, nor when the study already has it."""
        if self._declared:
            return
        self._declared = True
        if storage.exists(f"{self.study_dir}/{STUDY_EVENTS}"):
            return
        Path(staging_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(staging_dir, STUDY_EVENTS), "wb") as out:
            records = RecordWriter(out)
            for event in (event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"),
                          event_pb2.Event(wall_time=time.time(), summary=self.experiment)):
                records.write(event.SerializeToString())
