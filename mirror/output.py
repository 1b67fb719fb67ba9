"""Outputs: write the transformed frames as an image, a folder of images (same file names as the
input), or a video at the input's frame rate."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import MirrorError
from .source import IMAGE_EXTS, Closing, Frame, Source

# What this OpenCV build can write (it has no H.264 encoder): container -> codec.
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".webm": "VP80"}
NO_ALPHA = {".jpg", ".jpeg", ".bmp"}


def partial(path: Path) -> Path:
    """Where a file is written before it is complete: beside it, hidden, with the same suffix (from
    which OpenCV picks the container). Renamed into place when done, so that a failed or killed
    write never leaves a half file under the real name, nor destroys an older one there."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_image(path: Path, image: np.ndarray) -> None:
    if image.ndim == 3 and image.shape[2] == 4 and path.suffix.lower() in NO_ALPHA:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    part = partial(path)
    try:
        ok, data = cv2.imencode(path.suffix, image)
        if not ok:
            raise MirrorError(f"cannot encode {path}")
        data.tofile(str(part))  # tofile, not imwrite: see read_image
        os.replace(part, path)
    except (OSError, cv2.error) as e:
        raise MirrorError(f"cannot write {path} ({str(e).strip().splitlines()[-1]})") from None
    finally:
        part.unlink(missing_ok=True)


class Writer(Closing):
    def write(self, frame: Frame, image: np.ndarray) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Instead of `close` when the run failed: nothing half-written stays behind."""
        self.close()

    def __exit__(self, kind, *exc):
        self.close() if kind is None else self.abort()


class ImageWriter(Writer):
    """One image to `path`, or into the folder `path` under the input's name."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, frame: Frame, image: np.ndarray) -> None:
        write_image(self.path / frame.name if self.path.is_dir() else self.path, image)


class FolderWriter(Writer):
    def __init__(self, folder: Path):
        if folder.exists() and not folder.is_dir():
            raise MirrorError(f"--out {folder} must be a folder for a folder of images")
        self.made = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def abort(self) -> None:
        if self.made and not any(self.folder.iterdir()):  # the images written are complete: they stay
            self.folder.rmdir()

    def write(self, frame: Frame, image: np.ndarray) -> None:
        write_image(self.folder / frame.name, image)


class VideoWriter(Writer):
    """Opens on the first frame, when the frame size is known; the video takes its name on `close`."""

    def __init__(self, path: Path, fps: float):
        ext = path.suffix.lower()
        if ext not in FOURCC:
            raise MirrorError(f"--out {path}: a video needs one of {', '.join(FOURCC)}")
        self.path, self.fps, self.fourcc = path, fps, FOURCC[ext]
        self.part = partial(path)
        self.video: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if self.video is None:
            h, w = image.shape[:2]
            self.video = cv2.VideoWriter(str(self.part), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self.video.isOpened():
                raise MirrorError(f"cannot write video {self.path} ({self.fourcc}, {w}x{h})")
        self.video.write(image)
        self.frames += 1

    def close(self) -> None:
        self._release(keep=True)

    def abort(self) -> None:
        self._release(keep=False)

    def _release(self, keep: bool) -> None:
        if self.video is not None:
            self.video.release()
            self.video = None
            if keep and self.frames:
                os.replace(self.part, self.path)
        self.part.unlink(missing_ok=True)


def open_writer(out: str | Path, source: Source) -> Writer:
    """The writer that fits the source: image -> image (or into a folder), folder -> folder,
    video or camera -> video file."""
    out = Path(out)
    if source.kind == "folder":
        return FolderWriter(out)
    if not out.parent.is_dir():
        why = f"{out.parent} is not a folder" if out.parent.exists() else f"folder {out.parent} does not exist"
        raise MirrorError(f"--out {out}: {why}")
    if source.kind == "image":
        if not out.is_dir() and out.suffix.lower() not in IMAGE_EXTS:
            raise MirrorError(f"--out {out}: an image needs one of {', '.join(sorted(IMAGE_EXTS))}, or a folder")
        return ImageWriter(out)
    return VideoWriter(out, source.fps)
