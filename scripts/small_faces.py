"""Small faces: the smallest face that video picks up, and the smallest it keeps, against stills.

For each test photo and frame size, clips are built at decreasing face size (the face's landmark
box, brow to chin, as a fraction of the frame height): the photo walks in from the frame's edge to
its centre over `--frames` frames (synthetic motion). A face is "picked up" when the real pipeline
(video mode, the shipped gender model, "to female") changes it somewhere in the clip; "kept" is the
smallest size to which a face found at 30% stays changed when the clip shrinks it frame by frame;
"still" runs the still-image path on the centred frame. Both video detectors are measured: the
full-range one (now) and MediaPipe's short-range one (before), with the landmark stage's
milliseconds on detection frames and on tracking frames (the machine may be busy: compare within
one run).

    python scripts/small_faces.py [--frames 20] [--photos astronaut.png obama.jpg biden.jpg] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import face_box, photo, placed  # noqa: E402

from mirror.landmarks import Landmarker  # noqa: E402
from mirror.models import Registry, default_registry  # noqa: E402
from mirror.pipeline import Pipeline, Settings  # noqa: E402
from mirror.translate import Effect  # noqa: E402

SIZES = ((640, 480), (1280, 720))
HEIGHTS = (0.30, 0.25, 0.20, 0.17, 0.14, 0.12, 0.10, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03)


def video(registry: Registry, full_range: bool) -> Pipeline:
    Landmarker.FULL_RANGE = full_range
    return Pipeline(registry, Settings(Effect("female")), video=True)


def changed(pipeline: Pipeline, frame) -> tuple[bool, float]:
    """Whether a face was changed, and the landmark stage's milliseconds."""
    result = pipeline(frame)
    return any(r.changed for r in result.faces), result.timings["landmarks"]


def walk_in(image, box, height, size, frames):
    """From half outside the left edge to the centre."""
    for i in range(frames):
        x = -0.02 + 0.52 * i / max(frames - 1, 1)
        yield placed(image, box, height, size, (x, 0.5))


def picked_up(registry, image, box, size, full_range, frames, ms):
    found = []
    for height in HEIGHTS:
        with video(registry, full_range) as pipeline:
            for frame in walk_in(image, box, height, size, frames):
                hit, took = changed(pipeline, frame)
                if not hit:  # the detector ran on the whole frame and found nothing
                    ms["detect"].append(took)
                    continue
                found.append(height)
                for _ in range(Landmarker.DETECT_EVERY - 1):  # tracking frames, no detector
                    ms["track"].append(changed(pipeline, frame)[1])
                break
    return min(found, default=None)


def kept(registry, image, box, size, full_range, frames):
    """The face found at 30% and shrunk to 2% over `frames` * 3 frames: the last size changed."""
    last = None
    with video(registry, full_range) as pipeline:
        for height in np.geomspace(0.30, 0.02, frames * 3):
            if changed(pipeline, placed(image, box, height, size, (0.5, 0.5)))[0]:
                last = round(float(height), 3)
            elif last is not None:
                break
    return last


def still(image, box, size):
    with Landmarker(max_faces=4, video=False) as lm:
        return min((h for h in HEIGHTS if lm(placed(image, box, h, size, (0.5, 0.5)))), default=None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--photos", nargs="+", default=["astronaut.png", "obama.jpg", "biden.jpg"])
    p.add_argument("--models", type=Path, default=None)
    args = p.parse_args()
    registry = default_registry(args.models)
    rows = []
    for name in args.photos:
        image = photo(name)
        box = face_box(image)
        for size in SIZES:
            row = {"photo": name, "size": f"{size[0]}x{size[1]}", "still": still(image, box, size)}
            for full_range, label in ((False, "short-range (before)"), (True, "full-range (now)")):
                ms = {"detect": [], "track": []}
                row[label] = {
                    "picked up": picked_up(registry, image, box, size, full_range, args.frames, ms),
                    "kept down to": kept(registry, image, box, size, full_range, args.frames),
                    "ms detect frame": round(float(np.median(ms["detect"] or [0])), 1),
                    "ms track frame": round(float(np.median(ms["track"] or [0])), 1),
                }
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
