"""Temporal stability of the generated change on a still face.

A generator, the int8 ones most, answers a sub-pixel shift of its crop, or a camera's noise, with
a change many times larger: on a perfectly still face the output flickers by a grey level or two,
more around the eyes. Smoothing the landmarks cannot remove that; smoothing the change can. Per
tracked face, the change (generated crop minus input crop) is blended with the face's previous
change, in crop space, by a running mean whose weight falls to 0

- everywhere, when the crop moved by more than `still_px` (the face moved: no lag, no ghost), or
  the effect, its strength or the face's swap direction changed;
- per pixel, where the crop itself changed beyond camera noise (a blink, the mouth opening).

So a still face gets the mean of its last few changes and a moving one its own change now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import cv2
import numpy as np


@dataclass
class _Last:
    matrix: np.ndarray  # the crop's frame-to-crop matrix
    crop: np.ndarray  # uint8, blurred: what the per-pixel gate compares
    change: np.ndarray  # float32 (S, S, 3), the stabilised change
    key: Hashable


class Stabiliser:
    """`keep`: the previous change's weight on a still face (0.8: about a 5-frame mean);
    `still_px`: crop motion (pixels of the crop) at which the weight reaches 0;
    `noise`: crop change (grey levels, after a slight blur) at which a pixel's weight reaches 0."""

    def __init__(self, keep: float = 0.8, still_px: float = 0.5, noise: float = 12.0):
        self.keep, self.still_px, self.noise = keep, still_px, noise
        self.last: dict[int, _Last] = {}

    def __call__(self, crops: np.ndarray, generated: np.ndarray, matrices: Sequence[np.ndarray],
                 tracks: Sequence[int], keys: Sequence[Hashable]) -> np.ndarray:
        """The generated crops (N, S, S, 3) float32 with each face's change stabilised."""
        out = generated.copy()
        seen = {}
        for i, (crop, track, m, key) in enumerate(zip(crops, tracks, matrices, keys)):
            change = generated[i] - crop
            smooth = cv2.GaussianBlur(crop, (0, 0), 1.0)
            last = self.last.get(track)
            if last is not None and last.key == key and last.change.shape == change.shape:
                w = self.keep * max(0.0, 1.0 - shift(last.matrix, m, crop.shape[0]) / self.still_px)
                if w > 0:
                    differ = cv2.cvtColor(cv2.absdiff(smooth, last.crop), cv2.COLOR_BGR2GRAY)
                    hold = 255 - cv2.convertScaleAbs(differ, alpha=255 / self.noise)  # 255 still .. 0 changed
                    hold = hold.astype(np.float32)[..., None] * np.float32(w / 255)
                    change += hold * (last.change - change)
                    out[i] = np.clip(crop + change, 0, 255)
            seen[track] = _Last(m, smooth, change, key)
        self.last = seen  # a face not in this frame starts afresh when it comes back
        return out

    def reset(self) -> None:
        """A new scene: no face's past applies."""
        self.last.clear()


def shift(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """How far (crop pixels, the most over the crop's corners) the same frame point moves in the
    crop between frame-to-crop matrices `a` and `b`."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    inv = cv2.invertAffineTransform(a)
    frame = corners @ inv[:, :2].T + inv[:, 2]
    return float(np.abs(frame @ b[:, :2].T + b[:, 2] - corners).max())
