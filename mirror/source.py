"""Sources: a camera index, a video file, an image file or a folder of images, as frames.

Frames come as OpenCV decodes them: BGR, or grey (2-D), or BGRA with alpha; the pipeline works on
the colour and gives back the same layout, so the writers keep the input's format. 16-bit images
are brought to 8 bits here, the one format the pipeline does not keep.
"""

from __future__ import annotations

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


def read_image(path: Path) -> np.ndarray:
    # np.fromfile + imdecode, not imread: imread fails silently on non-ASCII paths on Windows.
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as e:
        raise MirrorError(f"cannot read image {path} ({e.strerror or e})") from None
    if not data.size:
        raise MirrorError(empty(path))
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:  # its message is OpenCV's source line; what matters is below
        image = None
    if image is None:
        raise MirrorError(f"cannot decode image {path} (not an image, or damaged)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise MirrorError(f"unsupported pixel type {image.dtype} in {path}")
    return image


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
    at, `count` the number of frames when known (None for a camera)."""

    kind: str
    fps: float = 30.0
    count: int | None = None
    skipped: Sequence[MirrorError] = ()  # a folder's images that could not be read, passed over

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError


class Images(Source):
    def __init__(self, paths: list[Path], kind: str):
        self.paths, self.kind, self.count = paths, kind, len(paths)
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
    def __init__(self, target: int | Path):
        self.kind = "camera" if isinstance(target, int) else "video"
        what = f"camera {target}" if self.kind == "camera" else f"video {target}"
        self.cap = cv2.VideoCapture(target if self.kind == "camera" else str(target))
        if not self.cap.isOpened():
            damaged = "" if self.kind == "camera" else " (not a video this OpenCV can decode, or damaged)"
            raise MirrorError(f"cannot open {what}{damaged}")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        # Cameras and some containers report 0 or nonsense: then write at 30 fps.
        self.fps = fps if 0 < fps < 1000 else 30.0
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = n if self.kind == "video" and n > 0 else None
        ok, self._first = self.cap.read()
        if not ok:
            self.cap.release()
            raise MirrorError(f"cannot read a frame from {what}")

    def __iter__(self) -> Iterator[Frame]:
        frame, i = self._first, 0
        self._first = None
        while frame is not None:
            yield Frame(frame, i, f"frame-{i:06d}")
            ok, frame = self.cap.read()
            frame, i = (frame if ok else None), i + 1

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
        return Images(images, "folder")
    if not path.is_file():
        raise MirrorError(f"no such file or folder: {path}")
    if not path.stat().st_size:
        raise MirrorError(empty(path))
    if path.suffix.lower() in IMAGE_EXTS:
        read_image(path)  # a file that is no image fails now, before the models load
        return Images([path], "image")
    return Capture(path)
