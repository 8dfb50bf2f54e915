"""Search spaces as Ray's OptunaSearch wants them, with ``--set`` values fixed and checked,
and a study file's ``space:`` overrides applied.

A method's ``space(trial)`` is an Optuna define-by-run function. Fixing a parameter wraps
the trial so that ``suggest_*`` for that name returns the fixed value instead of sampling
it, after checking it against the very distribution the space asked for. Overriding a
parameter wraps it so that ``suggest_*`` samples the study file's range or choices instead
of the code's (:class:`OverriddenSpace`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from core.errors import StudyError

SpaceFn = Callable[[optuna.Trial], Any]


class _FixingTrial:
    """An Optuna trial whose fixed parameters are answered, not sampled."""

    def __init__(self, trial: Any, fixed: Mapping[str, Any], seen: set[str] | None = None
                 ) -> None:
        self._trial, self._fixed, self._seen = trial, fixed, seen

    def _note(self, name: str) -> None:
        if self._seen is not None:
            self._seen.add(name)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        self._note(name)
        if name not in self._fixed:
            return self._trial.suggest_float(name, low, high, step=step, log=log)
        value = self._fixed[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise StudyError(f"--set {name}={value!r}: expected a number in [{low}, {high}]")
        if not low <= value <= high:
            raise StudyError(f"--set {name}={value}: outside the space's range [{low}, {high}]")
        return float(value)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        self._note(name)
        if name not in self._fixed:
            return self._trial.suggest_int(name, low, high, step=step, log=log)
        value = self._fixed[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise StudyError(f"--set {name}={value!r}: expected an integer in [{low}, {high}]")
        if not low <= value <= high:
            raise StudyError(f"--set {name}={value}: outside the space's range [{low}, {high}]")
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self._note(name)
        if name not in self._fixed:
            return self._trial.suggest_categorical(name, choices)
        value = self._fixed[name]
        if value not in choices:
            raise StudyError(f"--set {name}={value!r}: not one of {list(choices)}")
        return value

    def __getattr__(self, item: str) -> Any:
        return getattr(self._trial, item)


#: Keys of a numeric override in a study file's ``space:`` section.
RANGE_KEYS = ("low", "high", "log", "step")


def check_overrides(overrides: Any, where: str) -> dict[str, Any]:
    """The shape of a ``space:`` section: each parameter maps to a list of choices or to a
    range ``{low, high, log, step}`` (any key may be left to the method's own)."""
    if not isinstance(overrides, dict):
        raise StudyError(f"{where}: `space` must map parameter names to a range or choices")
    for name, override in overrides.items():
        if isinstance(override, list):
            if not override:
                raise StudyError(f"{where}: space {name}: give at least one choice")
        elif isinstance(override, dict):
            unknown = sorted(set(override) - set(RANGE_KEYS))
            if unknown or not override:
                raise StudyError(f"{where}: space {name}: a range has keys "
                                 f"{', '.join(RANGE_KEYS)}, got {unknown or 'none'}")
        else:
            raise StudyError(f"{where}: space {name}: expected a list of choices or a range "
                             f"{{low: .., high: ..}}, got {override!r}")
    return overrides


class _OverridingTrial:
    """An Optuna trial whose overridden parameters are sampled from the study file's range
    or choices; each override must match the kind of parameter the space asks for."""

    def __init__(self, trial: Any, overrides: Mapping[str, Any]) -> None:
        self._trial, self._overrides = trial, overrides

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        low, high, step, log = self._range(name, float, low, high, step, log)
        return self._trial.suggest_float(name, low, high, step=step, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        low, high, step, log = self._range(name, int, low, high, step, log)
        return self._trial.suggest_int(name, low, high, step=step or 1, log=log)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        override = self._overrides.get(name, choices)
        if not isinstance(override, list):
            raise StudyError(f"space {name}: a categorical parameter (one of {list(choices)})"
                             ": give a list of choices")
        return self._trial.suggest_categorical(name, override)

    def _range(self, name: str, kind: type, low: Any, high: Any, step: Any, log: bool
               ) -> tuple[Any, Any, Any, bool]:
        if name not in self._overrides:
            return low, high, step, log
        override = self._overrides[name]
        if not isinstance(override, dict):
            raise StudyError(f"space {name}: a numeric parameter in [{low}, {high}]: give "
                             "{low: .., high: ..}, not a list")
        values = {"low": low, "high": high, "step": step, "log": log, **override}
        for key in ("low", "high", "step"):
            values[key] = _number(name, key, values[key], kind)
        if not isinstance(values["log"], bool):
            raise StudyError(f"space {name}: log must be true or false")
        low, high, step, log = (values[k] for k in ("low", "high", "step", "log"))
        if low > high:
            raise StudyError(f"space {name}: low {low} is above high {high}")
        if log and low <= 0:
            raise StudyError(f"space {name}: a log range needs low > 0, got {low}")
        if (log and step not in (None, 1)) or (step is not None and step <= 0):
            raise StudyError(f"space {name}: step {step} (a step must be positive, and a log "
                             "range takes none)")
        return low, high, step, log

    def __getattr__(self, item: str) -> Any:
        return getattr(self._trial, item)


def _number(name: str, key: str, value: Any, kind: type) -> Any:
    """A range bound as the parameter's type (YAML reads ``1e-5`` as a string)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_value(value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise StudyError(f"space {name}: {key} {value!r} must be "
                         f"{'an integer' if kind is int else 'a number'}")
    return value


class OverriddenSpace:
    """A method's space with a study file's ``space:`` overrides (a class, not a closure:
    Tune pickles the searcher for ``--resume``)."""

    def __init__(self, space: SpaceFn, overrides: Mapping[str, Any]) -> None:
        self.space, self.overrides = space, dict(overrides)

    def __call__(self, trial: Any) -> Any:
        return self.space(_OverridingTrial(trial, self.overrides))


def override(space: SpaceFn, overrides: Mapping[str, Any], draws: int = 64) -> SpaceFn:
    """``space`` with ``overrides`` applied, checked by sampling it: a name the space never
    asks for, an override of the wrong kind or an empty range is a StudyError."""
    if not overrides:
        return space
    overridden = OverriddenSpace(space, overrides)
    seen = parameters(overridden, draws)
    unknown = sorted(set(overrides) - seen)
    if unknown:
        raise StudyError(f"space {unknown[0]}: not a searched parameter (searched: "
                         f"{', '.join(sorted(seen))})")
    return overridden


def parameters(space: SpaceFn, draws: int = 64) -> set[str]:
    """The names ``space`` samples over ``draws`` random trials (conditional ones included)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(draws):
        trial = study.ask()
        space(trial)
        seen |= set(trial.params)
    return seen


class FixedSpace:
    """The define-by-run function handed to OptunaSearch: samples the free parameters and
    returns the fixed ones plus the constants (epochs, seed, method defaults) as Tune config.

    A class rather than a closure because Tune pickles the searcher into its experiment
    state for ``--resume``.
    """

    def __init__(self, space: SpaceFn, fixed: Mapping[str, Any], constants: Mapping[str, Any]
                 ) -> None:
        self.space, self.fixed, self.constants = space, dict(fixed), dict(constants)

    def __call__(self, trial: Any) -> dict[str, Any]:
        self.space(_FixingTrial(trial, self.fixed))
        return {**self.constants, **self.fixed}


def check_fixed(space: SpaceFn, fixed: Mapping[str, Any], defaults: Mapping[str, Any],
                draws: int = 64) -> dict[str, Any]:
    """Validate ``--set`` values against the space (by sampling it) and the method defaults.

    Returns the fixed values with defaults' types applied; raises StudyError for a value
    outside its distribution, of the wrong type, or for a name the method does not know.
    """
    fixed = dict(fixed)
    for name, value in fixed.items():
        if name in defaults:
            fixed[name] = _coerce(name, value, defaults[name])
    seen = asked(space, fixed, draws)
    unknown = sorted(set(fixed) - seen - set(defaults))
    if unknown:
        known = ", ".join(sorted(seen | set(defaults)))
        raise StudyError(f"--set {unknown[0]}: not a parameter of this method (known: {known})")
    return fixed


def asked(space: SpaceFn, fixed: Mapping[str, Any], draws: int = 64) -> set[str]:
    """The names ``space`` asks for over ``draws`` random trials when the ``fixed`` values
    answer theirs (a branch they close is never asked); StudyError for a fixed value
    outside its distribution."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(draws):
        space(_FixingTrial(study.ask(), fixed, seen))
    return seen


def check_choices(fixed: Mapping[str, Any], choices: Mapping[str, tuple[str, ...]]) -> None:
    """StudyError for a ``--set`` value outside the names its setting may take (a constant's
    ``CHOICES``: the space cannot check what it does not sample)."""
    for name, value in fixed.items():
        if name in choices and value not in choices[name]:
            raise StudyError(f"--set {name}={value!r}: choose from {', '.join(choices[name])}")


def _coerce(name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StudyError(f"--set {name}={value!r}: expected {kind.__name__} like {default!r}")
    if kind in (int, float) and value < 0:
        raise StudyError(f"--set {name}={value}: must not be negative")
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"latent_dim=40"`` -> ``("latent_dim", 40)``: ints, floats, true/false, else string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise StudyError(f"--set {text!r}: expected KEY=VALUE")
    return name.strip(), parse_value(raw.strip())


def parse_value(raw: str) -> Any:
    """A command-line value as int, float, bool or string."""
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return raw
