"""Alignment: a similarity transform from face landmarks to a canonical crop, and its inverse.

The trainer prepares its crops with this very module, so a model sees live faces cropped exactly as
the faces it was trained on. The crop is the lens recipe's "expand the box": five anchor points
(eye centres, nose tip, mouth corners) are mapped onto a fixed template, and `margin` widens the
window around that template so that forehead, chin and cheeks fit inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# MediaPipe face-mesh indices. "Right" is the subject's right eye, i.e. the image's left.
RIGHT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
NOSE_TIP = 1
MOUTH_RIGHT, MOUTH_LEFT = 61, 291

# The widely used 5-point template of 112x112 face crops, as fractions of the crop side.
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
) / 112.0


@dataclass(frozen=True)
class AlignSpec:
    """How faces are cropped: side of the square crop in pixels and the extra border around the
    template (0.1 adds a tenth of the template box on every side; UTKFace's tight photos leave little more)."""

    size: int = 128
    margin: float = 0.1

    def template(self) -> np.ndarray:
        """The five anchor points in crop pixels."""
        return (0.5 + (TEMPLATE - 0.5) / (1.0 + 2.0 * self.margin)) * self.size

    def to_dict(self) -> dict:
        return {"size": self.size, "margin": self.margin}

    @classmethod
    def from_dict(cls, d: dict) -> "AlignSpec":
        return cls(size=int(d["size"]), margin=float(d["margin"]))


def anchors(landmarks: np.ndarray) -> np.ndarray:
    """The five anchor points (in the landmarks' pixel space) from 468 or 478 mesh landmarks."""
    pts = landmarks[:, :2]
    return np.stack([
        pts[RIGHT_EYE].mean(0), pts[LEFT_EYE].mean(0), pts[NOSE_TIP], pts[MOUTH_RIGHT], pts[MOUTH_LEFT],
    ])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) taking src to dst
    (Umeyama 1991), as a 2x3 matrix. Closed form: deterministic, unlike RANSAC estimators."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m)


@dataclass
class Alignment:
    """One face's crop: `matrix` maps frame pixels to crop pixels."""

    matrix: np.ndarray
    spec: AlignSpec

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, spec: AlignSpec) -> "Alignment":
        return cls(similarity(anchors(landmarks), spec.template()), spec)

    @property
    def inverse(self) -> np.ndarray:
        return invert(self.matrix)

    def crop(self, frame: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
        """The canonical face crop; outside the frame the border pixels repeat, so that faces cut by
        the image edge still give the model a plausible picture. (Teacher renders are tighter than
        a wide crop: their pairs mirror the border instead, which streaks less over large areas.)"""
        n = self.spec.size
        return cv2.warpAffine(frame, self.matrix, (n, n), flags=cv2.INTER_LINEAR, borderMode=border)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return points[:, :2] @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        inv = self.inverse
        return points[:, :2] @ inv[:, :2].T + inv[:, 2]

    def box(self, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        """The crop's bounding box in the frame, clipped to it: (x0, y0, x1, y1), or None when the
        crop lies wholly outside the frame."""
        n = self.spec.size
        corners = self.to_frame(np.array([[0, 0], [n, 0], [0, n], [n, n]], dtype=np.float64))
        h, w = frame_shape[:2]
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            return None
        return int(x0), int(y0), int(x1), int(y1)

    def uncrop(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Warp a crop-space image (the generated face, a mask) back into the frame region `box`
        only: the exact inverse of `crop`, never a full-frame warp."""
        x0, y0, x1, y1 = box
        inv = self.inverse.copy()
        inv[:, 2] -= (x0, y0)
        return cv2.warpAffine(image, inv, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def between(a: AlignSpec, b: AlignSpec) -> np.ndarray:
    """The 2x3 matrix taking crop pixels of spec `a` to crop pixels of spec `b` for the same face.
    Both templates are scaled, centred copies of one template and the fit is least squares, so this
    holds for every face: a crop is resampled to another spec without going back to the frame."""
    k = (b.size * (1 + 2 * a.margin)) / (a.size * (1 + 2 * b.margin))
    t = 0.5 * b.size - k * 0.5 * a.size
    return np.array([[k, 0.0, t], [0.0, k, t]])
