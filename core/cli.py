"""What the command-line tools (``study.run``, ``analysis.report``, ``analysis.compare``)
share: usage errors in one line, and the exit code of each way a command can end."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import NoReturn

from core.errors import ExitCode, StudyAborted, StudyError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit code 2, like StudyError."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"error: {message} (see {self.prog} -h)\n")


def command(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int],
            argv: list[str] | None) -> int:
    """Parse ``argv`` and ``run`` the command under :func:`exit_code` (warnings logged)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = parser.parse_args(argv)
    return exit_code(lambda: run(args))


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
