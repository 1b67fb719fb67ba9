"""The live loop's parts that need no GUI: a drop-oldest queue, the capture thread that reads a
source at its own pace (a lost camera looked for again), the recorder, and the frame composition.
The desktop app (mirror/gui/worker.py) wires them to the pipeline and to Qt; nothing here imports Qt.

    capture --(drop-oldest queue of one)--> the pipeline's two halves --> recorder, view, camera

`mirror run` and `mirror bench` read their sources in their own loop instead: a file there must
give every frame, in order, where a live view drops the oldest to stay current.
"""

from __future__ import annotations

import collections
import itertools
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .errors import MirrorError
from .output import VideoWriter
from .source import Frame, Source, open_source

STILL_FPS = 15.0  # how often a still image is processed again
HOLD_SECONDS = 3.0  # each image of a folder
RETRY_SECONDS = 3.0  # how often a lost camera is looked for again



@dataclass
class Captured:
    image: np.ndarray
    index: int
    time: float  # time.perf_counter() when read
    opened: int  # which opening of a source (Worker.opened) it comes from
    fps: float = 30.0  # the source's frame rate (the virtual camera runs at it)


class DropOldest:
    """A bounded FIFO queue whose `put` never blocks: when full, the oldest item goes."""

    def __init__(self, size: int = 1):
        self.items: collections.deque = collections.deque(maxlen=size)
        self.ready = threading.Condition()
        self.dropped = 0

    def put(self, item) -> None:
        with self.ready:
            if len(self.items) == self.items.maxlen:
                self.dropped += 1
            self.items.append(item)
            self.ready.notify()

    def get(self, timeout: float):
        """The oldest item, or None after `timeout` seconds without one."""
        with self.ready:
            if not self.items:
                self.ready.wait(timeout)
            return self.items.popleft() if self.items else None

    def clear(self) -> None:
        with self.ready:
            self.items.clear()


class Capture(threading.Thread):
    """Opens a source and feeds its frames into `queue` until stopped or the source ends; then
    calls `tell("ended", why, opened)` (straight away: a source that cannot open need not wait for
    the model). A camera is looked for again every RETRY_SECONDS until it is back, which is told
    as "resumed"."""

    def __init__(self, choice, queue: DropOldest, opened: int, tell: Callable[[str, str, int], None]):
        """`choice`: what to open, with its `label`, `spec` (for open_source), `loop` and `camera`
        (mirror.gui.sources.Choice)."""
        super().__init__(name="mirror-capture", daemon=True)
        self.choice, self.queue, self.opened, self.tell = choice, queue, opened, tell
        self.stopping = threading.Event()

    def run(self) -> None:
        lost = False
        while not self.stopping.is_set():
            try:
                with open_source(self.choice.spec) as source:
                    if lost:
                        self.tell("resumed", f"{self.choice.label} is back.", self.opened)
                        lost = False
                    played = self._play(source)
                if self.stopping.is_set():
                    return
                if source.skipped and not played:
                    raise MirrorError(f"no image in {self.choice.label} could be read ({source.skipped[0]})")
                if self.choice.loop or source.kind in ("image", "folder"):
                    continue
                message = (f"{self.choice.label} stopped sending pictures (unplugged?)." if source.kind == "camera"
                           else f"End of {self.choice.label}.")
            except MirrorError as e:
                message = f"{e}."
            except Exception as e:  # a decoder crash must not take the app down
                traceback.print_exc(file=sys.stderr)
                message = f"{self.choice.label} failed: {e}"
            if not self.choice.camera:
                self.tell("ended", message, self.opened)
                return
            if not lost:  # said once; the retries are silent
                self.tell("ended", f"{message} Waiting for it: the view comes back by itself.", self.opened)
                lost = True
            self.stopping.wait(RETRY_SECONDS)

    def _play(self, source: Source) -> bool:
        """Whether any frame came."""
        still = source.kind in ("image", "folder")
        fps = STILL_FPS if still else source.fps
        # A still is sent again and again, so that slider changes show on it: a folder's images
        # for HOLD_SECONDS each, a lone image until stopped.
        hold = None if source.kind == "image" else round(HOLD_SECONDS * fps) if still else 1
        due, played = time.perf_counter(), False
        for frame in source:
            played = True
            for _ in itertools.repeat(None) if hold is None else range(hold):
                if self.stopping.is_set():
                    return played
                if source.kind != "camera":  # a camera paces itself; files would race ahead
                    due = _sleep_until(due, 1.0 / fps)
                self.queue.put(Captured(frame.image, frame.index, time.perf_counter(), self.opened, fps))
        return played

    def stop(self) -> None:
        self.stopping.set()


def _sleep_until(due: float, period: float) -> float:
    """Waits for `due` and returns the next due time; a source that fell behind starts afresh
    rather than rushing through frames to catch up."""
    now = time.perf_counter()
    if due > now:
        time.sleep(due - now)
        now = due
    return max(due + period, now)


class Recorder:
    """Writes frames to a video while on. Its lock lets the window start and stop it while the
    processing thread writes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writer: VideoWriter | None = None

    def start(self, path: Path, fps: float) -> None:
        with self.lock:
            self._close()
            self.writer = VideoWriter(path, fps)

    def write(self, image: np.ndarray, index: int) -> str | None:
        """Returns an error message when writing fails (the recording then stops)."""
        with self.lock:
            if self.writer is None:
                return None
            try:
                self.writer.write(Frame(image, index, ""), image)
            except (MirrorError, OSError, cv2.error) as e:
                try:
                    self._close()
                except MirrorError as kept:  # what was recorded could not be read back either
                    return f"Recording stopped: {e}; {kept}"
                return f"Recording stopped: {e}"
        return None

    def stop(self) -> tuple[Path, int] | None:
        """The file and its frame count, or None when nothing was recording; a MirrorError when
        the video written does not read back whole (a full disk)."""
        with self.lock:
            if self.writer is None:
                return None
            done = (self.writer.path, self.writer.frames)
            self._close()
            return done

    def _close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()


def as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def compose(before: np.ndarray, after: np.ndarray, split: bool, divider: float) -> np.ndarray:
    """What the view shows: `after`, or with `split` the `before` frame left of the divider."""
    if not split:
        return after
    out = after.copy()
    x = round(divider * out.shape[1])
    out[:, :x] = before[:, :x]
    return out
