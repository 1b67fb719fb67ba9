"""What the source picker offers: the cameras of this machine, the bundled sample clip, a file."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

# A woman and a man, so that every effect shows on a first launch (assets/make_sample.py).
SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "two_faces.mp4"
# Outside Linux there is no cheap way to list cameras: try the first few indices.
PROBE = 3


@dataclass(frozen=True)
class Choice:
    label: str
    spec: str  # what mirror.source.open_source takes: a camera index or a path
    loop: bool = False  # start again at the end (the sample clip), instead of stopping

    @property
    def camera(self) -> bool:
        return self.spec.isdigit()


def cameras() -> list[Choice]:
    if sys.platform.startswith("linux"):
        return _v4l2_cameras(Path("/sys/class/video4linux"))
    return _probed_cameras()


def _v4l2_cameras(root: Path) -> list[Choice]:
    """Capture devices from sysfs, without opening them (opening one can take a second). Each
    webcam also has a metadata node; only the node with index 0 gives pictures."""
    found = []
    for node in sorted(root.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        try:
            if (node / "index").read_text().strip() != "0":
                continue
            name = (node / "name").read_text().strip()
        except OSError:
            continue
        n = node.name[5:]
        found.append(Choice(f"Camera {n}: {name}", n))
    return found


def _probed_cameras() -> list[Choice]:
    import cv2

    found = []
    for i in range(PROBE):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(Choice(f"Camera {i}", str(i)))
        cap.release()
    return found


def sample() -> Choice:
    return Choice("Sample clip (a woman and a man)", str(SAMPLE), loop=True)


def from_spec(spec: str) -> Choice:
    """The choice for a saved or command-line source."""
    if spec.strip().isdigit():
        return Choice(f"Camera {spec.strip()}", spec.strip())
    if Path(spec).resolve() == SAMPLE:
        return sample()
    return Choice(Path(spec).name or spec, spec)


def initial(saved: str, found: list[Choice]) -> Choice:
    """What to show at launch: the saved source if it is still there, else the first camera, else
    the sample clip, so that a first launch always shows a face."""
    if saved:
        choice = from_spec(saved)
        if (choice.camera and any(c.spec == choice.spec for c in found)) or Path(saved).exists():
            return choice
    return found[0] if found else sample()
