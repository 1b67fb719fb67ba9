"""Swap stability: how often `swap` changes a face's direction over a clip, before (a running
P(female) with hysteresis, throughout) and now (decided over a track's first frames, then kept).

The clip: the bundled assets/two_faces.mp4 (stills moved by a virtual camera: synthetic motion)
played `--loops` times; the astronaut's face is one the shipped classifier finds ambiguous. Per
face: the classifier's raw P(female) range over the frames, and the number of direction changes.

    python scripts/swap_stability.py [--loops 2] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mirror.gui.sources import SAMPLE
from mirror.models import default_registry
from mirror.pipeline import Pipeline, Settings
from mirror.source import open_source
from mirror.translate import Effect, _Vote


def two_faces(loops: int) -> list[np.ndarray]:
    with open_source(str(SAMPLE)) as clip:
        frames = [f.image for f in clip]
    return frames * loops


def directions(registry, frames, decide) -> dict:
    raw: dict[int, list[float]] = {}
    update = _Vote.update

    def recorded(vote, p, *args, **kwargs):
        raw.setdefault(id(vote), []).append(float(p))
        return update(vote, p, *args, **kwargs)

    _Vote.DECIDE, _Vote.update = decide, recorded
    targets: dict[int, list[str]] = {}
    try:
        with Pipeline(registry, Settings(Effect("swap")), video=True) as pipeline:
            for frame in frames:
                for r in pipeline(frame).faces:
                    if r.target:
                        targets.setdefault(r.face.track, []).append(r.target)
            ranges = {t: (min(raw[id(v)]), max(raw[id(v)])) for t, v in pipeline.translator.votes.items()}
    finally:
        _Vote.update = update
    return {f"track {t}": {"frames": len(seq), "P(female) range": [round(v, 2) for v in ranges.get(t, (0, 0))],
                           "direction changes": sum(a != b for a, b in zip(seq, seq[1:])),
                           "final": seq[-1]}
            for t, seq in targets.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loops", type=int, default=2)
    p.add_argument("--models", type=Path, default=None)
    args = p.parse_args()
    registry = default_registry(args.models)
    decided = _Vote.DECIDE
    frames = two_faces(args.loops)
    row = {"clip": SAMPLE.name, "frames": len(frames)}
    for label, decide in (("before (hysteresis)", None), (f"now (decided over {decided} frames)", decided)):
        row[label] = directions(registry, frames, decide)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
