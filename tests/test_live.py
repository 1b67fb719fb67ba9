"""The live loop's Qt-free parts (mirror/live.py): the drop-oldest queue, capture, composition."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from mirror.live import DropOldest, compose


def test_queue_drops_the_oldest():
    q = DropOldest(2)
    for i in range(5):
        q.put(i)
    assert (q.get(0), q.get(0), q.get(0.01), q.dropped) == (3, 4, None, 3)


def test_compose_shows_before_left_of_the_divider():
    before, after = np.zeros((2, 4, 3), np.uint8), np.full((2, 4, 3), 9, np.uint8)
    assert compose(before, after, False, 0.5) is after
    assert compose(before, after, True, 0.5)[:, :, 0].tolist() == [[0, 0, 9, 9]] * 2


def test_needs_no_qt():
    code = "import sys; sys.modules['PySide6'] = None; import mirror.live"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
