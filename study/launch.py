"""StudySpec -> Ray Tune: Tuner with OptunaSearch, ASHA/FIFO, resources, storage, resume."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Repeater, Searcher
from ray.tune.search.optuna import OptunaSearch

from study import data as datasets
from study import registry, storage
from study.errors import StudyError
from study.space import FixedSpace, check_fixed
from study.spec import SPEC_FILE, StudySpec
from study.splits import Splits

logger = logging.getLogger(__name__)

#: Files that mark a directory as a study (so --overwrite never deletes anything else).
STUDY_MARKERS = (SPEC_FILE, "tuner.pkl")


def check_storage(spec: StudySpec) -> None:
    """Resolve local storage to an absolute path and enforce the existing-directory rules.

    Deletes nothing: :func:`clear_for_overwrite` does, once everything else has passed.
    """
    if not storage.is_uri(spec.storage):
        spec.storage = str(Path(spec.storage).expanduser().resolve())
    exists = storage.exists(spec.study_dir)
    if spec.resume:
        if not exists:
            raise StudyError(f"--resume: no study at {spec.study_dir}")
        return
    if not exists:
        return
    if not spec.overwrite:
        raise StudyError(f"study directory {spec.study_dir} exists; pass --resume to continue "
                         "it or --overwrite to replace it")
    if storage.is_uri(spec.study_dir):
        raise StudyError("--overwrite works on local storage only; pick another --name")
    study_dir = Path(spec.study_dir)
    if not any((study_dir / m).exists() for m in STUDY_MARKERS):
        raise StudyError(f"--overwrite: {study_dir} does not look like a study directory; "
                         "refusing to delete it")


def clear_for_overwrite(spec: StudySpec) -> None:
    """Delete the earlier study of the same name (``--overwrite``, already checked)."""
    if spec.overwrite and not spec.resume and Path(spec.study_dir).exists():
        logger.info("--overwrite: deleting the earlier study %s", spec.study_dir)
        shutil.rmtree(spec.study_dir)


def load_data(spec: StudySpec) -> Splits:
    """The study's dataset, loaded once on the driver."""
    return datasets.load(spec.dataset, spec.data_dir, split_ratio=spec.split_ratio,
                         val_fraction=spec.val_fraction, seed=spec.seed, download=spec.download,
                         image_size=spec.image_size, grayscale=spec.grayscale)


def config_constants(spec: StudySpec, method: registry.Method) -> dict[str, Any]:
    """Values every trial's config carries besides the sampled ones."""
    return {**method_defaults(method), "max_epochs": spec.max_epochs, "seed": spec.seed,
            "val_fraction": spec.val_fraction, "precision": spec.precision,
            "compile": spec.compile}


def method_defaults(method: registry.Method) -> dict[str, Any]:
    """Non-searched config keys a method's trainable reads, with their defaults."""
    from trainables.loop import LOOP_DEFAULTS

    return {**LOOP_DEFAULTS, **method.space_module().DEFAULTS}


def checked_fixed(spec: StudySpec, method: registry.Method) -> dict[str, Any]:
    """The spec's ``--set`` values validated against the method's space and defaults."""
    return check_fixed(space_function(spec, method), spec.fixed, method_defaults(method))


def space_function(spec: StudySpec, method: registry.Method) -> Any:
    module = method.space_module()
    if spec.preset is None:
        return module.space
    if spec.preset not in module.PRESETS:
        raise StudyError(f"--preset {spec.preset!r}: {method.name} has "
                         f"{', '.join(module.PRESETS) or 'no presets'}")
    return module.PRESETS[spec.preset]


def make_searcher(spec: StudySpec, method: registry.Method, fixed: dict[str, Any]
                  ) -> Searcher:
    """OptunaSearch (TPE seeded with the report's best point, or random) over the space."""
    space = FixedSpace(space_function(spec, method), fixed, config_constants(spec, method))
    if spec.searcher == "random":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=spec.seed)
        points = None
    else:
        # TPE samples at random until n_startup_trials finished (10 by default): too many for
        # a 16- or 24-trial study, so model the space after a quarter of the budget.
        startup = max(3, min(10, spec.num_samples // 4))
        sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=startup)
        points = start_points(spec, method) or None
    searcher: Searcher = OptunaSearch(space=space, metric=method.metric, mode=method.mode,
                                      sampler=sampler, points_to_evaluate=points)
    if spec.repeats > 1:
        searcher = Repeater(searcher, repeat=spec.repeats, set_index=True)
    return searcher


def start_points(spec: StudySpec, method: registry.Method) -> list[dict[str, Any]]:
    """The method's START_POINTS that its space (or ``--preset``) can produce: a preset
    reproducing one report need not hold another report's best point (Optuna would refuse
    to enqueue it)."""
    space = space_function(spec, method)
    inside = []
    for point in getattr(method.space_module(), "START_POINTS", None) or []:
        try:
            check_fixed(space, point, method_defaults(method))
        except StudyError:
            logger.info("start point %s lies outside this space; skipped", point)
            continue
        inside.append(point)
    return inside


def make_scheduler(spec: StudySpec, method: registry.Method) -> TrialScheduler:
    if spec.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", max_t=spec.max_epochs,
                         grace_period=min(method.grace_period, spec.max_epochs),
                         reduction_factor=3)


def trainable_for(spec: StudySpec, method: registry.Method, splits: Splits) -> Any:
    """The method's trainable with the data in the object store and its resources set."""
    resources = {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(method.load_trainable(), data=splits),
                               resources)


def trial_dirname(trial: Any) -> str:
    """Short trial directories (``train_vae_1a2b3c4d``); the config lives in params.json."""
    return f"{trial.trainable_name}_{trial.trial_id}"


def run_config(spec: StudySpec, verbose: int = 1) -> tune.RunConfig:
    return tune.RunConfig(
        name=spec.name, storage_path=spec.storage,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # Keep two: with one, every trial's final checkpoint forces an experiment-state
        # snapshot (0.62 s vs 0.35 s of Tune overhead a trial in bench/tune_overhead.py).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        sync_config=tune.SyncConfig(sync_artifacts=True),
        verbose=verbose)


def init_ray(spec: StudySpec) -> None:
    """Start a local Ray, or join the cluster at ``--address``."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=spec.address, include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as err:
        raise StudyError(f"--address {spec.address}: cannot reach a Ray cluster ({err}); a "
                         "cluster with token authentication needs RAY_AUTH_MODE=token and its "
                         "token in ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN"
                         ) from None


def fit(spec: StudySpec) -> tune.ResultGrid:
    """Run (or resume) the study described by ``spec`` and return Tune's results."""
    # Tune snapshots its experiment state whenever a trial saved num_to_keep checkpoints
    # since the last snapshot; with checkpoint_every_s=0 that is every other epoch, which
    # is cheap locally: silence the warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # TensorBoard tags cannot hold "@": tensorboardX logs val_acc@5 as val_acc_5 and warns
    # once per tag and trial. The mapping is documented in the README; keep the log clean.
    logging.getLogger("tensorboardX.summary").setLevel(logging.ERROR)
    method = registry.get(spec.method)
    fixed = checked_fixed(spec, method)
    check_storage(spec)
    splits = load_data(spec)
    init_ray(spec)
    clear_for_overwrite(spec)
    trainable = trainable_for(spec, method, splits)
    if spec.resume:
        tuner = tune.Tuner.restore(spec.study_dir, trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        _write_spec(spec)
        tuner = new_tuner(spec, method, trainable, fixed)
    return tuner.fit()


def new_tuner(spec: StudySpec, method: registry.Method, trainable: Any, fixed: dict[str, Any],
              *, reuse_actors: bool = True, verbose: int = 1) -> tune.Tuner:
    """A fresh Tuner for the study (the keywords let the benchmarks run plain or quiet)."""
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=method.metric, mode=method.mode,
            search_alg=make_searcher(spec, method, fixed),
            scheduler=make_scheduler(spec, method),
            num_samples=spec.num_samples * spec.repeats,
            max_concurrent_trials=spec.max_concurrent,
            reuse_actors=reuse_actors,
            trial_dirname_creator=trial_dirname),
        run_config=run_config(spec, verbose))


def _write_spec(spec: StudySpec) -> None:
    storage.write_text(f"{spec.study_dir}/{SPEC_FILE}", spec.to_json())
