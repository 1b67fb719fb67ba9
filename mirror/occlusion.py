"""Something held over the face: where it is, so that no effect, no lip colour above all, is
painted on it.

The face mesh places lips and eyes behind a hand or a bar as confidently as on a bare face, so the
generator's change and the lip overlay land on whatever covers them. Skin and lips are coloured
(their chroma in Lab is rarely under half the cheeks'); a bar, a phone, paper or a sleeve is
mostly grey, black or white, and flat. A flat pixel far less coloured than the cheeks and much
lighter or darker than them, or very much darker, counts as covered (teeth and the whites of the
eyes count too, which the change should leave alone anyway). A hand, coloured and textured like
the face, is not told apart: the effect is still drawn on it (that needs a segmentation model).
"""

from __future__ import annotations

import cv2
import numpy as np

# Bare cheek skin (the reference colour) and the outer lip ring, MediaPipe face-mesh indices.
CHEEKS = [50, 280, 205, 425, 101, 330]
LIPS = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 at and below `lo`, 1 at and above `hi`, linear between."""
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def covered(lab: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Per pixel of `lab` (float Lab, L 0..100, as cv2 gives it for float BGR in 0..1), 0..1: how
    surely it is something over the face rather than its skin or lips, against the cheeks' colour
    `skin`."""
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    grey = _ramp(-chroma / max(float(np.hypot(skin[1], skin[2])), 1.0), -0.5, -0.25)
    dl = lab[..., 0] - skin[0]
    apart = _ramp(np.abs(dl), 10.0, 20.0)
    return np.maximum(grey * apart, _ramp(-dl, 60.0, 75.0)) * flat(lab[..., 0])


def flat(lightness: np.ndarray, size: int = 3) -> np.ndarray:
    """Per pixel 0..1: how untextured its neighbourhood is (the spread of L over size x size):
    a bar or a phone is flat, a beard, brows or lashes are not."""
    mean = cv2.blur(lightness, (size, size))
    spread = np.sqrt(np.maximum(cv2.blur(lightness * lightness, (size, size)) - mean * mean, 0))
    return _ramp(-spread, -6.0, -3.0)


def cover(crop: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per pixel of the crop (float 0..1): how surely something covers the face there: flat pixels
    far less coloured than the cheeks. `points`: the face's landmarks in the crop. Worked out at
    half the crop's size (a cover is no finer than that), a quarter of the cost."""
    n = crop.shape[0]
    half = cv2.resize(crop, (n // 2, n // 2), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(half.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
    px = np.clip(np.round(points[CHEEKS, :2] / 2).astype(int), 0, n // 2 - 1)
    skin = np.median(lab[px[:, 1], px[:, 0]], axis=0)
    # Over the cover's edge too (not flat there), then softly.
    near = cv2.GaussianBlur(cv2.dilate(covered(lab, skin), np.ones((3, 3), np.uint8)), (0, 0), 0.75)
    return cv2.resize(near, (n, n), interpolation=cv2.INTER_LINEAR)


def covers(crops: np.ndarray | None, points: list[np.ndarray]) -> list[np.ndarray]:
    """`cover` for each face of a frame: every paste mask, the face oval's or a model's alpha, is
    multiplied by (1 - cover), so that the change (lip colour above all) stays off a bar or a phone."""
    return [cover(c, p) for c, p in zip(crops if crops is not None else [], points)]
