"""Clips built from the still test photos for the measurement scripts: the motion is synthetic
(a virtual camera moving over a still photo), the faces are real."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "test-media"


def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(MEDIA / name), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {MEDIA / name}")
    return image


def face_box(image: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the landmark box of the photo's largest face, found as a still."""
    from mirror.landmarks import Landmarker

    with Landmarker(max_faces=4, video=False) as lm:
        faces = lm(image)
    if not faces:
        raise SystemExit("no face in the photo")
    xy = max(faces, key=lambda f: f.size()).xy
    return np.array([*xy.min(0), *xy.max(0)])


def placed(image: np.ndarray, box: np.ndarray, height: float, size: tuple[int, int],
           centre: tuple[float, float], backdrop: np.ndarray | None = None) -> np.ndarray:
    """The photo scaled so that the face's landmark box is `height` of the frame height, its
    centre at `centre` (in frame fractions), on `backdrop` (else mid grey) outside the photo."""
    w, h = size
    s = height * h / (box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    m = np.array([[s, 0, centre[0] * w - s * cx], [0, s, centre[1] * h - s * cy]])
    flags = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    frame = np.full((h, w, 3), 110, np.uint8) if backdrop is None else backdrop.copy()
    return cv2.warpAffine(image, m, (w, h), dst=frame, flags=flags, borderMode=cv2.BORDER_TRANSPARENT)


def sensor_noise(frame: np.ndarray, rng: np.random.Generator, sigma: float = 1.5) -> np.ndarray:
    """A camera's frame-to-frame noise on a still scene: Gaussian, `sigma` grey levels."""
    return np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)
