"""`StudySpec`: everything that defines a study, from defaults < YAML config < command line."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import StudyError
from core.layout import SPEC_FILE
from core.names import PRECISIONS
from core.storage import read_text as read_stored
from core.storage import resolve as resolve_storage

#: Longest ``--name``: a directory name, with room for Ray's own files beside it.
MAX_NAME = 200
#: Ways to choose the trials' configurations: TPE, random, or a preset's grid enumerated.
SEARCHERS = ("optuna", "random", "grid")
#: Experiment trackers (study.trackers): each a field, the extra that installs its package and
#: that package's module.
TRACKERS = ("mlflow", "wandb")
#: Seeds must fit NumPy's seeding (0 .. 2**32 - 1), repeat offsets included.
MAX_SEED = 2**31


@dataclass
class StudySpec:
    """A study: method × dataset × search space × budget (see ``python -m study.run -h``)."""

    method: str
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    image_size: int | None = None
    grayscale: bool = False
    split_ratio: float = 0.2
    val_fraction: float = 0.2
    train_fraction: float = 1.0
    num_samples: int = 24
    max_epochs: int = 15
    scheduler: str | None = None  # asha, or fifo with repeats or a preset
    searcher: str | None = None  # optuna, or grid (a preset's points, enumerated)
    preset: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    #: Distribution overrides from a study file's ``space:`` section (study.space).
    space: dict[str, Any] = field(default_factory=dict)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    max_failures: int = 2
    precision: str = "auto"  # auto (bf16 autocast on CUDA), fp32 or bf16
    compile: bool = False
    address: str | None = None
    pending_timeout: float = 900.0  # seconds with trials waiting and none running
    time_budget: float | None = None  # seconds; Tune starts no trial after it and stops all
    storage: str = "studies"
    name: str | None = None
    resume: bool = False
    overwrite: bool = False
    repeats: int = 1
    seed: int = 0
    reproducible: bool = False
    report: bool = True
    mlflow: str | None = None  # MLflow tracking URI (the mlflow extra)
    wandb: str | None = None  # Weights & Biases project (the wandb extra)

    def __post_init__(self) -> None:
        if self.scheduler is None:
            self.scheduler = "asha" if self.repeats == 1 and self.preset is None else "fifo"
        if self.searcher is None:
            self.searcher = "optuna" if self.preset is None else "grid"
        if self.name is None:
            self.name = f"{self.method}-{self.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        if isinstance(self.storage, str):
            self.storage = resolve_storage(self.storage)

    @property
    def study_dir(self) -> str:
        """``<storage>/<name>`` (a local path, or a URI for cloud storage)."""
        return f"{self.storage.rstrip('/')}/{self.name}"

    def validate(self) -> StudySpec:
        """Type, range and choice checks that need no imports of methods or data."""
        self._check_types()
        _choice("scheduler", self.scheduler, ("asha", "fifo"))
        _choice("searcher", self.searcher, SEARCHERS)
        if self.searcher == "grid" and self.preset is None:
            raise StudyError("--searcher grid enumerates a preset's grid: give --preset")
        if self.searcher != "grid" and self.preset is not None:
            raise StudyError(f"--preset runs the report's grid; --searcher {self.searcher} "
                             "searches the method's space: drop one of them")
        _choice("precision", self.precision, PRECISIONS)
        for name in ("num_samples", "max_epochs", "repeats"):
            if getattr(self, name) < 1:
                raise StudyError(f"--{name.replace('_', '-')} must be at least 1")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise StudyError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise StudyError("--gpus-per-trial above 1 must be a whole number")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise StudyError("--max-concurrent must be at least 1")
        if self.reproducible and (self.max_concurrent or 1) > 1:
            raise StudyError("--reproducible runs one trial at a time; drop --max-concurrent")
        if self.max_failures < 0:
            raise StudyError("--max-failures must be 0 or more (retries of a failed trial)")
        if not 0 <= self.seed < MAX_SEED:
            raise StudyError(f"--seed {self.seed}: must be in [0, {MAX_SEED})")
        if self.pending_timeout <= 0:
            raise StudyError("--pending-timeout must be positive")
        if self.time_budget is not None and self.time_budget <= 0:
            raise StudyError("--time-budget must be positive")
        for name in ("split_ratio", "val_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise StudyError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if not 0.0 < self.train_fraction <= 1.0:
            raise StudyError("--train-fraction must be in (0, 1]")
        if self.resume and self.overwrite:
            raise StudyError("--resume and --overwrite exclude each other")
        if not self.name or "/" in self.name or "\0" in self.name or self.name in (".", ".."):
            raise StudyError(f"--name {self.name!r}: must be a plain directory name")
        if len(self.name.encode()) > MAX_NAME:
            raise StudyError(f"--name is {len(self.name.encode())} bytes long; at most "
                             f"{MAX_NAME}")
        self._check_trackers()
        return self

    def _check_trackers(self) -> None:
        """Each tracker given has its package, and MLflow takes the tracking URI (it refuses
        its file store, and unknown schemes)."""
        for name in TRACKERS:
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise StudyError(f"--{name} needs a value")
            if value is not None and importlib.util.find_spec(name) is None:
                raise StudyError(f'--{name} needs the {name} extra: pip install -e ".[{name}]"')
        if self.mlflow is not None:
            from mlflow import MlflowClient

            try:
                MlflowClient(tracking_uri=self.mlflow)
            except Exception as err:  # MLflow's own reason, on one line
                raise StudyError(f"--mlflow {self.mlflow}: {' '.join(str(err).split())}"
                                 ) from None

    def _check_types(self) -> None:
        """Each field has its declared type (a YAML file can hold anything); ints are
        accepted where a float is declared."""
        for name, hint in typing.get_type_hints(StudySpec).items():
            value = getattr(self, name)
            kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
            kinds = tuple(typing.get_origin(k) or k for k in kinds)
            if value is None and type(None) in kinds:
                continue
            if float in kinds and type(value) is int:
                setattr(self, name, float(value))
                continue
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                wanted = " or ".join(k.__name__ for k in kinds if k is not type(None))
                raise StudyError(f"--{name.replace('_', '-')} {value!r}: expected {wanted}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


FIELDS = {f.name for f in dataclasses.fields(StudySpec)}


def build(cli: dict[str, Any], config_path: str | None = None,
          base: dict[str, Any] | None = None) -> StudySpec:
    """Merge defaults < the preset's options < ``base`` (``--best-of``'s study) < YAML
    file < explicit command-line values into a validated spec."""
    values: dict[str, Any] = dict(base or {})
    base_fixed = values.pop("fixed", {})
    if config_path:
        values.update(read_config(config_path))
    fixed = {**base_fixed, **values.pop("fixed", {}), **cli.pop("fixed", {})}
    values.update(cli)
    values["fixed"] = fixed
    if "method" not in values:
        raise StudyError("no method given (positional METHOD or `method:` in --config)")
    if values.get("preset") is not None:
        from study import presets  # imports the method's search space

        values = presets.under(values)
    for name in ("pending_timeout", "time_budget"):
        if isinstance(values.get(name), str):
            values[name] = parse_duration(values[name], f"--{name.replace('_', '-')}")
    return StudySpec(**values).validate()


def read_config(path: str) -> dict[str, Any]:
    """A study YAML file: the CLI's option names (dashes or underscores), ``set:`` for fixed
    search-space values, ``space:`` for ranges and choices that replace the method's."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise StudyError(f"--config {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise StudyError(f"--config {path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise StudyError(f"--config {path}: expected a mapping of option names to values")
    values = {str(k).replace("-", "_"): v for k, v in raw.items()}
    if "fixed" in values:
        raise StudyError(f"--config {path}: fixed values go under `set:`")
    if "set" in values:
        fixed = values.pop("set") or {}
        if not isinstance(fixed, dict):
            raise StudyError(f"--config {path}: `set` must map parameter names to values")
        values["fixed"] = fixed
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise StudyError(f"--config {path}: unknown option {unknown[0]!r}")
    if "space" in values:
        from study.space import check_overrides  # imports optuna

        values["space"] = check_overrides(values["space"] or {}, f"--config {path}")
    return values


def load_saved(study_dir: str) -> StudySpec:
    """The spec a study was started with (``study.json`` in its directory or URI)."""
    path = f"{study_dir.rstrip('/')}/{SPEC_FILE}"
    try:
        values = json.loads(read_stored(path))
    except FileNotFoundError:
        raise StudyError(f"{study_dir}: no {SPEC_FILE}; is this a study directory?") from None
    except (OSError, ValueError) as err:
        raise StudyError(f"{path}: unreadable ({_first_line(err)})") from None
    if not isinstance(values, dict) or set(values) - FIELDS or "method" not in values:
        raise StudyError(f"{path}: not a study spec (written by another version, or edited?)")
    values.setdefault("precision", "fp32")  # studies from before --precision ran in fp32
    return StudySpec(**values)


def parse_duration(text: str, option: str) -> float:
    """``"90"``, ``"90s"``, ``"45m"``, ``"2h"`` or ``"1h30m"`` -> seconds."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d*)?)h)?\s*(?:(\d+(?:\.\d*)?)m)?\s*"
                         r"(?:(\d+(?:\.\d*)?)s?)?\s*", text)
    if not text.strip() or match is None:
        raise StudyError(f"{option} {text!r}: expected a duration such as 90s, 45m or 2h")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: float) -> str:
    """Seconds as ``1h05m``, ``12m30s`` or ``45s``.

    >>> format_duration(3900), format_duration(750), format_duration(45)
    ('1h05m', '12m30s', '45s')
    """
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise StudyError(f"--{name} {value!r}: choose from {', '.join(choices)}")
