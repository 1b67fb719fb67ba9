"""The teacher's mean change per kind of edit, in the student's crop: what every pair of a kind
teaches at once (python docs/mean_change.py RENDERS [--identities N] [--glasses LEVEL] [--out PNG]).
A place the teacher changes the same way in most of its edits (glasses, grey hair, the teeth) shows
as a clear shape; what changes differently each time averages away. With `--glasses LEVEL` the
age edits `mirror-train train --drop-glasses LEVEL` leaves out get tiles of their own. The picture
is a signed difference (less red shows as green), so it also prints each kind's mean change of
colour in Lab inside the inner lips of open mouths, and the mouths' redness after."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from mirror.align import AlignSpec
from trainer.pairs import STORE, landmarks_in, rendered, replicate, resample, worn

INNER_LIPS = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]


def mouth(crop: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """The mean Lab colour (OpenCV's 8-bit scale: a*, b* neutral at 128) inside the inner lips,
    None for a closed mouth."""
    inside = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(points[INNER_LIPS, :2]).astype(np.int32)], 1)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[inside > 0].astype(np.float32).mean(0) if inside.sum() >= 30 else None


def kind(condition: np.ndarray) -> str:
    if condition[1]:
        return "to female" if condition[0] > 0.5 else "to male"
    return "older" if condition[2] > 0 else "younger"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("renders", type=Path)
    p.add_argument("--identities", type=int, default=600, help="the first N rendered identities")
    p.add_argument("--glasses", type=float, default=0.0, help="split the age edits at this `worn` level")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--margin", type=float, default=0.3)
    p.add_argument("--out", default=str(Path(__file__).with_name("mean_change.jpg")))
    a = p.parse_args()
    spec, changes, mouths = AlignSpec(a.size, a.margin), {}, {}
    for path in sorted((a.renders / "pairs").glob("[0-9]*.npz"))[: a.identities]:
        with np.load(path) as f:
            if not f["found"]:
                continue
            inside, stored = rendered(f["matrix"]), landmarks_in(f["points"], f["matrix"], STORE)
            crops = [resample(replicate(c, inside), spec).astype(np.float32) for c in f["crops"]]
            for k, condition in enumerate(f["conditions"], 1):
                if not f["kept"][k - 1]:
                    continue
                name = kind(condition)
                if a.glasses and not name.startswith("to ") and abs(worn(f["crops"][0], f["crops"][k], stored)) > a.glasses:
                    name += ", left out"
                changes.setdefault(name, []).append(crops[k] - crops[0])
                before, after = mouth(f["crops"][0], stored), mouth(f["crops"][k], stored)
                if before is not None:
                    mouths.setdefault(name, []).append(np.r_[after - before, after[1]])
    tiles = []
    order = ["to female", "to male", "older", "older, left out", "younger", "younger, left out"]
    for name, moved in sorted(changes.items(), key=lambda item: order.index(item[0])):
        tile = cv2.resize(np.clip(128 + 4 * np.mean(moved, 0), 0, 255).astype(np.uint8), (256, 256))
        cv2.putText(tile, f"{name} ({len(moved)})", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
        tiles.append(tile)
        m = np.mean(mouths.get(name, [[np.nan] * 4]), 0)
        print(f"{name}: {len(moved)} edits; open mouths: {len(mouths.get(name, []))}, Lab change "
              f"{m[0]:+.1f} / {m[1]:+.1f} / {m[2]:+.1f}, a* after {m[3]:.1f} (128 neutral)")
    if not tiles:
        raise SystemExit(f"{a.renders}: no kept pairs")
    cv2.imwrite(a.out, np.hstack(tiles))


if __name__ == "__main__":
    main()
