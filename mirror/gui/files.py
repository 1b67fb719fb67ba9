"""Where snapshots and recordings go: a new, dated file name in the user's folder."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from ..errors import MirrorError


def new_file(folder: str | Path, ext: str, now: datetime | None = None) -> Path:
    """`mirror-YYYYmmdd-HHMMSS.ext` in `folder` (with -2, -3… when taken). Raises MirrorError, in
    words a user can act on, when the folder cannot take it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MirrorError(f"the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise MirrorError(f"the folder {folder} is not writable")
    stem = f"mirror-{now or datetime.now():%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}{ext}", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}{ext}", n + 1
    return path
