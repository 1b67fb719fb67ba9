"""What the app remembers between launches, kept in QSettings.

The window passes its own QSettings object in, so tests (and `--settings FILE`) use a file of their
choosing and never touch the user's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

GENDERS = (None, "female", "male", "swap")


def default_folder() -> str:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return pictures or str(Path.home())


@dataclass
class Prefs:
    """The user's choices: the effect, the view options, the source and where files go."""

    gender: str | None = None
    age: float = 0.0  # -1 youngest .. +1 oldest
    intensity: float = 1.0
    mirrored: bool = True
    split: bool = False
    divider: float = 0.5  # the before/after divider, as a fraction of the width
    landmarks: bool = False
    overlays: bool = False
    source: str = ""  # a camera index or a path; "" picks a camera, else the sample clip
    folder: str = ""  # snapshots and recordings; "" is the user's pictures folder

    def clamp(self) -> "Prefs":
        """Values from a hand-edited or older settings file brought back into range."""
        if self.gender not in GENDERS:
            self.gender = None
        self.age = min(max(self.age, -1.0), 1.0)
        self.intensity = min(max(self.intensity, 0.0), 1.0)
        self.divider = min(max(self.divider, 0.0), 1.0)
        return self


def load(store: QSettings) -> Prefs:
    prefs = Prefs()
    for f in fields(Prefs):
        if not store.contains(f.name):
            continue
        raw = store.value(f.name)
        default = getattr(prefs, f.name)
        try:
            setattr(prefs, f.name, _parse(raw, default, f.name))
        except (TypeError, ValueError):
            pass  # a mangled entry keeps its default
    return prefs.clamp()


def save(store: QSettings, prefs: Prefs) -> None:
    for name, value in asdict(prefs).items():
        # INI files cannot hold None: the empty string stands for "no gender effect".
        store.setValue(name, "" if value is None else value)
    store.sync()


def _parse(raw, default, name: str):
    # INI-backed QSettings give every value back as a string.
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if isinstance(default, float):
        return float(raw)
    if name == "gender":
        return str(raw) or None
    return str(raw)
