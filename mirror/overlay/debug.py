"""The debug view: mesh, blend mask and crop of every face."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..blend import face_mask

if TYPE_CHECKING:
    from ..pipeline import Result

def debug(image: np.ndarray, result: "Result") -> None:
    """The mesh (faint white), the blend's face mask (yellow outline) and the crop (magenta square,
    its clipped box in cyan) of every face, with its track id."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = np.array(sorted(FACEMESH_TESSELATION))
    h, w = image.shape[:2]
    for r in result.faces:
        xy = r.face.points[:, :2]
        x0, y0 = np.clip(np.floor(xy.min(0)).astype(int) - 1, 0, (w, h))
        x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int) + 2, 0, (w, h))
        if x1 > x0 and y1 > y0:  # the mesh at a third opacity: the face must stay visible beneath it
            roi = image[y0:y1, x0:x1]
            mesh = roi.copy()
            segs = np.round((xy[edges] - (x0, y0)) * 16).astype(np.int32)
            cv2.polylines(mesh, list(segs), False, (255, 255, 255), 1, cv2.LINE_AA, shift=4)
            cv2.addWeighted(roi, 0.67, mesh, 0.33, 0, dst=roi)
        a = r.alignment
        n = a.spec.size
        square = a.to_frame(np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float64))
        cv2.polylines(image, [np.round(square * 16).astype(np.int32)], True, (255, 0, 255), 1, cv2.LINE_AA, shift=4)
        if r.box is None:
            continue
        x0, y0, x1, y1 = r.box
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 0), 1)
        mask = a.uncrop(face_mask(a.to_crop(r.face.points), n), r.box)
        contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image[y0:y1, x0:x1], contours, -1, (0, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(image, f"#{r.face.track}", (x0 + 3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 0), 1, cv2.LINE_AA)
