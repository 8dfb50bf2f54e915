"""Ctrl-C while a study starts: noted at once, acted on at a safe point.

Python raises KeyboardInterrupt wherever the main thread happens to be, and during start-up
that is often inside an import: torch, half-imported, then fails the next import with an
unrelated RuntimeError and a long traceback. Under :func:`deferred`, a handler only
notes the first Ctrl-C (a second one interrupts at once); :func:`check` raises
KeyboardInterrupt at the safe points between the start-up steps. Once Tune's loop runs, Tune
handles Ctrl-C itself (stop the trials, save the state); a Ctrl-C noted just before is passed
on to it by :func:`hand_to_tune`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()


def note_from_now() -> None:
    """Note Ctrl-C from this moment on: a command-line module run as ``__main__`` calls it
    before its own imports, which :func:`deferred` (in its ``main``) cannot cover; what is
    noted meanwhile stays noted."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _note)


@contextmanager
def deferred() -> Iterator[None]:
    """Within: note Ctrl-C instead of raising (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _note)
    if previous is not _note:  # not noting yet (note_from_now): forget earlier presses
        _requested.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def _note(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed (under :func:`deferred`)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def hand_to_tune() -> None:
    """Inside Tune's loop: send a Ctrl-C noted before the loop began to Tune's own handler."""
    if _requested.is_set():
        _requested.clear()
        signal.raise_signal(signal.SIGINT)
