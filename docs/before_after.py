"""Renders docs/before_after.png: real test photos through the real pipeline with the shipped
models (python docs/before_after.py [--models DIR] [--out PNG])."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from mirror.models import default_registry
from mirror.pipeline import Pipeline, Settings
from mirror.translate import Effect

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "test-media"
ROWS = ["obama.jpg", "astronaut.png", "obama2.jpg", "biden.jpg"]
COLUMNS = [("input", Effect(intensity=0.0)), ("to female", Effect("female")), ("to male", Effect("male")),
           ("younger", Effect(age=-1.0)), ("older", Effect(age=1.0))]


def face_tile(image: np.ndarray, result, side: int = 256, reach: float = 0.85) -> np.ndarray:
    """A square around the first face, so the figure shows faces rather than whole photos; `reach`
    (in face sizes from the centre) takes in the hair too when larger."""
    pts = result.faces[0].face.xy
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    h, w = image.shape[:2]
    # The square is kept inside the photo (smaller, or off centre near an edge): past the edge
    # there would be only repeated border pixels, which read as the model's streaks.
    r = min(reach * max(x1 - x0, y1 - y0), min(h, w) / 2)
    c = np.clip(np.array([x0 + x1, y0 + y1]) / 2, r, np.array([w, h]) - r)
    m = np.array([[side / (2 * r), 0, side / 2 - c[0] * side / (2 * r)], [0, side / (2 * r), side / 2 - c[1] * side / (2 * r)]])
    return cv2.warpAffine(image, m, (side, side), borderMode=cv2.BORDER_REPLICATE)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", default=None)
    p.add_argument("--reach", type=float, default=0.85, help="tile half-side in face sizes (1.2 shows the hair)")
    p.add_argument("--out", default=str(Path(__file__).with_name("before_after.png")))
    a = p.parse_args()
    registry = default_registry(a.models)
    columns = [(label, e) for label, e in COLUMNS
               if not e.active or registry.serving("gender" if e.gender else "age") is not None]
    rows = []
    with Pipeline(registry, Settings(), video=False, max_faces=1) as pipe:
        for name in ROWS:
            frame = cv2.imread(str(MEDIA / name))
            tiles = []
            for label, effect in columns:
                pipe.settings.effect = effect
                result = pipe(frame)
                tile = face_tile(result.image, result, reach=a.reach)
                cv2.putText(tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
                tiles.append(tile)
            rows.append(np.hstack(tiles))
    cv2.imwrite(a.out, np.vstack(rows))
    print(a.out)


if __name__ == "__main__":
    main()
