"""Helpers for tests of the desktop app: wait for a condition, the next frames a window shows, where
they changed (the fixtures themselves are in conftest.py)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtWidgets import QApplication


def wait(condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        QApplication.processEvents()
        time.sleep(0.005)


def next_frames(w, n: int = 1, where=lambda shown: True, timeout: float = 20.0):
    """The next `n` frames the window shows that satisfy `where`."""
    got = []

    def seen(_):
        if where(w.last):
            got.append(w.last)

    w.on_frame.append(seen)
    try:
        wait(lambda: len(got) >= n, timeout)
    finally:
        w.on_frame.remove(seen)
    return got[:n]


def changed_pixels(shown) -> tuple[np.ndarray, np.ndarray]:
    """(changed, in_faces): where the output differs from the camera frame, and the faces' boxes."""
    changed = np.any(shown.after != shown.before, axis=2)
    in_faces = np.zeros_like(changed)
    for r in shown.faces:
        if r.box is not None:
            x0, y0, x1, y1 = r.box
            in_faces[y0:y1, x0:x1] = True
    return changed, in_faces
