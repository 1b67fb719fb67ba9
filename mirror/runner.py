"""Two stages on two cores: `first` on a worker thread, `second` on the caller's thread.

The pipeline's halves (landmarks and crops; generator and blending) each take a few milliseconds in
native code that releases the GIL (MediaPipe, ONNX Runtime, OpenCV), so while frame n is translated
and blended, frame n+1 is read and its landmarks found: on two cores the frame rate approaches that
of the slower half rather than of their sum. Stage one runs at most `depth` items ahead, so memory
stays flat and latency bounded, and with one thread per stage the order is kept.

    for result in overlap(frames, pipeline.front, pipeline.back):
        ...

`stream` does that for items that carry a frame (`.image`) and gives each back with its result:
the CLI's `run` and `mirror bench` use it. The GUI's worker (mirror/gui/worker.py) calls `overlap`
itself, since its stages do more around the halves (the window's settings, mirroring, posting).
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

if TYPE_CHECKING:
    from .pipeline import Pipeline, Result

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")

_END = object()


class _Failed:
    """An exception raised in stage one (or by the items' iterator), carried to the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


def overlap(items: Iterable[T], first: Callable[[T], U], second: Callable[[U], V], depth: int = 1) -> Iterator[V]:
    """Yields `second(first(item))` for each item, in order. The items are iterated and `first` runs
    on a worker thread, `second` on the caller's. At most `depth` items are taken beyond the one in
    `second`: the next item is read only when `second` finishes one, so with depth 1 a frame
    waits at most one `second` between the stages (latency ~ first + second, never a queue of
    stale frames). An exception in either stage ends the iteration and is raised here; so does
    closing the generator early (a `break`), which also stops the worker."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    handoff: queue.Queue = queue.Queue()
    slots = threading.Semaphore(depth + 1)  # items taken and not yet through `second`
    stop = threading.Event()

    def take_slot() -> bool:
        # With a timeout, so that a consumer that went away cannot leave the worker blocked.
        while not stop.is_set():
            if slots.acquire(timeout=0.05):
                return True
        return False

    def work() -> None:
        try:
            it = iter(items)
            while take_slot():
                item = next(it, _END)
                if item is _END:
                    break
                handoff.put(first(item))
            handoff.put(_END)
        except BaseException as e:  # noqa: BLE001 - everything goes to the consumer
            handoff.put(_Failed(e))

    worker = threading.Thread(target=work, name="mirror-stage-one", daemon=True)
    worker.start()
    try:
        while True:
            got = handoff.get()
            if got is _END:
                return
            if isinstance(got, _Failed):
                raise got.error
            out = second(got)
            slots.release()
            yield out
    finally:
        stop.set()
        worker.join()


def serial(items: Iterable[T], first: Callable[[T], U], second: Callable[[U], V]) -> Iterator[V]:
    """The same on one thread: the baseline `overlap` is measured against."""
    for item in items:
        yield second(first(item))


def stream(pipeline: Pipeline, items: Iterable[T], overlapped: bool = True) -> Iterator[tuple[T, Result]]:
    """(item, result) for each item, in order: `item.image` (a frame, changed in place) through the
    pipeline's halves, overlapped or not."""
    stages = overlap if overlapped else serial
    return stages(items, lambda item: (item, pipeline.front(item.image, copy=False)),
                  lambda pair: (pair[0], pipeline.back(pair[1])))
