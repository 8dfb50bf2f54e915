"""`StudySpec`: everything that defines a study, from defaults < YAML config < command line."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from study.errors import StudyError

SPEC_FILE = "study.json"
#: ``--precision`` choices; ``auto`` is bf16 autocast on a CUDA device that supports it.
PRECISIONS = ("auto", "fp32", "bf16")


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
    num_samples: int = 24
    max_epochs: int = 15
    scheduler: str | None = None  # asha, or fifo when repeats > 1
    searcher: str = "optuna"
    preset: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    max_failures: int = 2
    precision: str = "auto"  # auto (bf16 autocast on CUDA), fp32 or bf16
    compile: bool = False
    address: str | None = None
    storage: str = "studies"
    name: str | None = None
    resume: bool = False
    overwrite: bool = False
    repeats: int = 1
    seed: int = 0
    report: bool = True

    def __post_init__(self) -> None:
        if self.scheduler is None:
            self.scheduler = "asha" if self.repeats == 1 else "fifo"
        if self.name is None:
            self.name = f"{self.method}-{self.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"

    @property
    def study_dir(self) -> str:
        """``<storage>/<name>`` (a local path, or a URI for cloud storage)."""
        return f"{self.storage.rstrip('/')}/{self.name}"

    def validate(self) -> StudySpec:
        """Range and choice checks that need no imports of methods or data."""
        _choice("scheduler", self.scheduler, ("asha", "fifo"))
        _choice("searcher", self.searcher, ("optuna", "random"))
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
        for name in ("split_ratio", "val_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise StudyError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if self.resume and self.overwrite:
            raise StudyError("--resume and --overwrite exclude each other")
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise StudyError(f"--name {self.name!r}: must be a plain directory name")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


FIELDS = {f.name for f in dataclasses.fields(StudySpec)}


def build(cli: dict[str, Any], config_path: str | None = None) -> StudySpec:
    """Merge defaults < YAML file < explicit command-line values into a validated spec."""
    values: dict[str, Any] = {}
    if config_path:
        values.update(read_config(config_path))
    fixed = {**values.pop("fixed", {}), **cli.pop("fixed", {})}
    values.update(cli)
    values["fixed"] = fixed
    if "method" not in values:
        raise StudyError("no method given (positional METHOD or `method:` in --config)")
    return StudySpec(**values).validate()


def read_config(path: str) -> dict[str, Any]:
    """A study YAML file: the CLI's option names (dashes or underscores), ``set:`` for fixed
    search-space values."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise StudyError(f"--config {path}: no such file") from None
    except yaml.YAMLError as err:
        raise StudyError(f"--config {path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise StudyError(f"--config {path}: expected a mapping of option names to values")
    values = {str(k).replace("-", "_"): v for k, v in raw.items()}
    if "set" in values:
        fixed = values.pop("set") or {}
        if not isinstance(fixed, dict):
            raise StudyError(f"--config {path}: `set` must map parameter names to values")
        values["fixed"] = fixed
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise StudyError(f"--config {path}: unknown option {unknown[0]!r}")
    return values


def load_saved(study_dir: str) -> StudySpec:
    """The spec a study was started with (``study.json`` in its directory or URI)."""
    from study import storage

    try:
        values = json.loads(storage.read_text(f"{study_dir.rstrip('/')}/{SPEC_FILE}"))
    except FileNotFoundError:
        raise StudyError(f"{study_dir}: no {SPEC_FILE}; is this a study directory?") from None
    values.setdefault("precision", "fp32")  # studies from before --precision ran in fp32
    return StudySpec(**values)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise StudyError(f"--{name} {value!r}: choose from {', '.join(choices)}")
