"""A report's campaign: its experiments as study files, and the studies one budget runs.

``campaigns/<report>/`` holds one study YAML file per experiment (the keys of ``study.run
--config``, so it can be read, copied and run on its own) and ``campaign.yaml``: the title,
the budgets, per-study budget overrides, and the rows of the report's table (the report's own
figure with its source, a published anchor where one exists, and which trials each row
reads). Each study file gives three studies:

- ``faithful``: the file as it is (the report's preset), every grid point once per seed;
- ``searched``: the method's space (ASHA + TPE) on the same data and epoch budget, with the
  preset's method settings and the file's ``set`` values, narrowed by its ``space:``;
- ``rerun``: the searched study's best configuration on validation, once per seed.

A budget (``smoke``, ``quick``, ``full``) holds study options for all three (``set:`` for
fixed values), plus ``num_samples`` (the searched study's), ``repeats`` (the seeds of the
faithful and rerun studies) and ``grid: first`` (the faithful study runs only the grid's
first point: the smoke test's budget).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import StudyError
from study import presets
from study.spec import StudySpec, build, read_config

#: Where the campaigns live (a clone of the project).
CAMPAIGNS_DIR = Path(__file__).resolve().parents[1] / "campaigns"
CAMPAIGN_FILE = "campaign.yaml"
BUDGETS = ("smoke", "quick", "full")
KINDS = ("faithful", "searched", "rerun")
#: Budget keys that are not study options.
BUDGET_KEYS = ("num_samples", "repeats", "grid")
#: Study options the searched and rerun studies take from the faithful one (same data and
#: epochs as the report's setup).
SHARED_OPTIONS = ("dataset", "data_dir", "download", "image_size", "grayscale", "split_ratio",
                  "val_fraction", "train_fraction", "max_epochs")


@dataclass(frozen=True)
class Row:
    """One line of the report's table: which study and trials it reads, and its figures."""

    label: str
    study: str
    metric: str = "test_acc"
    where: dict[str, Any] = field(default_factory=dict)
    report: float | None = None
    source: str = ""
    anchor: float | None = None
    anchor_source: str = ""


@dataclass(frozen=True)
class Campaign:
    """A report's campaign as ``campaigns/<report>/`` declares it."""

    report: str
    title: str
    folder: Path
    budgets: dict[str, dict[str, Any]]
    overrides: dict[str, dict[str, dict[str, Any]]]
    rows: tuple[Row, ...]

    @property
    def studies(self) -> list[str]:
        """The study files the rows read, in the rows' order."""
        return list(dict.fromkeys(row.study for row in self.rows))

    def budget(self, study: str, budget: str) -> dict[str, Any]:
        """The budget's options for ``study``: the campaign's, then the study's own (their
        ``set:`` values merged)."""
        base = dict(self.budgets.get(budget, {}))
        own = dict(self.overrides.get(study, {}).get(budget, {}))
        fixed = {**(base.pop("set", None) or {}), **(own.pop("set", None) or {})}
        return {**base, **own, "set": fixed}


class _UniqueKeys(yaml.SafeLoader):
    """YAML where a key given twice in one mapping is an error, not the last one winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        if twice:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {twice[0]!r} given twice", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def names() -> list[str]:
    """The campaigns the project holds (``report000`` ...)."""
    return sorted(p.parent.name for p in CAMPAIGNS_DIR.glob(f"*/{CAMPAIGN_FILE}"))


def load(report: str, folder: Path = CAMPAIGNS_DIR) -> Campaign:
    """The campaign of ``report`` (StudyError naming the known ones otherwise)."""
    path = folder / report / CAMPAIGN_FILE
    if not path.is_file():
        raise StudyError(f"no campaign {report!r}; choose from {', '.join(names())} or all")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeys) or {}  # a SafeLoader
        rows = tuple(Row(**row) for row in raw["rows"])
        campaign = Campaign(report, str(raw["title"]), path.parent, dict(raw["budgets"]),
                            dict(raw.get("studies") or {}), rows)
    except (KeyError, TypeError, yaml.YAMLError) as err:
        raise StudyError(f"{path}: not a campaign ({type(err).__name__}: {err})") from None
    for study in campaign.studies:
        if not (campaign.folder / f"{study}.yaml").is_file():
            raise StudyError(f"{path}: rows read {study!r}, which has no {study}.yaml")
    unknown = set(campaign.budgets) - set(BUDGETS)
    if unknown:
        raise StudyError(f"{path}: unknown budget {sorted(unknown)[0]!r}")
    return campaign


@dataclass(frozen=True)
class Options:
    """What the command line gives every study of a campaign."""

    budget: str = "quick"
    data_dir: str | None = None
    repeats: int | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    max_concurrent: int | None = None
    address: str | None = None


def faithful_spec(campaign: Campaign, study: str, options: Options, storage: str
                  ) -> StudySpec:
    """The study file as it is, under the budget: the report's grid once per seed."""
    budget = campaign.budget(study, options.budget)
    values = read_config(str(campaign.folder / f"{study}.yaml"))
    values.pop("space", None)  # the searched study's (the preset runs its grid)
    values.update(_study_options(budget, options))
    fixed = {**values.pop("fixed", {}), **budget["set"]}
    if budget.get("grid") == "first":
        first = presets.lookup(values["method"], values["preset"]).points()[0]
        fixed = {**first, **fixed}
    values["repeats"] = options.repeats or budget.get("repeats", 1)
    return build({**values, "fixed": fixed, "name": f"{study}-faithful", "storage": storage})


def searched_spec(campaign: Campaign, study: str, options: Options, storage: str,
                  faithful: StudySpec) -> StudySpec:
    """The method's space (ASHA + TPE) with its ``space:`` overrides, on the faithful
    study's data and epochs and with its constants: the preset's method settings (Isomap's
    fitting sample, report 004's GAN) and the study file's ``set`` values hold in both."""
    budget = campaign.budget(study, options.budget)
    shared = {k: getattr(faithful, k) for k in SHARED_OPTIONS}
    file = read_config(str(campaign.folder / f"{study}.yaml"))
    settings = presets.lookup(faithful.method, faithful.preset).settings
    values = {**_study_options(budget, options), **shared, "method": faithful.method,
              "space": file.get("space", {}), "num_samples": budget.get("num_samples", 24),
              "fixed": {**settings, **file.get("fixed", {}), **budget["set"]},
              "name": f"{study}-searched", "storage": storage}
    return build(values)


def rerun_spec(study: str, searched: StudySpec, best: dict[str, Any], repeats: int
               ) -> StudySpec:
    """The searched study's best configuration (``best``: its searched values), once per
    seed, to the last epoch."""
    return dataclasses.replace(searched, name=f"{study}-rerun", num_samples=1,
                               repeats=repeats, scheduler="fifo", resume=False,
                               fixed={**searched.fixed, **best}).validate()


def _study_options(budget: dict[str, Any], options: Options) -> dict[str, Any]:
    """The budget's study options and the command line's (which win)."""
    values = {k: v for k, v in budget.items() if k not in (*BUDGET_KEYS, "set")}
    cli = {"data_dir": options.data_dir, "cpus_per_trial": options.cpus_per_trial,
           "gpus_per_trial": options.gpus_per_trial, "max_concurrent": options.max_concurrent,
           "address": options.address}
    values.update({k: v for k, v in cli.items() if v is not None})
    values["report"] = False
    return values
