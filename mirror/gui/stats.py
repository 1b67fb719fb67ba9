"""The readouts' numbers: frames per second and mean milliseconds per stage, over the last frames."""

from __future__ import annotations

import collections

from ..pipeline import STAGES

KEYS = (*STAGES, "total", "latency")


class Meter:
    def __init__(self, frames: int = 30):
        self.times: collections.deque[float] = collections.deque(maxlen=frames)
        self.samples: collections.deque[dict[str, float]] = collections.deque(maxlen=frames)

    def add(self, now: float, timings: dict[str, float], latency: float) -> None:
        """`now` in seconds (any clock), `timings` the pipeline's ms per stage."""
        self.times.append(now)
        self.samples.append({**timings, "latency": latency})

    def reset(self) -> None:
        self.times.clear()
        self.samples.clear()

    @property
    def fps(self) -> float:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    def means(self) -> dict[str, float]:
        n = max(len(self.samples), 1)
        return {k: sum(s.get(k, 0.0) for s in self.samples) / n for k in KEYS}
