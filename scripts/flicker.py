"""Flicker: how much the output of a perfectly still face changes from frame to frame beyond what
the camera's own noise changes it, with the change stabiliser (mirror/stabilise.py) and without;
and whether it lags a moving face.

Clips from the test photos (synthetic: a still photo, plus Gaussian noise of 1.5 grey levels per
frame as a real camera has; for the moving clip the photo also slides 1.5 px a frame) go through
the real pipeline with the shipped models. Reported, over the face (the landmarks' hull) and the
eyes (discs round the irises), after a warm-up:

- added flicker: mean |output(t) - output(t-1)| minus the same for the input frames, grey levels;
- eye pixels that change by 3 or more between consecutive outputs (the inputs' share beside it);
- lag: on the moving clip, mean |output with the stabiliser - output without| over the face.

    python scripts/flicker.py [--frames 60] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import face_box, photo, placed, sensor_noise  # noqa: E402

from mirror.models import default_registry  # noqa: E402
from mirror.pipeline import Pipeline, Settings  # noqa: E402
from mirror.translate import Effect  # noqa: E402

SIZE = (640, 480)
WARMUP = 10
CASES = (("astronaut.png", "male"), ("obama.jpg", "female"), ("biden.jpg", "female"))
IRISES = (468, 473)


def clip(name: str, frames: int, speed: float) -> list[np.ndarray]:
    image = photo(name)
    box = face_box(image)
    rng = np.random.default_rng(0)
    return [sensor_noise(placed(image, box, 0.35, SIZE, (0.5 + speed * i / SIZE[0], 0.45)), rng)
            for i in range(frames)]


def regions(points: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    face, eyes = np.zeros(shape[:2], np.uint8), np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(points[:, :2].astype(np.int32)), 1)
    a, b = points[IRISES[0], :2], points[IRISES[1], :2]
    for c in (a, b):
        cv2.circle(eyes, tuple(int(v) for v in c), int(0.3 * np.linalg.norm(a - b)), 1, -1)
    return face > 0, eyes > 0


def outputs(registry, frames, gender: str, stabilise: bool):
    with Pipeline(registry, Settings(Effect(gender)), video=True) as pipeline:
        if not stabilise:
            pipeline.stabiliser = None
        results = [pipeline(f) for f in frames]
    return [r.image for r in results], results[-1].faces[0].face.points


def steps(images, where) -> tuple[float, float]:
    """Mean |x(t) - x(t-1)| over `where`, and the share of its pixels changing by 3 or more."""
    d = [np.abs(b.astype(np.int16) - a).max(axis=2)[where] for a, b in zip(images[WARMUP:], images[WARMUP + 1:])]
    d = np.stack(d)
    return float(d.mean()), float((d >= 3).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--models", type=Path, default=None)
    args = p.parse_args()
    registry = default_registry(args.models)
    for name, gender in CASES:
        still = clip(name, args.frames, 0.0)
        row = {"photo": name, "effect": gender}
        for stabilise in (False, True):
            out, points = outputs(registry, still, gender, stabilise)
            face, eyes = regions(points, still[0].shape)
            (face_in, _), (eyes_in, share_in) = steps(still, face), steps(still, eyes)
            (face_out, _), (eyes_out, share_out) = steps(out, face), steps(out, eyes)
            row["stabilised" if stabilise else "plain"] = {
                "added flicker, face": round(face_out - face_in, 3),
                "added flicker, eyes": round(eyes_out - eyes_in, 3),
                "eye pixels changing >= 3": f"{share_out:.1%} (input {share_in:.1%})"}
        moving = clip(name, args.frames, 1.5)
        plain, points = outputs(registry, moving, gender, False)
        held, _ = outputs(registry, moving, gender, True)
        face, _ = regions(points, moving[0].shape)
        row["lag on a face moving 1.5 px/frame"] = round(float(np.mean(
            [np.abs(a.astype(np.int16) - b).max(axis=2)[face].mean() for a, b in zip(plain[-20:], held[-20:])])), 3)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
