"""Command line: ``python -m study.reproduce REPORT`` runs a report's campaign and compares.

For each of the campaign's study files (``study.campaign``) it runs the faithful study, the
searched study and the rerun of the searched study's best configuration, one after another
(each fans out over the cluster), records each finished study in ``campaign.json``, and ends
with the comparison tables of ``analysis.campaign``. ``--resume`` skips finished studies and
continues an interrupted one where Tune left it.
"""

from __future__ import annotations

from study import interrupt

if __name__ == "__main__":  # Ctrl-C during the imports below is noted, not raised there
    interrupt.note_from_now()

import argparse
import dataclasses
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core import storage
from core.cli import OneLineParser, exit_code
from core.errors import ExitCode, StudyError
from core.layout import CAMPAIGN_MANIFEST as MANIFEST
from core.layout import SPEC_FILE, TUNER_FILE
from study import campaign as campaigns
from study.best import best_configuration
from study.options import SPEC_DEFAULTS, add_placement_options
from study.spec import StudySpec, format_duration, load_saved, parse_duration

#: ASHA stops most searched trials early: their share of the time, against full trials.
ASHA_SHARE = 0.5


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m study.reproduce", argument_default=argparse.SUPPRESS,
                      description="Reproduce a report on its data (faithful study), search "
                                  "its method's space, and compare.")
    p.add_argument("report", help="report000 ... report004, or all")
    p.add_argument("--budget", choices=campaigns.BUDGETS,
                   help="smoke (tiny, for tests), quick (a 2-core CPU, about an hour per "
                        "report), full (the report's own epochs; a GPU) (default quick)")
    p.add_argument("--data-dir", help="where the report's dataset lives")
    p.add_argument("--only", action="append", metavar="STUDY",
                   help="run only this study file of the campaign (repeatable), e.g. "
                        "medmnist_resnet")
    p.add_argument("--repeats", type=int, help="seeds of the faithful and rerun studies "
                                               "(default: the budget's)")
    p.add_argument("--time-budget", metavar="DURATION",
                   help="split this over the campaign's studies, e.g. 2h")
    add_placement_options(p)
    p.add_argument("--storage", help="results root, a local directory (default "
                                    f"./{SPEC_DEFAULTS['storage']})")
    p.add_argument("--name", help="campaign directory name (default REPORT-BUDGET)")
    p.add_argument("--resume", action="store_true",
                   help="continue the campaign --name, skipping its finished studies")
    p.add_argument("--overwrite", action="store_true", help="replace the campaign --name")
    return p


#: Options ``--resume`` takes; the rest is the saved campaign's.
RESUME_OPTIONS = {"report", "name", "storage", "address", "resume"}


@dataclasses.dataclass
class Step:
    """One study of the campaign: its name, kind, study file and (once known) its spec."""

    study: str
    kind: str
    spec: StudySpec | None
    weight: float


def main(argv: list[str] | None = None) -> int:
    with interrupt.deferred():
        return exit_code(lambda: _run(sys.argv[1:] if argv is None else argv))


def _run(argv: list[str]) -> int:
    from study.run import driver_logging

    driver_logging()
    args = vars(parser().parse_args(argv))
    reports = campaigns.names() if args["report"] == "all" else [args["report"]]
    if len(reports) > 1 and "name" in args:
        raise StudyError("--name names one campaign; with all each is named REPORT-BUDGET")
    if args.get("resume") and args.get("overwrite"):
        raise StudyError("--resume and --overwrite exclude each other")
    if args.get("resume") and set(args) - RESUME_OPTIONS:
        given = sorted(set(args) - RESUME_OPTIONS)[0].replace("_", "-")
        raise StudyError(f"--resume continues the campaign as it was started: --{given} "
                         "cannot change")
    code = ExitCode.OK
    for report in reports:
        code = max(code, run_campaign(campaigns.load(report), args))
        if code == ExitCode.INTERRUPTED:
            break
    return code


def run_campaign(campaign: campaigns.Campaign, args: dict[str, Any]) -> int:
    """Run (or resume) one campaign; returns its exit code."""
    root = storage.resolve(args.get("storage", SPEC_DEFAULTS["storage"]))
    if storage.is_uri(root):
        raise StudyError("--storage: a campaign runs on local storage (copy it up after)")
    saved = _read_manifest(root, args) if args.get("resume") else None
    settings = saved["settings"] if saved else _settings(campaign, args)
    folder = Path(root) / settings["name"]
    options = campaigns.Options(**settings["options"])
    if args.get("address"):
        options = dataclasses.replace(options, address=args["address"])
    studies = settings["only"] or campaign.studies
    unknown = sorted(set(studies) - set(campaign.studies))
    if unknown:
        raise StudyError(f"--only {unknown[0]}: {campaign.report} has "
                         f"{', '.join(campaign.studies)}")
    steps = plan_steps(campaign, studies, options, str(folder))
    if saved is None:
        _claim(folder, bool(args.get("overwrite")))
        manifest = {"report": campaign.report, "title": campaign.title,
                    "rows": [dataclasses.asdict(r) for r in campaign.rows
                             if r.study in studies],
                    "settings": settings, "done": {}}
    else:
        manifest = saved
    _write_manifest(folder, manifest)
    print(f"{campaign.report}: {campaign.title}\n{len(steps)} studies in {folder} "
          f"(budget {options.budget})")
    from study import launch

    # the campaign's time so far: this run's, and what earlier runs spent (--resume)
    started, earlier, budget = time.monotonic(), manifest.get("spent", 0.0), settings["time_budget"]
    for i, step in enumerate(steps, 1):
        name = f"{step.study}-{step.kind}"
        if name in manifest["done"]:
            print(f"[{i}/{len(steps)}] {name}: finished earlier")
            continue
        spec = step_spec(step, steps, folder, options.address)
        if spec is None:
            print(f"[{i}/{len(steps)}] {name}: skipped, the searched study has no result")
            manifest["done"][name] = "skipped"
            _write_manifest(folder, manifest)
            continue
        left = _remaining(steps, manifest, i - 1)
        if budget is not None:
            spent = time.monotonic() - started + earlier
            spec = dataclasses.replace(spec, time_budget=share(budget, spent, step.weight,
                                                               left))
        print(f"\n[{i}/{len(steps)}] {name}: {spec.method} on {spec.dataset}, "
              f"{spec.num_samples} × {spec.repeats} trials"
              + (f", {format_duration(spec.time_budget)} of the budget"
                 if spec.time_budget else "")
              + _estimate(manifest, left))
        begun = time.monotonic()
        try:
            interrupt.check()  # a Ctrl-C between two studies stops the campaign here
            results = launch.fit(spec)
        except KeyboardInterrupt:
            results = None
        took = time.monotonic() - begun
        out_of_time = spec.time_budget is not None and took >= spec.time_budget
        if results is None or (launch.unfinished(spec, results) and not out_of_time):
            _write_manifest(folder, {**manifest, "spent": manifest.get("spent", 0.0) + took})
            print(f"interrupted; continue with: {_resume_command(campaign, folder, options)}",
                  file=sys.stderr)
            return ExitCode.INTERRUPTED
        manifest["done"][name] = "out of time" if out_of_time else "done"
        manifest["spent"] = manifest.get("spent", 0.0) + took
        manifest["weight_done"] = manifest.get("weight_done", 0.0) + step.weight
        manifest.setdefault("seconds", {})[name] = round(took, 1)
        _write_manifest(folder, manifest)
    from analysis import campaign as comparison

    written = comparison.write(folder)
    print("\n" + written.markdown + "\n\n" + "\n".join(f"written: {p}" for p in written.files))
    return ExitCode.OK


def _settings(campaign: campaigns.Campaign, args: dict[str, Any]) -> dict[str, Any]:
    """What defines the campaign run, saved in its manifest for ``--resume``."""
    budget = args.get("budget", "quick")
    options = campaigns.Options(
        budget=budget, data_dir=args.get("data_dir"), repeats=args.get("repeats"),
        cpus_per_trial=args.get("cpus_per_trial"), gpus_per_trial=args.get("gpus_per_trial"),
        max_concurrent=args.get("max_concurrent"), address=args.get("address"))
    if options.repeats is not None and options.repeats < 1:
        raise StudyError("--repeats must be at least 1")
    time_budget = args.get("time_budget")
    seconds = None if time_budget is None else parse_duration(time_budget, "--time-budget")
    if seconds is not None and seconds <= 0:
        raise StudyError("--time-budget must be positive")
    name = args.get("name", f"{campaign.report}-{budget}")
    if not name or "/" in name or name in (".", ".."):
        raise StudyError(f"--name {name!r}: must be a plain directory name")
    return {"name": name, "options": dataclasses.asdict(options), "time_budget": seconds,
            "only": args.get("only") or []}


def plan_steps(campaign: campaigns.Campaign, studies: list[str],
               options: campaigns.Options, folder: str) -> list[Step]:
    """Every study the campaign runs, its spec built (and so checked) up front where it
    can be; a rerun's needs its searched study's result."""
    from study.plan import resolve

    steps = []
    for study in studies:
        faithful = campaigns.faithful_spec(campaign, study, options, folder)
        searched = campaigns.searched_spec(campaign, study, options, folder, faithful)
        resolve(faithful), resolve(searched)  # a bad preset or --set fails before any run
        epochs = faithful.max_epochs
        steps += [Step(study, "faithful", faithful, faithful.num_samples * faithful.repeats
                       * epochs),
                  Step(study, "searched", searched, searched.num_samples * epochs * ASHA_SHARE),
                  Step(study, "rerun", None, faithful.repeats * epochs)]
    return steps


def step_spec(step: Step, steps: list[Step], folder: Path, address: str | None
              ) -> StudySpec | None:
    """The step's spec, its results in ``folder`` (also a campaign moved since) and on
    ``address`` where the resumed campaign gives one. A study started earlier resumes; a
    rerun repeats its searched study as that ran (its saved spec, also after the
    campaign's files or this code changed) with its best configuration, once per seed of
    the faithful study (None when the searched study has no result)."""
    study_dir = folder / f"{step.study}-{step.kind}"
    placed = {"storage": str(folder), **({"address": address} if address else {})}
    if (study_dir / TUNER_FILE).exists():
        return dataclasses.replace(load_saved(str(study_dir)), resume=True, overwrite=False,
                                   **placed)
    if step.spec is not None:
        return dataclasses.replace(step.spec, overwrite=(study_dir / SPEC_FILE).exists())
    from study.plan import resolve
    from study.space import parameters

    searched, faithful = (_as_it_ran(step.study, kind, steps, folder)
                          for kind in ("searched", "faithful"))
    if searched is None:
        return None
    best = best_configuration(folder / f"{step.study}-searched",
                              parameters(resolve(searched).space))
    if best is None:
        return None
    # a rerun whose Tuner never started (study.json, no tuner.pkl) is replaced
    searched = dataclasses.replace(searched, overwrite=(study_dir / SPEC_FILE).exists(),
                                   **placed)
    return campaigns.rerun_spec(step.study, searched, best, faithful.repeats)


def _as_it_ran(study: str, kind: str, steps: list[Step], folder: Path) -> StudySpec | None:
    """A campaign study's saved spec where it has started, else its planned one (None for
    a searched study that never started)."""
    study_dir = folder / f"{study}-{kind}"
    if (study_dir / SPEC_FILE).exists():
        return load_saved(str(study_dir))
    return None if kind == "searched" else next(
        s.spec for s in steps if s.study == study and s.kind == kind)


def share(budget: float, spent: float, weight: float, left: float) -> float:
    """A study's seconds: what is left of the campaign's budget, in proportion to its
    trial-epochs (``weight``) among those of the studies still to run (``left``); a
    second at least, so an overspent campaign still records every study.

    >>> share(3600, 600, 100, 300), share(3600, 4000, 100, 300)
    (1000.0, 1.0)
    """
    return max(1.0, (budget - spent) * weight / left)


def _remaining(steps: list[Step], manifest: dict[str, Any], start: int) -> float:
    return sum(s.weight for s in steps[start:]
               if f"{s.study}-{s.kind}" not in manifest["done"])


def _estimate(manifest: dict[str, Any], left: float) -> str:
    """The campaign's time left, from the pace of the studies finished so far."""
    spent, weights = manifest.get("spent", 0.0), manifest.get("weight_done", 0.0)
    if not weights:
        return ""
    return f"; campaign left ≈ {format_duration(spent / weights * left)}"


def _claim(folder: Path, overwrite: bool) -> None:
    """Make ``folder`` the campaign's: refuse an existing campaign unless ``--overwrite``,
    and never delete a directory that is not one."""
    if not folder.exists():
        folder.mkdir(parents=True)
        return
    if not (folder / MANIFEST).exists():
        if any(folder.iterdir()):
            raise StudyError(f"{folder} exists and is not a campaign; choose another --name")
        return
    if not overwrite:
        raise StudyError(f"campaign {folder} exists: --resume to continue it, --overwrite to "
                         "replace it")
    shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _read_manifest(root: str, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name")
    if name is None:
        raise StudyError("--resume needs --name of the campaign to continue")
    path = Path(root) / name / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise StudyError(f"{path.parent}: no {MANIFEST}; is this a campaign?") from None
    except ValueError as err:
        raise StudyError(f"{path}: unreadable ({err})") from None
    if manifest.get("report") != args["report"]:
        raise StudyError(f"--resume: {name} is a {manifest.get('report')} campaign, not "
                         f"{args['report']}")
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(folder / MANIFEST)


def _resume_command(campaign: campaigns.Campaign, folder: Path,
                    options: campaigns.Options) -> str:
    words = ["python", "-m", "study.reproduce", campaign.report, "--name", folder.name,
             "--storage", str(folder.parent)]
    if options.address:
        words += ["--address", options.address]
    return " ".join(shlex.quote(w) for w in [*words, "--resume"])


if __name__ == "__main__":
    sys.exit(main())
