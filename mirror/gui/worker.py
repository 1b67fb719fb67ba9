"""Capture and the pipeline's two halves, each on its own thread, so that the window never waits
for any of them (the capture thread, its queue and the recorder are Qt-free, in mirror/live.py;
here they are wired to the pipeline and to the window's thread).

    capture --(drop-oldest queue of one)--> stage one --(one frame)--> stage two --(mailbox of one)--> window

The capture thread reads the source at its own pace (a camera's, or a video's frame rate) and never
waits for the model: when processing is slower, the oldest frames are dropped, so the picture stays
current and the frame rate falls instead of the latency growing. Processing is the pipeline's two
halves overlapped by `mirror.runner.overlap`, as in `mirror run` and `mirror bench`: stage one
(landmarks, crops, masks) on its own thread, stage two (generator, blending, overlays) on the
processing thread, so on two cores the frame rate is that of the slower half. Stage one reads the
window's latest `Prefs` for every frame, so a moved slider shows in the first frame begun after it
(the one in stage two and the one already past stage one keep theirs). Results go to the window
through a mailbox that holds only the newest one: a busy window skips frames rather than queueing
them.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QMetaObject, QObject, Qt, Slot

from ..errors import MirrorError
from ..live import Capture, Captured, DropOldest, Recorder, as_bgr, compose  # noqa: F401 - DropOldest: tests
from ..models import Registry
from ..pipeline import FaceResult, Overlay, Pipeline, Settings, Work
from ..runner import overlap
from ..translate import Effect
from ..vcam import VirtualCamera
from .settings import Prefs
from .sources import Choice


@dataclass
class Shown:
    """One processed frame and how it was made."""

    before: np.ndarray  # the camera's frame as shown (mirrored when asked), BGR
    after: np.ndarray  # the transformed frame, with any overlays, BGR
    faces: list[FaceResult]
    timings: dict[str, float]  # the pipeline's ms per stage
    latency: float  # ms from reading the frame to its result
    prefs: Prefs  # the settings this frame was made with
    index: int


@dataclass
class Fronted:
    """A frame between the stages: what stage two needs to finish and show it."""

    item: Captured
    prefs: Prefs  # read once, in stage one: the whole frame is made with them
    before: np.ndarray
    work: Work | None  # None when stage one failed
    error: str | None = None


@dataclass
class News:
    """Something the window should say: the source `ended` (or a lost camera `resumed`), a
    `problem` that does not stop it, or `recording` stopped on an error."""

    kind: str
    message: str


class Wake(QObject):
    """Runs `callback` on the thread that made it (the window's) when `poke`d from any thread.

    Not a Signal: in PySide6 6.12 every Signal.emit() from Python drops a reference to the `True`
    object, and at 60 emits a second the interpreter dies within minutes ("deallocating True").
    A queued invokeMethod does the same job without it."""

    def __init__(self, callback: Callable[[], None]):
        super().__init__()
        self.callback = callback

    @Slot()
    def wake(self) -> None:
        self.callback()

    def poke(self) -> None:
        QMetaObject.invokeMethod(self, "wake", Qt.ConnectionType.QueuedConnection)


class Worker:
    """Owns the threads (capture; processing, which starts stage one's). It calls `notify` on the
    window's thread when there is news; `take()` then gives the newest frame and what happened
    since the last call."""

    def __init__(self, registry: Registry, prefs: Prefs, notify: Callable[[], None],
                 extras: Callable[[], Overlay] | None = None, marks: Overlay | None = None):
        self.registry = registry
        self.prefs = replace(prefs)
        self.extras = extras  # builds the landmark-anchored overlays (mirror.overlay), when there are
        self.marks = marks  # draws the landmarks and the mask
        self.queue = DropOldest(1)
        self.recorder = Recorder()
        self.camera: VirtualCamera | None = None  # the virtual webcam, while on
        self.revote = threading.Event()  # swap asked for again: the faces' votes start afresh
        self.capture: Capture | None = None
        self.opened = 0  # counts source openings: what an older one still sends is dropped
        self.scene = 0  # the opening stage one's tracks come from
        self.stopping = threading.Event()
        self.wake = Wake(notify)
        self.mailbox_lock = threading.Lock()
        self.latest: Shown | None = None
        self.news: list[News] = []
        self.processor = threading.Thread(target=self._process, name="mirror-process", daemon=True)
        self.processor.start()

    # -- the window's side

    def open(self, choice: Choice) -> None:
        """Switch to a source (or reopen the current one); opening happens on the capture thread,
        since a camera can take a second to open."""
        self._stop_capture(wait=0.5)
        self.opened += 1
        self.queue.clear()
        self.capture = Capture(choice, self.queue, self.opened, self._told)
        self.capture.start()

    def set_prefs(self, prefs: Prefs) -> None:
        self.prefs = replace(prefs)  # a copy: the window may change its own while a frame is made

    def take(self) -> tuple[Shown | None, list[News]]:
        with self.mailbox_lock:
            shown, news = self.latest, self.news
            self.latest, self.news = None, []
            return shown, news

    @property
    def dropped(self) -> int:
        return self.queue.dropped

    def close(self) -> None:
        self._stop_capture(wait=5.0)
        self.stopping.set()
        self.processor.join(timeout=5)
        try:
            self.recorder.stop()
        except MirrorError as e:  # the window is closing: stderr is where that can still be said
            print(f"mirror: error: {e}", file=sys.stderr)
        self.set_camera(False)

    def _stop_capture(self, wait: float) -> None:
        """Stops the capture thread, waiting at most `wait` s: a camera stuck opening must not
        freeze the window (the thread then ends on its own, its frames dropped)."""
        if self.capture is not None:
            self.capture.stop()
            self.capture.join(timeout=wait)
            self.capture = None

    # -- the processing thread

    def _told(self, kind: str, message: str, opened: int) -> None:
        if opened == self.opened:
            self._post(news=News(kind, message))

    def _post(self, shown: Shown | None = None, news: News | None = None) -> None:
        """Into the mailbox, which keeps only the newest frame; one wake-up per take, so a busy
        window does not pile them up."""
        with self.mailbox_lock:
            idle = self.latest is None and not self.news
            if shown is not None:
                self.latest = shown
            if news is not None:
                self.news.append(news)
        if idle:
            self.wake.poke()

    def _process(self) -> None:
        try:
            pipeline = Pipeline(self.registry, video=True)
            extras = [self.extras()] if self.extras else []
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            self._post(news=News("ended", f"Cannot start the face pipeline: {e}"))
            return
        shown_error = None
        with pipeline:
            for error in overlap(self._captured(), lambda item: self._front(pipeline, item, extras),
                                 lambda fronted: self._back(pipeline, fronted)):
                if error and error != shown_error:
                    self._post(news=News("problem", error))
                shown_error = error

    def _captured(self):
        """The current source's frames until the worker closes (iterated on stage one's thread)."""
        while not self.stopping.is_set():
            item = self.queue.get(timeout=0.1)
            if item is not None and item.opened == self.opened:
                yield item

    def _front(self, pipeline: Pipeline, item: Captured, extras: list[Overlay]) -> Fronted:
        """Stage one: the window's prefs, mirroring, landmarks, crops and masks; the frame's
        settings and overlays go with it into the pipeline, read once from the prefs."""
        prefs = self.prefs
        before = as_bgr(item.image)
        if prefs.mirrored:
            before = cv2.flip(before, 1)
        settings = Settings(Effect(prefs.gender, prefs.age, prefs.intensity))
        # The landmarks go last, on top of any make-up, so they stay visible.
        overlays = (extras if prefs.overlays else []) + ([self.marks] if prefs.landmarks and self.marks else [])
        try:
            # A new source's faces are not the old one's. `new_scene`, not `pipeline.reset()`: the
            # previous frame may still be in stage two. Copied: `before` is shown beside the result.
            work = pipeline.front(before, new_scene=item.opened != self.scene, settings=settings, overlays=overlays)
        except Exception as e:
            return Fronted(item, prefs, before, None, self._failed(e))
        self.scene = item.opened  # only once a frame of it got through: else the next one starts it
        return Fronted(item, prefs, before, work)

    def _back(self, pipeline: Pipeline, fronted: Fronted) -> str | None:
        """Stage two: generator, blending and overlays, into the mailbox; returns a problem to
        report, if any."""
        prefs, before, item = fronted.prefs, fronted.before, fronted.item
        after, faces, timings, error = before, [], {}, fronted.error
        if self.revote.is_set():  # here: the votes are stage two's
            self.revote.clear()
            pipeline.translator.votes.clear()
        if fronted.work is not None:
            try:
                result = pipeline.back(fronted.work)
                after, faces, timings = result.image, result.faces, result.timings
            except Exception as e:
                error = self._failed(e)
        latency = (time.perf_counter() - item.time) * 1000
        failed = self.recorder.write(compose(before, after, prefs.split, prefs.divider), item.index)
        self._post(Shown(before, after, faces, timings, latency, prefs, item.index),
                   News("recording", failed) if failed else None)
        off = self._to_camera(after, item.fps)
        if off:
            self._post(news=off)
        return error

    def set_camera(self, on: bool) -> None:
        """The virtual webcam on or off (from the window); it opens on the next frame, at its size."""
        old, self.camera = self.camera, VirtualCamera() if on else None
        if old is not None:
            old.close()

    def _to_camera(self, after: np.ndarray, fps: float) -> News | None:
        """The transformed view (mirrored when the view is) to the virtual webcam, when on."""
        camera = self.camera
        if camera is None:
            return None
        try:
            camera.send(after, fps)
        except MirrorError as e:  # no device: said once, and the camera goes off
            self.set_camera(False)
            return News("camera", f"Virtual camera off: {e}")
        return None

    @staticmethod
    def _failed(e: Exception) -> str:
        """A failing model shows the plain camera and says why, once."""
        if not isinstance(e, MirrorError):
            traceback.print_exc(file=sys.stderr)
        return f"Effect failed: {e}"
