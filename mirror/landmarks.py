"""Landmarks: MediaPipe face mesh on every face in a frame, tracked and smoothed over time.

Raw mesh landmarks tremble by a pixel or so from frame to frame even on a still face; fed straight
to the alignment, that tremble becomes a shaking crop and a flickering face. A One-Euro filter per
tracked face removes it while still following fast motion without lag.
"""

from __future__ import annotations

import math
import os
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
    """Finds up to `max_faces` faces per frame.

    `video=True` runs the face mesh in tracking mode (fast, ~3 ms a frame: it follows each face from
    its last landmarks, and the detector runs only to find faces: see `_tracking_mesh`) and, with
    `smooth`, gives each face a stable track id and a One-Euro filter.
    `video=False` is for unrelated stills (an image, a folder): the mesh's own detector sees a
    downscaled frame and misses the smaller faces of a group photo, so the full-range face detector
    finds the faces first and the mesh then runs on each face's square patch, mapped back."""

    # Patch side for the per-face mesh, and how much wider than the detector's box the patch is:
    # the mesh's inner detector wants some context; tried in order until the mesh finds the face.
    PATCH = 256
    EXPANDS = (1.5, 1.2, 2.0)
    # Video: how often the detector looks for faces beyond the tracked ones (a sixth of a second
    # at 30 fps: a newcomer in a group waits no longer), while fewer than max_faces are tracked.
    DETECT_EVERY = 5
    # Video: the full-range face detector (small, distant faces) rather than MediaPipe's
    # short-range one; False is the stock graph (scripts/small_faces.py measures both).
    FULL_RANGE = True

    def __init__(self, max_faces: int = 4, video: bool = True, smooth: bool = True,
                 min_confidence: float = 0.5, fps: float = 30.0):
        import mediapipe as mp  # heavy import, deferred until a landmarker is really needed

        if max_faces < 1:
            raise MirrorError(f"max_faces must be at least 1, got {max_faces}")
        self.max_faces = max_faces
        self.video = video
        if video:
            self.mesh = _tracking_mesh(max_faces, min_confidence, self.FULL_RANGE)
        else:
            self.mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=2, refine_landmarks=True,
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
            )
        self.seen = 0  # faces the mesh tracked in the last frame (video)
        self.frame = 0
        self.detector = None if video else mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence)
        self.tracker = Tracker() if (video and smooth) else None
        self.dt = 1.0 / fps

    def __call__(self, frame_bgr: np.ndarray) -> list[Face]:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise MirrorError(f"landmarks need a 3-channel BGR frame, got shape {frame_bgr.shape}")
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        raw = self._track(rgb) if self.video else self._detect(rgb)
        if self.tracker is None:
            return [Face(p, i) for i, p in enumerate(raw)]
        return self.tracker.update(raw, self.dt)

    def _track(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        # The face detector runs while no face is tracked, and otherwise every DETECT_EVERY frames
        # to pick up newcomers, instead of on every frame with fewer than max_faces faces.
        detect = self.seen == 0 or (self.seen < self.max_faces and self.frame % self.DETECT_EVERY == 0)
        result = self.mesh.process({"image": rgb, "detect": detect})
        self.frame += 1
        faces: list[np.ndarray] = []
        for lm in result.multi_face_landmarks or []:
            pts = _points(lm, w, h)
            # A detection that MediaPipe fails to associate with a tracked face doubles it.
            if not any(_same_face(pts, f) for f in faces):
                faces.append(pts)
        self.seen = len(faces)
        return faces

    def _detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        dets = self.detector.process(rgb).detections or []
        dets = sorted(dets, key=lambda d: -d.score[0])[: self.max_faces]
        faces: list[np.ndarray] = []
        for d in dets:
            b = d.location_data.relative_bounding_box
            centre = np.array([(b.xmin + b.width / 2) * w, (b.ymin + b.height / 2) * h])
            side = max(b.width * w, b.height * h)
            pts = next((p for e in self.EXPANDS if (p := self._mesh_patch(rgb, centre, e * side)) is not None), None)
            # Two detector boxes can lead the mesh to one face: keep it once.
            if pts is not None and not any(_same_face(pts, f) for f in faces):
                faces.append(pts)
        return faces

    def _mesh_patch(self, rgb: np.ndarray, centre: np.ndarray, side: float) -> np.ndarray | None:
        """The mesh of the face nearest `centre` in a square patch of `side` frame pixels, in frame
        pixels; outside the frame the patch is black, so faces cut by the edge still fit."""
        n = self.PATCH
        s = n / side
        m = np.array([[s, 0, n / 2 - s * centre[0]], [0, s, n / 2 - s * centre[1]]])
        patch = cv2.warpAffine(rgb, m, (n, n), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
        found = self.mesh.process(patch).multi_face_landmarks
        if not found:
            return None
        pts = min((_points(lm, n, n) for lm in found), key=lambda p: np.linalg.norm(p[:, :2].mean(0) - n / 2))
        pts[:, :2] = (pts[:, :2] - m[:, 2]) / s
        pts[:, 2] /= s
        return pts

    def close(self) -> None:
        self.mesh.close()
        if self.detector is not None:
            self.detector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _tracking_mesh(max_faces: int, min_confidence: float, full_range: bool = True):
    """MediaPipe's face mesh for video, its detector switched by a `detect` input per frame.

    The stock graph gates its face detector on "fewer than max_num_faces faces tracked": with room
    for four faces and one in view, it runs the detector on every frame (about a third of the
    landmark time at 640x480, more on larger frames). This is the same graph with that gate's
    condition supplied by the caller; the tracking (each face's next crop from its last landmarks)
    is MediaPipe's own."""
    import mediapipe as mp
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import face_mesh

    config = calculator_pb2.CalculatorGraphConfig()
    root = os.path.dirname(os.path.dirname(mp.__file__))
    with open(os.path.join(root, face_mesh._BINARYPB_FILE_PATH), "rb") as f:
        config.ParseFromString(f.read())
    gates = [n for n in config.node if n.calculator == "GateCalculator"
             and "DISALLOW:prev_has_enough_faces" in n.input_stream]
    if len(gates) != 1:
        raise MirrorError("this MediaPipe's face-mesh graph has no detector gate to drive (pinned: 0.10.21)")
    gate = gates[0]
    gate.input_stream.remove("DISALLOW:prev_has_enough_faces")
    gate.input_stream.append("ALLOW:detect")
    gate.ClearField("options")  # empty_packets_as_allow belonged to the old condition
    config.input_stream.append("DETECT:detect")
    # The stock detector is the short-range one (a 128 px view of the whole frame, selfie
    # distance): a face under ~15% of the frame height is never found, though once found the mesh
    # tracks it far smaller. The full-range one, which stills use, finds faces down to ~5%; it
    # runs only on the detection frames.
    detector = "FaceDetectionFullRangeCpu" if full_range else "FaceDetectionShortRangeCpu"
    for node in config.node:
        if node.calculator == "FaceDetectionShortRangeCpu":
            node.calculator = detector
    params = {  # as FaceMesh sets them
        f"{detector.lower()}__{detector.lower().removesuffix('cpu')}__facedetection__TensorsToDetectionsCalculator"
        ".min_score_thresh": min_confidence,
        "facelandmarkcpu__ThresholdingCalculator.threshold": min_confidence,
    }
    return SolutionBase(graph_config=config, calculator_params=params, outputs=["multi_face_landmarks"],
                        side_inputs={"num_faces": max_faces, "with_attention": True, "use_prev_landmarks": True})


def _points(landmarks, w: int, h: int) -> np.ndarray:
    return np.array([(p.x * w, p.y * h, p.z * w) for p in landmarks.landmark], dtype=np.float64)


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    size = np.ptp(a[:, :2], axis=0).max()
    return bool(np.linalg.norm(a[:, :2].mean(0) - b[:, :2].mean(0)) < 0.3 * size)
