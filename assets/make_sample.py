"""Builds assets/sample.mp4, the clip the app plays when the machine has no camera.

No public-domain video of a face was at hand, so the clip is one still photo (astronaut.png, NASA,
public domain) moved by a virtual camera: a gentle sway, a slow zoom and a slight head tilt. Every
motion is a whole number of cycles over the clip, so it loops without a jump.

    python assets/make_sample.py [--image PATH] [--out PATH] [--seconds S] [--fps F] [--size WxH]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
IMAGE = HERE.parents[1] / "shared" / "test-media" / "astronaut.png"
# The part of the 512 px photo the virtual camera looks at: her head and shoulders. The photo has
# little room above her hair, so PAD rows of its own background, smeared upwards, are added there.
PAD = 60
CENTRE = (240.0, 160.0 + PAD)
WIDTH = 440.0


def padded(photo: np.ndarray) -> np.ndarray:
    top = cv2.copyMakeBorder(photo[:8], PAD, 0, 0, 0, cv2.BORDER_REPLICATE)[:PAD]
    top = cv2.GaussianBlur(top, (0, 0), 9)
    return np.vstack([top, photo])


def frame_at(photo: np.ndarray, phase: float, size: tuple[int, int]) -> np.ndarray:
    """The view at `phase` (0..1 over one loop) as a `size` (w, h) BGR frame."""
    w, h = size
    turn = 2 * math.pi * phase
    cx = CENTRE[0] + 14 * math.sin(turn)
    cy = CENTRE[1] + 7 * math.sin(2 * turn + 0.8)
    zoom = 1.0 + 0.06 * math.sin(turn + 1.9)
    angle = 3.0 * math.sin(turn + 0.4)  # degrees
    scale = w / WIDTH * zoom
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += (w / 2 - cx, h / 2 - cy)  # the window's centre lands at the frame's centre
    return cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def make_clip(out: Path, image: Path = IMAGE, seconds: float = 7.0, fps: float = 25.0,
              size: tuple[int, int] = (640, 480)) -> int:
    """Writes the clip (mp4v for .mp4, MJPG for .avi) and returns its frame count."""
    photo = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if photo is None:
        raise SystemExit(f"cannot read {image}")
    photo = padded(photo)
    fourcc = "MJPG" if out.suffix.lower() == ".avi" else "mp4v"
    video = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not video.isOpened():
        raise SystemExit(f"cannot write {out}")
    n = round(seconds * fps)
    for i in range(n):
        video.write(frame_at(photo, i / n, size))
    video.release()
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=Path, default=IMAGE)
    p.add_argument("--out", type=Path, default=HERE / "sample.mp4")
    p.add_argument("--seconds", type=float, default=7.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", default="640x480", help="WxH")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    n = make_clip(args.out, args.image, args.seconds, args.fps, size)
    print(f"{args.out}: {n} frames, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
