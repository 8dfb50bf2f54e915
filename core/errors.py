"""How a command ends: the errors a user or the environment can cause, and their exit codes.

The exit codes of ``study.run``, ``analysis.report`` and ``analysis.compare`` (README,
"Exit codes"); every command body runs under :func:`exit_code`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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


def exit_code(body: Callable[[], int]) -> int:
    """Run a command's ``body``; errors a user can cause become one line on stderr and their
    exit code (OSError included: a file that cannot be read or written)."""
    try:
        return body()
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return ExitCode.USAGE
    except StudyAborted as err:
        print(f"stopped: {err}", file=sys.stderr)
        return ExitCode.ABORTED
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
