"""The "landmarks and mask" overlay: what the pipeline found and where it pastes, drawn on the
frame, to see why a face looks the way it does."""

from __future__ import annotations

import cv2
import numpy as np

from ..blend import face_mask
from ..pipeline import Result

POINT = (120, 230, 120)  # BGR
MASK = (255, 200, 60)
BOX = (110, 110, 110)
TINT = 0.25  # how strongly the mask tints the face where it is 1


def draw(image: np.ndarray, result: Result) -> None:
    """A pipeline overlay: the blend mask (tinted by its own softness, outlined where it passes
    one half), the landmark dots, the face's box and, after a swap, the classifier's P(female)."""
    scale = max(1, round(image.shape[1] / 640))
    for r in result.faces:
        if r.box is not None:
            _mask(image, r, scale)
        for x, y in np.round(r.face.points[:, :2]).astype(int):
            cv2.circle(image, (x, y), scale, POINT, -1, cv2.LINE_4)
        if r.box is not None and r.female is not None:
            x0, y0 = r.box[:2]
            cv2.putText(image, f"P(female) {r.female:.2f}", (x0 + 4, max(y0 - 6, 12)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, MASK, scale, cv2.LINE_AA)


def _mask(image: np.ndarray, r, scale: int) -> None:
    a, (x0, y0, x1, y1) = r.alignment, r.box
    mask = a.uncrop(face_mask(a.to_crop(r.face.points), a.spec.size), r.box)
    roi = image[y0:y1, x0:x1]
    weight = (TINT * mask)[..., None]
    roi[...] = (roi * (1 - weight) + np.array(MASK, np.float32) * weight).astype(np.uint8)
    contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(roi, contours, -1, MASK, scale, cv2.LINE_AA)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), BOX, 1, cv2.LINE_AA)
