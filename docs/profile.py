"""The pipeline alone, serially, on a clip: the loop to profile (docs/performance.md).

Uses only `Registry`, `Pipeline`, `Settings` and `Effect`, so the same script profiles any revision:

    python -m cProfile -s tottime docs/profile.py --models DIR | head -40
    py-spy record --native -o profile.svg -- python docs/profile.py --models DIR
"""

import argparse
import time

import cv2

from mirror.models import Registry
from mirror.pipeline import Pipeline, Settings
from mirror.translate import Effect

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--models", required=True)
p.add_argument("--clip", default="assets/sample.mp4")
p.add_argument("--frames", type=int, default=300)
args = p.parse_args()

with Pipeline(Registry(args.models), Settings(Effect("female")), video=True) as pipeline:
    cap = cv2.VideoCapture(args.clip)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(args.frames):
        ok, frame = cap.read()
        if not ok:  # from the start again
            cap = cv2.VideoCapture(args.clip)
            ok, frame = cap.read()
        pipeline(frame, copy=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
print(f"{args.frames} frames: {1000 * wall / args.frames:.1f} ms wall, {1000 * cpu / args.frames:.1f} ms CPU per frame")
