"""Outputs: write the transformed frames as an image, a folder of images (same file names as the
input), or a video at the input's frame rate."""

from __future__ import annotations

import os
import secrets
import shutil
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
    write never leaves a half file under the real name, nor destroys an older one there. The name
    is unique per run: two runs writing the same --out must not write into one file."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def aside(path: Path, tag: str) -> Path:
    """A free name beside `path` for what is not the complete result ("out.interrupted.mp4")."""
    for n in range(1, 1000):
        candidate = path.with_name(f"{path.stem}.{tag}{'' if n == 1 else f'-{n}'}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise MirrorError(f"no free name for {path.stem}.{tag}{path.suffix} beside {path}")


def last_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[-1]


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
        raise MirrorError(f"cannot write {path} ({last_line(e)})") from None
    finally:
        part.unlink(missing_ok=True)


class Writer(Closing):
    """`notes` are warnings about what was written (said once the run ends)."""

    notes: list[str]
    written = 0

    def write(self, frame: Frame, image: np.ndarray) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Instead of `close` when the run failed: nothing half-written stays behind."""
        self.close()

    def interrupted(self) -> str:
        """Instead of `close` when the run was stopped before its end: keeps what is complete
        without giving it the name of a complete result, and says what and where."""
        self.abort()
        return "nothing was written"

    def __exit__(self, kind, *exc):
        self.close() if kind is None else self.abort()


class ImageWriter(Writer):
    """One image to `path`, or into the folder `path` under the input's name."""

    def __init__(self, path: Path):
        self.path, self.notes = path, []

    def write(self, frame: Frame, image: np.ndarray) -> None:
        write_image(self.path / frame.name if self.path.is_dir() else self.path, image)
        self.written += 1


class FolderWriter(Writer):
    def __init__(self, folder: Path, total: int):
        if folder.exists() and not folder.is_dir():
            raise MirrorError(f"--out {folder} must be a folder for a folder of images")
        self.made = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.total, self.notes = folder, total, []

    def abort(self) -> None:
        if self.made and not any(self.folder.iterdir()):  # the images written are complete: they stay
            self.folder.rmdir()

    def interrupted(self) -> str:
        self.abort()
        return f"{self.written} of the {self.total} images are in {self.folder}, each complete"

    def write(self, frame: Frame, image: np.ndarray) -> None:
        write_image(self.folder / frame.name, image)
        self.written += 1


class VideoWriter(Writer):
    """Opens on the first frame, when the frame size is known; the video takes its name on `close`,
    once read back whole: OpenCV's writer drops the OS's errors (a full disk), so what reached the
    disk is all there is to go by."""

    def __init__(self, path: Path, fps: float):
        ext = path.suffix.lower()
        if ext not in FOURCC:
            raise MirrorError(f"--out {path}: a video needs one of {', '.join(FOURCC)}")
        self.path, self.fps, self.fourcc = path, fps, FOURCC[ext]
        self.part = partial(path)
        self.video: cv2.VideoWriter | None = None
        self.size = (0, 0)
        self.frames = 0
        self.notes = []
        self.cut = False  # interrupted: the signal may land between a frame's write and its count

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if self.video is None:
            h, w = image.shape[:2]
            # The encoders here store even sizes only (4:2:0 chroma): they would drop the odd row
            # and column in silence; drop them here, and say so.
            self.size = (w - w % 2, h - h % 2)
            if self.size != (w, h):
                self.notes.append(f"{self.path}: video is stored at even sizes: the {w}x{h} frames are written "
                                  f"as {self.size[0]}x{self.size[1]} (the last column or row left out)")
            self.video = cv2.VideoWriter(str(self.part), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, self.size)
            if not self.video.isOpened():
                raise MirrorError(f"cannot write video {self.path} ({self.fourcc}, {w}x{h})")
        self.video.write(image[:self.size[1], :self.size[0]])
        self.frames += 1

    def close(self) -> None:
        self._release(keep=True)

    def abort(self) -> None:
        self._release(keep=False)

    def interrupted(self) -> str:
        if not self.frames:
            self.abort()
            return "nothing was written"
        self.path = aside(self.path, "interrupted")
        self.cut = True
        self.close()
        return f"the first {self.frames} frame(s) are in {self.path}"

    def _release(self, keep: bool) -> None:
        try:
            if self.video is not None:
                self.video.release()
                self.video = None
                if keep and self.frames:
                    self._verify()
                    os.replace(self.part, self.path)
        finally:
            self.part.unlink(missing_ok=True)

    def _verify(self) -> None:
        """Reads the finished file back: every frame written, at the size written."""
        cap = cv2.VideoCapture(str(self.part))
        ok, first = cap.read()
        frames = int(ok)
        while ok and cap.grab():
            frames += 1
        cap.release()
        size = first.shape[1::-1] if first is not None else None
        if size == self.size and (frames == self.frames or (self.cut and frames == self.frames + 1)):
            self.frames = frames
            return
        free = shutil.disk_usage(self.part.parent).free
        got = f"{frames} of its {self.frames} frames" + (f" at {size[0]}x{size[1]}" if size and size != self.size else "")
        raise MirrorError(f"cannot write {self.path}: the video written holds {got} "
                          f"({free / 1e6:.1f} MB free on its disk; a full disk?)" +
                          (f"; the older {self.path.name} is untouched" if self.path.exists() else ""))


def open_writer(out: str | Path, source: Source) -> Writer:
    """The writer that fits the source: image -> image (or into a folder), folder -> folder,
    video or camera -> video file. Never one that would write over the input, however named."""
    out = Path(out)
    target = out / source.path.name if source.kind == "image" and out.is_dir() else out
    if source.path is not None and target.exists() and os.path.samefile(target, source.path):
        raise MirrorError(f"--out {out} would overwrite the input {source.path}")
    if source.kind == "folder":
        return FolderWriter(out, source.count)
    if not out.parent.is_dir():
        why = f"{out.parent} is not a folder" if out.parent.exists() else f"folder {out.parent} does not exist"
        raise MirrorError(f"--out {out}: {why}")
    if source.kind == "image":
        if not out.is_dir() and out.suffix.lower() not in IMAGE_EXTS:
            raise MirrorError(f"--out {out}: an image needs one of {', '.join(sorted(IMAGE_EXTS))}, or a folder")
        return ImageWriter(out)
    return VideoWriter(out, source.fps)
