"""Sources: a camera index, a video file, an image file or a folder of images, as frames.

Frames come as OpenCV decodes them: BGR, or grey (2-D), or BGRA with alpha; the pipeline works on
the colour and gives back the same layout, so the writers keep the input's format. 16-bit images
are brought to 8 bits here, the one format the pipeline does not keep.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from .errors import MirrorError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Frame:
    image: np.ndarray
    index: int
    name: str  # the file name for images, "frame-000123" for video and camera


# Decoding as OpenCV's default does, but keeping grey and 16-bit: it turns the image upright as
# its EXIF orientation says (phone photos are stored sideways). IMREAD_UNCHANGED would not.
UPRIGHT = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH


def read_image(path: Path) -> np.ndarray:
    # np.fromfile + imdecode, not imread: imread fails silently on non-ASCII paths on Windows.
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as e:
        raise MirrorError(f"cannot read image {path} ({e.strerror or e})") from None
    if not data.size:
        raise MirrorError(empty(path))
    jpeg = data[:3].tobytes() == b"\xff\xd8\xff"  # no alpha to keep: one upright decoding
    image = decode(data, UPRIGHT if jpeg else cv2.IMREAD_UNCHANGED)
    if image is not None and not jpeg and (image.ndim == 2 or image.shape[2] == 3):
        image = decode(data, UPRIGHT)  # no alpha lost: decoded again, upright
    if image is None:
        raise MirrorError(f"cannot decode image {path} ({too_large(data) or 'not an image, or damaged'})")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise MirrorError(f"unsupported pixel type {image.dtype} in {path}")
    return image


def decode(data: np.ndarray, flags: int) -> np.ndarray | None:
    try:
        return cv2.imdecode(data, flags)
    except cv2.error:  # its message is OpenCV's source line; what matters is said by the caller
        return None


def too_large(data: np.ndarray) -> str | None:
    """Why OpenCV refused an image it would otherwise read: more pixels than its limit (a guard
    against decompression bombs, CV_IO_MAX_IMAGE_PIXELS, set by OPENCV_IO_MAX_IMAGE_PIXELS). The
    header, read by Pillow (which mediapipe brings), says how many."""
    limit = int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", 1 << 30))
    try:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # only the header is read here
        with Image.open(io.BytesIO(data.tobytes())) as header:
            w, h = header.size
    except Exception:  # noqa: BLE001 - no Pillow, or not an image it knows: nothing more to say
        return None
    if w * h <= limit:
        return None
    return (f"{w}x{h} is {w * h:,} pixels, more than OpenCV reads: {limit:,}; "
            f"OPENCV_IO_MAX_IMAGE_PIXELS={w * h} raises the limit")


def empty(path: Path) -> str:
    return f"{path} is empty (0 bytes)"


class Closing:
    """Closed at the end of a `with` block."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Source(Closing):
    """Iterate to get Frames. `kind` is camera/video/image/folder, `fps` the rate to write video
    at, `count` the number of frames when known (None for a camera), `path` the file or folder read
    (None for a camera), `notes` warnings about what was read, complete once iterated."""

    kind: str
    fps: float = 30.0
    count: int | None = None
    path: Path | None = None
    skipped: Sequence[MirrorError] = ()  # a folder's images that could not be read, passed over
    notes: Sequence[str] = ()

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError


class Images(Source):
    def __init__(self, paths: list[Path], kind: str, path: Path):
        self.paths, self.kind, self.count, self.path = paths, kind, len(paths), path
        self.skipped: list[MirrorError] = []

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            try:
                image = read_image(path)
            except MirrorError as e:
                if self.kind != "folder":
                    raise
                # One damaged file in a folder of photos must not stop the others.
                self.skipped.append(e)
                continue
            yield Frame(image, i, path.name)


class Capture(Source):
    """A camera or a video file (FFmpeg reads GIFs as videos too: a one-frame GIF is an image)."""

    # Unreadable frames passed over in a row before a video counts as ended early.
    MISSES = 25

    def __init__(self, target: int | Path):
        self.kind = "camera" if isinstance(target, int) else "video"
        what = f"camera {target}" if self.kind == "camera" else f"video {target}"
        self.path = None if self.kind == "camera" else target
        self.cap = cv2.VideoCapture(target if self.kind == "camera" else str(target))
        if not self.cap.isOpened():
            damaged = "" if self.kind == "camera" else " (not a video this OpenCV can decode, or damaged)"
            raise MirrorError(f"cannot open {what}{damaged}")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        # Cameras and some containers report 0 or nonsense: then write at 30 fps.
        self.fps = fps if 0 < fps < 1000 else 30.0
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = n if self.kind == "video" and n > 0 else None
        self.notes: list[str] = []
        self._first, self._passed = self._next(0)
        if self._first is None:
            self.cap.release()
            raise MirrorError(f"cannot read a frame from {what}")
        self.name = "frame-{:06d}"
        if self.kind == "video" and self.count == 1 and target.suffix.lower() == ".gif":
            self.kind, self.name = "image", f"{target.stem}.png"

    def __iter__(self) -> Iterator[Frame]:
        frame, i, passed = self._first, 0, self._passed
        self._first = None
        while frame is not None:
            yield Frame(frame, i, self.name.format(i))
            i += 1
            frame, misses = self._next(i + passed)
            passed += misses
        if self.count and i < self.count:
            skipped = f", {passed} unreadable frame(s) passed over" if passed else ""
            self.notes.append(f"{self.path}: read {i} of the {self.count} frames it announces{skipped}")

    def _next(self, at: int) -> tuple[np.ndarray | None, int]:
        """The next frame that reads, and how many failed before it. A damaged frame fails its read
        and the next may read again: a video is read on up to the frame count it announces; a
        camera's first failure is its end."""
        misses = 0
        while True:
            ok, frame = self.cap.read()
            if ok:
                return frame, misses
            misses += 1
            if not self.count or at + misses >= self.count or misses >= self.MISSES:
                return None, 0

    def close(self) -> None:
        self.cap.release()


def open_source(spec: str | int | Path) -> Source:
    """A source from a CLI-style spec: a camera index ("0"), or a path to a video, image or folder."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return Capture(int(spec))
    path = Path(spec)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
        if not images:
            raise MirrorError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) in folder {path}")
        return Images(images, "folder", path)
    if not path.is_file():
        raise MirrorError(f"no such file or folder: {path}")
    if not path.stat().st_size:
        raise MirrorError(empty(path))
    if path.suffix.lower() in IMAGE_EXTS:
        read_image(path)  # a file that is no image fails now, before the models load
        return Images([path], "image", path)
    return Capture(path)
