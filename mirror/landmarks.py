"""Landmarks: MediaPipe face mesh on every face in a frame, tracked and smoothed over time.

Raw mesh landmarks tremble by a pixel or so from frame to frame even on a still face; fed straight
to the alignment, that tremble becomes a shaking crop and a flickering face. A One-Euro filter per
tracked face removes it while still following fast motion without lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import MirrorError

N_LANDMARKS = 478


@dataclass
class Face:
    """One face in a frame: `points` are the 478 landmarks in frame pixels (x, y, z; z in pixel
    units of the frame width, as MediaPipe gives it), `track` a stable id across frames."""

    points: np.ndarray
    track: int = 0

    @property
    def xy(self) -> np.ndarray:
        return self.points[:, :2]

    def size(self) -> float:
        """The face's size in pixels: the diagonal of its landmark box."""
        lo, hi = self.xy.min(0), self.xy.max(0)
        return float(np.hypot(*(hi - lo)))


class OneEuro:
    """The One-Euro filter (Casiez et al., CHI 2012) on an array: smooths hard when the signal is
    slow, little when it moves fast."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        return self.x


@dataclass
class _Track:
    id: int
    filter: OneEuro
    centre: np.ndarray
    missed: int = 0


@dataclass
class Tracker:
    """Gives each face a stable id (nearest centre from the previous frame) and its own filter."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    tracks: list[_Track] = field(default_factory=list)
    _next: int = 0

    def update(self, raw: list[np.ndarray], dt: float) -> list[Face]:
        faces, free = [], list(self.tracks)
        for pts in raw:
            centre = pts[:, :2].mean(0)
            scale = np.ptp(pts[:, :2], axis=0).max()
            best = min(free, key=lambda t: np.linalg.norm(t.centre - centre), default=None)
            if best is None or np.linalg.norm(best.centre - centre) > 0.5 * scale:
                best = _Track(self._next, OneEuro(self.min_cutoff, self.beta), centre)
                self._next += 1
                self.tracks.append(best)
            else:
                free.remove(best)
            best.centre, best.missed = centre, 0
            faces.append(Face(best.filter(pts, dt), best.id))
        for t in free:
            t.missed += 1
        # A face that leaves for a few frames keeps its track; one gone longer starts afresh.
        self.tracks = [t for t in self.tracks if t.missed <= 5]
        return faces


class Landmarker:
    """Finds up to `max_faces` faces per frame. `video=True` tracks between frames (fast, ~5 ms);
    `video=False` detects afresh on every image (for unrelated stills, e.g. a folder)."""

    def __init__(self, max_faces: int = 4, video: bool = True, smooth: bool = True,
                 min_confidence: float = 0.5, fps: float = 30.0):
        import mediapipe as mp  # heavy import, deferred until a landmarker is really needed

        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
        )
        self.tracker = Tracker() if (video and smooth) else None
        self.dt = 1.0 / fps

    def __call__(self, frame_bgr: np.ndarray) -> list[Face]:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise MirrorError(f"landmarks need a 3-channel BGR frame, got shape {frame_bgr.shape}")
        h, w = frame_bgr.shape[:2]
        result = self.mesh.process(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
        raw = []
        for lm in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lm.landmark], dtype=np.float64)
            raw.append(pts)
        if self.tracker is None:
            return [Face(p, i) for i, p in enumerate(raw)]
        return self.tracker.update(raw, self.dt)

    def close(self) -> None:
        self.mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
