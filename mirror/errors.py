"""The one error type that the command line turns into a one-line message, and SIGTERM as an
interruption like Ctrl-C."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class MirrorError(Exception):
    """A problem with the user's input or environment, worth one clear line, not a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM. A KeyboardInterrupt, so that it unwinds the same way as Ctrl-C: every `finally`
    and `with` runs and removes what is half-written (Python's default for SIGTERM is to die on the
    spot, leaving temporary files behind)."""


def exit_code(stop: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process that a signal ended."""
    return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)


def stopped_how(stop: KeyboardInterrupt) -> str:
    return "terminated" if isinstance(stop, Terminated) else "stopped"


def _raise(signum, frame):
    raise Terminated()


@contextmanager
def terminate_as_interrupt():
    """Within: SIGTERM raises Terminated (in the main thread, the only one that may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_held():
    """Within: Ctrl-C and SIGTERM wait for the block to end, then act as they would have. For a write
    that must not be cut: torch's zip writer, interrupted mid-file, raises its own error on the way
    out (a traceback instead of the one-line stop)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])
