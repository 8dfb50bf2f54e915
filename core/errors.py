"""How a command ends: the errors a user or the environment can cause, and their exit codes
(README, "Errors and exit codes"); :mod:`core.cli` turns them into one line each."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the command-line tools."""

    OK = 0  #: the study ran to its end; every trial completed or was stopped early
    INTERNAL = 1  #: a bug: Python's traceback
    USAGE = 2  #: a mistake in the input: one line, nothing ran, nothing was overwritten
    TRIALS_FAILED = 3  #: the study ran to its end, but some trials failed
    NO_RESULT = 4  #: the study ran to its end, but no trial completed or was stopped early
    ABORTED = 5  #: stopped early (storage lost, resources never came): ``--resume`` continues
    INTERRUPTED = 130  #: Ctrl-C: ``--resume`` continues


class StudyError(Exception):
    """A mistake in the user's input: the CLI prints it as one line and exits with code 2."""


class StudyAborted(Exception):
    """The study stopped before its end for a reason outside its input (the storage became
    unwritable, the resources never came); what was written is kept. Exit code 5."""
