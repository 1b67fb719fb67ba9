"""The pipeline: frame -> landmarks -> align -> translate -> blend -> overlays -> frame.

One `Pipeline` serves the CLI, the GUI and the benchmark: call it on each frame, with the frame's
own `settings` and `overlays` (the GUI's sliders and toggles: a value per call, nothing to assign
from outside), or without them to use `pipeline.settings` and `pipeline.overlays`, the defaults
given when it was made; read `Result.timings` for the milliseconds each stage took. Overlays (drawn
after blending) are callables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import cv2
import numpy as np

from . import blend, occlusion
from .align import Alignment, AlignSpec
from .errors import MirrorError
from .landmarks import Face, Landmarker
from .models import Registry
from .stabilise import Stabiliser
from .translate import Effect, Translator

STAGES = ("landmarks", "align", "translate", "blend", "overlay")


@dataclass
class Settings:
    """What the caller may change between frames."""

    effect: Effect = field(default_factory=Effect)
    blend: str = "soft"  # "soft" (feathered mask) or "seamless" (cv2.seamlessClone)
    colour: bool = True  # match the generated face's colour to the frame

    def check(self) -> None:
        self.effect.check()
        if self.blend not in blend.MODES:
            raise MirrorError(f"unknown blend {self.blend!r} (choose from {', '.join(blend.MODES)})")


@dataclass
class FaceResult:
    face: Face
    alignment: Alignment
    box: tuple[int, int, int, int] | None  # the face crop's box in the frame; None: wholly outside
    changed: bool = False
    female: float | None = None  # the classifier's P(female), when `swap` ran
    target: str | None = None  # the gender the face was turned towards ("female"/"male"), for overlays


@dataclass
class Result:
    image: np.ndarray
    faces: list[FaceResult]
    timings: dict[str, float]  # milliseconds per stage (STAGES) and "total"
    effect: Effect = field(default_factory=Effect)  # the effect the frame was made with


Overlay = Callable[[np.ndarray, Result], None]  # draws on result.image (BGR) in place


@dataclass
class Work:
    """A frame between `Pipeline.front` and `Pipeline.back`."""

    frame: np.ndarray  # as given
    image: np.ndarray  # BGR: the frame itself (copy=False) or a copy; the result is drawn on it
    bgr: bool  # whether `frame` was BGR (else the result goes back to its layout)
    settings: Settings
    spec: AlignSpec
    faces: list[FaceResult]
    todo: list[FaceResult]  # the faces to change
    crops: np.ndarray | None  # their crops, (N, S, S, 3) uint8
    masks: list[np.ndarray | None]  # their face-oval blend masks in crop space, without what covers
    # the face (None when only alpha models run: they paste through their own alpha)
    covers: list[np.ndarray]  # what covers each face (mirror/occlusion.py), 0..1 in crop space
    timings: dict[str, float]
    front_ms: float
    new_scene: bool = False
    overlays: Sequence[Overlay] | None = None  # this frame's; None: the pipeline's


class Pipeline:
    """`video=True` for a camera or video (tracking, smoothing, per-face votes carried over);
    `video=False` for unrelated stills (each frame on its own)."""

    def __init__(self, registry: Registry | None = None, settings: Settings | None = None, *,
                 video: bool = True, max_faces: int = 4, smooth: bool = True, fps: float = 30.0,
                 landmarker: Landmarker | None = None):
        self.registry = registry if registry is not None else Registry()
        self.settings = settings if settings is not None else Settings()
        self.settings.check()
        self.translator = Translator(self.registry)
        self.translator.plan(self.settings.effect)  # fail now, not at the first frame, on a missing model
        self.video = video
        self.landmarker = landmarker or Landmarker(max_faces=max_faces, video=video, smooth=smooth, fps=fps)
        self.overlays: list[Overlay] = []
        self.stabiliser = Stabiliser() if video else None  # a still face's change held still
        blend.warm_up()

    def __call__(self, frame: np.ndarray, copy: bool = True, settings: Settings | None = None,
                 overlays: Sequence[Overlay] | None = None) -> Result:
        """Transform one frame: BGR uint8, or grey, or BGRA (the result keeps the layout). With
        `copy=False` a BGR frame is changed in place. `settings` and `overlays`: this frame's
        (None: the pipeline's own)."""
        return self.back(self.front(frame, copy, settings=settings, overlays=overlays))

    # The two halves, for `mirror.runner.overlap`: front (landmarks, crops, masks) of frame n+1
    # runs on one core while back (generator, blending, overlays) of frame n runs on the other.
    # Only front touches the landmarker and only back the translator's votes, so each half may
    # run on its own thread.

    def front(self, frame: np.ndarray, copy: bool = True, new_scene: bool = False,
              settings: Settings | None = None, overlays: Sequence[Overlay] | None = None) -> Work:
        """`new_scene`: this frame starts a new scene (another source): `reset` done half by half,
        so that it is safe while the previous frame is still in `back`. `settings` and `overlays`:
        the whole frame's, carried to `back` (None: the pipeline's own)."""
        t0 = time.perf_counter()
        if frame.dtype != np.uint8:
            raise MirrorError(f"frames must be 8-bit, got {frame.dtype}")
        bgr = frame.ndim == 3 and frame.shape[2] == 3
        image = (frame.copy() if copy else frame) if bgr else _to_bgr(frame)
        # A snapshot: settings changed while this frame is between the halves apply from the next.
        given = self.settings if settings is None else settings
        settings = replace(given, effect=replace(given.effect))
        settings.check()
        effect = settings.effect
        timings = dict.fromkeys(STAGES, 0.0)
        clock = _Clock(timings)

        if new_scene and self.landmarker.tracker is not None:
            self.landmarker.tracker.tracks.clear()
        faces = self.landmarker(image)
        clock("landmarks")

        spec = self.translator.spec(effect)
        results = []
        for f in faces:
            a = Alignment.from_landmarks(f.points, spec)
            results.append(FaceResult(f, a, a.box(image.shape)))
        todo = [r for r in results if r.box is not None] if effect.active else []
        crops = np.stack([r.alignment.crop(image) for r in todo]) if todo else None
        points = [r.alignment.to_crop(r.face.points) for r in todo]
        covers = occlusion.covers(crops, points)
        oval = self.translator.oval(effect)
        masks = [blend.face_mask(p, spec.size) * (1.0 - c) if oval else None for p, c in zip(points, covers)]
        clock("align")
        return Work(frame, image, bgr, settings, spec, results, todo, crops, masks, covers, timings,
                    (time.perf_counter() - t0) * 1000, new_scene, None if overlays is None else list(overlays))

    def back(self, work: Work) -> Result:
        t0 = time.perf_counter()
        timings, settings, effect, image, todo = work.timings, work.settings, work.settings.effect, work.image, work.todo
        clock = _Clock(timings)
        if not self.video or work.new_scene:
            self.translator.reset()
            if self.stabiliser:
                self.stabiliser.reset()
        if todo:
            made = self.translator(work.crops, work.spec, effect, [r.face.track for r in todo],
                                   [r.alignment.to_crop(r.face.points) for r in todo])
            for i, r in enumerate(todo):
                r.female = None if made.female is None else float(made.female[i])
                r.target = self.translator.target(effect, r.face.track)
            images = made.images
            if self.stabiliser:  # an alpha model's output holds its whole change: it is steadied with it
                images = self.stabiliser(work.crops, images, [r.alignment.matrix for r in todo],
                                            [r.face.track for r in todo],
                                            [(effect.gender, effect.age, effect.intensity, r.target) for r in todo])
            clock("translate")
            for i, (r, crop, mask) in enumerate(zip(todo, work.crops, work.masks)):
                mask = blend.model_mask(mask, None if made.alpha is None else made.alpha[i], made.colour,
                                        work.covers[i])
                blend.paste(image, r.alignment, r.box, crop, images[i], mask, settings.blend,
                            settings.colour and made.colour)
                r.changed = True
            clock("blend")

        result = Result(image, work.faces, timings, effect)
        for overlay in self.overlays if work.overlays is None else work.overlays:
            overlay(image, result)
        clock("overlay")
        if not work.bgr:
            result.image = _from_bgr(image, work.frame)
        # Work time of both halves; a frame's wait between them (overlapped) is not counted here.
        timings["total"] = work.front_ms + (time.perf_counter() - t0) * 1000
        return result

    def reset(self) -> None:
        """A new scene: forget tracks, per-face votes and changes."""
        self.translator.reset()
        if self.stabiliser:
            self.stabiliser.reset()
        if self.landmarker.tracker is not None:
            self.landmarker.tracker.tracks.clear()

    def close(self) -> None:
        self.landmarker.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Clock:
    """Adds the time since the last call to timings[stage], in milliseconds."""

    def __init__(self, timings: dict[str, float]):
        self.timings, self.last = timings, time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] += (now - self.last) * 1000
        self.last = now


def _to_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise MirrorError(f"frames must be grey, BGR or BGRA, got shape {frame.shape}")


def _from_bgr(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Back to the input's layout; BGRA keeps its own alpha."""
    if like.ndim == 2 or like.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).reshape(like.shape)
    out = like.copy()
    out[..., :3] = image
    return out
