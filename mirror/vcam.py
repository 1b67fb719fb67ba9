"""The transformed view as a virtual webcam, for Zoom, Meet, Teams or OBS, through pyvirtualcam
(the optional `vcam` extra): v4l2loopback on Linux, OBS's virtual camera on Windows and macOS.

    with VirtualCamera(fps=30, mirrored=False) as cam:
        cam.send(frame_bgr)     # opens on the first frame, at its size; again if the size changes

Without the library or a backend, opening raises a MirrorError that says what to install or load.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

import cv2
import numpy as np

from .errors import MirrorError

INSTALL = 'pip install -e ".[vcam]"'
LINUX = ("load v4l2loopback: sudo apt-get install v4l2loopback-dkms && "
         "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=mirror")
OTHERS = "install OBS Studio (28 or later) and start its virtual camera once"


def no_backend(platform: str = sys.platform) -> str:
    """What to do when the library is there and no virtual camera device is."""
    return f"no virtual camera device: {LINUX if platform.startswith('linux') else OTHERS}"


def open_pyvirtualcam(width: int, height: int, fps: float):
    """A pyvirtualcam.Camera taking BGR frames, or a MirrorError saying what is missing."""
    try:
        import pyvirtualcam
    except ModuleNotFoundError:
        raise MirrorError(f"the virtual camera needs pyvirtualcam: {INSTALL}") from None
    try:
        return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR)
    except RuntimeError:  # pyvirtualcam's own text is a paragraph; this is the line that helps
        raise MirrorError(no_backend()) from None


class VirtualCamera:
    """Sends frames to a virtual webcam at their own size: opened on the first frame and again when
    the size changes (a new source). `mirrored` flips each frame left-right on the way out.
    `opener(width, height, fps)` makes the device (a stand-in in tests). Thread-safe: the GUI
    turns it on and off while its processing thread sends."""

    def __init__(self, fps: float = 30.0, mirrored: bool = False,
                 opener: Callable[[int, int, float], object] | None = None):
        self.fps, self.mirrored, self.opener = fps, mirrored, opener or open_pyvirtualcam
        self.camera = None
        self.shape: tuple[int, int, float] | None = None  # width, height, fps it was opened with
        self.sent = 0
        self.closed = False  # for good: a frame sent after `close` is dropped, not a reopening
        self.lock = threading.Lock()

    def frame(self, image: np.ndarray) -> np.ndarray:
        """What goes out: BGR, contiguous, flipped when `mirrored`."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if self.mirrored:
            image = cv2.flip(image, 1)
        return np.ascontiguousarray(image)

    def send(self, image: np.ndarray, fps: float | None = None) -> None:
        """`fps`: the source's frame rate, when it may change (a new source)."""
        out = self.frame(image)
        shape = (out.shape[1], out.shape[0], fps or self.fps)
        with self.lock:
            if self.closed:
                return
            if shape != self.shape:
                self._close()
                self.camera = self.opener(*shape)
                self.shape = shape
            self.camera.send(out)
            self.sent += 1

    @property
    def device(self) -> str:
        return str(getattr(self.camera, "device", "") or "the virtual camera")

    def _close(self) -> None:
        if self.camera is not None:
            self.camera.close()
        self.camera, self.shape = None, None

    def close(self) -> None:
        with self.lock:
            self._close()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def add_args(p) -> None:
    """`mirror run`'s options for the virtual camera."""
    p.add_argument("--virtual-camera", action="store_true",
                   help=f"send the result to a virtual webcam for Zoom, Meet, Teams or OBS (--out then "
                        f"optional; needs {INSTALL} and v4l2loopback on Linux, OBS on Windows/macOS)")
    p.add_argument("--mirror", action="store_true",
                   help="flip the virtual camera's picture left-right (peers usually want it unflipped)")


def for_run(args, fps: float, warn: Callable[[str], None]) -> VirtualCamera | None:
    """The virtual camera `mirror run` asked for, tried before the models start. Without a device:
    with an --out the run goes on (one warning line), without one there is nothing to do."""
    if not args.virtual_camera:
        return None
    camera = VirtualCamera(fps, args.mirror)
    try:
        camera.opener(640, 480, fps).close()
    except MirrorError as e:
        if args.out is None:
            raise
        warn(f"{e}; writing only {args.out}")
        return None
    return camera
