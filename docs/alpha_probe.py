"""Renders what an edit model does inside its crop, for the test photos of docs/before_after.py:
per row the crop, then for each edit the model's output and its alpha (white: pasted, black: the
photo's own pixels). Shows where a model repaints a photo rather than what the paste makes of it
(python docs/alpha_probe.py MODELS_DIR [--out PNG]). Prints the mean alpha of each edit over
the photos' crops: how much of the crop the model repaints."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from before_after import MEDIA, ROWS
from mirror.align import Alignment
from mirror.contract import from_tensor, to_tensor
from mirror.landmarks import Landmarker
from mirror.models import default_registry

# (target P(female), gender asked, age shift): the card's condition of an edit model.
EDITS = [("to male", (0.0, 1.0, 0.0)), ("to female", (1.0, 1.0, 0.0)), ("older", (0.5, 0.0, 1.0)),
         ("younger", (0.5, 0.0, -1.0))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("models")
    p.add_argument("--out", default=str(Path(__file__).with_name("alpha_probe.png")))
    p.add_argument("--side", type=int, default=160, help="tile side in pixels")
    a = p.parse_args()
    model = default_registry(a.models).require("edit")
    landmarks = Landmarker(max_faces=1, video=False)
    rows, opened = [], np.zeros(len(EDITS))
    for name in ROWS:
        photo = cv2.imread(str(MEDIA / name))
        crop = Alignment.from_landmarks(landmarks(photo)[0].xy, model.spec).crop(photo)
        tiles = [crop]
        for i, (_, condition) in enumerate(EDITS):
            out = model.run(to_tensor(crop[None]), np.array([condition], np.float32))
            opened[i] += out["alpha"].mean() / len(ROWS)
            tiles.append(np.clip(from_tensor(out["image"])[0], 0, 255).astype(np.uint8))
            tiles.append(cv2.cvtColor(np.round(out["alpha"][0, 0] * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
        rows.append(np.hstack([cv2.resize(t, (a.side, a.side), interpolation=cv2.INTER_NEAREST) for t in tiles]))
    head = np.zeros((28, rows[0].shape[1], 3), np.uint8)
    for i, label in enumerate(["crop"] + [f"{e} {k}" for e, _ in EDITS for k in ("", "alpha")]):
        cv2.putText(head, label.strip(), (i * a.side + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(a.out, np.vstack([head, *rows]))
    print(a.out, "mean alpha:", ", ".join(f"{e} {v:.3f}" for (e, _), v in zip(EDITS, opened)))


if __name__ == "__main__":
    main()
