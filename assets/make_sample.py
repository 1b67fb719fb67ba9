"""Builds the bundled clips: assets/two_faces.mp4, which the app plays when the machine has no
camera, and assets/sample.mp4, one face, which `mirror bench` times.

No freely licensed video of faces was at hand, so a clip is still photos moved by a virtual
camera: a gentle sway, a slow zoom and a slight tilt. Every motion is a whole number of cycles over
the clip, so it loops without a jump. two_faces.mp4 shows a woman and a man side by side
(astronaut.png, NASA, public domain; obama.jpg, face_recognition's test image, MIT), so that every
effect, "to female" too, shows on a first launch; sample.mp4 the woman alone.

    python assets/make_sample.py                    # both
    python assets/make_sample.py --image PATH [--partner PATH] --out PATH [--seconds S] [--fps F] [--size WxH]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parents[1] / "shared" / "test-media"
IMAGE = MEDIA / "astronaut.png"
PARTNER = MEDIA / "obama.jpg"
# Each face's landmark box (x0, y0, x1, y1) in its photo, as mirror's still landmarker finds it:
# where a photo of the pair is cut so that the two faces come out the same size.
FACES = {"astronaut.png": (179, 70, 271, 177), "obama.jpg": (371, 125, 609, 423)}
FACE_HEIGHT = 0.30  # of the frame height, in the pair
# The part of the 512 px photo the virtual camera looks at: her head and shoulders. The photo has
# little room above her hair, so PAD rows of its own background, smeared upwards, are added there.
PAD = 60
CENTRE = (240.0, 160.0 + PAD)
WIDTH = 440.0


def padded(photo: np.ndarray) -> np.ndarray:
    top = cv2.copyMakeBorder(photo[:8], PAD, 0, 0, 0, cv2.BORDER_REPLICATE)[:PAD]
    top = cv2.GaussianBlur(top, (0, 0), 9)
    return np.vstack([top, photo])


def half(photo: np.ndarray, face: tuple, size: tuple[int, int]) -> np.ndarray:
    """A `size` (w, h) portrait of the photo's person: the face FACE_HEIGHT of the height, its
    centre a little above the middle; beyond the photo, its edge rows smeared outwards."""
    w, h = size
    x0, y0, x1, y1 = face
    s = FACE_HEIGHT * h / (y1 - y0)
    m = np.float32([[s, 0, w / 2 - s * (x0 + x1) / 2], [0, s, 0.42 * h - s * (y0 + y1) / 2]])
    return cv2.warpAffine(photo, m, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def pair(left: Path, right: Path, size: tuple[int, int]) -> np.ndarray:
    """The two people side by side, at twice `size` (the virtual camera then looks at it)."""
    w, h = 2 * size[0], 2 * size[1]
    return np.hstack([half(read(p), FACES[p.name], (w // 2, h)) for p in (left, right)])


def read(path: Path) -> np.ndarray:
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if photo is None:
        raise SystemExit(f"cannot read {path}")
    return photo


def frame_at(photo: np.ndarray, phase: float, size: tuple[int, int], centre: tuple[float, float] = CENTRE,
             width: float = WIDTH) -> np.ndarray:
    """The view at `phase` (0..1 over one loop) of `width` photo pixels around `centre`, as a
    `size` (w, h) BGR frame."""
    w, h = size
    turn = 2 * math.pi * phase
    sway = width / WIDTH  # the motion in proportion to the view
    cx = centre[0] + 14 * sway * math.sin(turn)
    cy = centre[1] + 7 * sway * math.sin(2 * turn + 0.8)
    zoom = 1.0 + 0.06 * math.sin(turn + 1.9)
    angle = 3.0 * math.sin(turn + 0.4)  # degrees
    scale = w / width * zoom
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += (w / 2 - cx, h / 2 - cy)  # the window's centre lands at the frame's centre
    return cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def make_clip(out: Path, image: Path = IMAGE, seconds: float = 7.0, fps: float = 25.0,
              size: tuple[int, int] = (640, 480), partner: Path | None = None) -> int:
    """Writes the clip (mp4v for .mp4, MJPG for .avi) and returns its frame count: `image` alone,
    or with `partner` beside it."""
    if partner is None:
        photo, view = padded(read(image)), {}
    else:
        photo = pair(image, partner, size)
        # Zoomed in a little, so that the sway never shows the scene's edge.
        view = {"centre": (photo.shape[1] / 2, photo.shape[0] / 2), "width": photo.shape[1] / 1.12}
    fourcc = "MJPG" if out.suffix.lower() == ".avi" else "mp4v"
    video = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not video.isOpened():
        raise SystemExit(f"cannot write {out}")
    n = round(seconds * fps)
    for i in range(n):
        video.write(frame_at(photo, i / n, size, **view))
    video.release()
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=Path, default=IMAGE)
    p.add_argument("--partner", type=Path, help="a second person's photo, beside the first")
    p.add_argument("--out", type=Path)
    p.add_argument("--seconds", type=float, default=7.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", default="640x480", help="WxH")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    # The bundled pair is 6 s: at 7 its mp4v file would pass 2 MB.
    clips = [(args.out, args.partner, args.seconds)] if args.out else [
        (HERE / "two_faces.mp4", PARTNER, 6.0), (HERE / "sample.mp4", None, 7.0)]
    for out, partner, seconds in clips:
        n = make_clip(out, args.image, seconds, args.fps, size, partner)
        print(f"{out}: {n} frames, {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
