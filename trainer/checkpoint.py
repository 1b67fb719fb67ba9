"""Checkpoints: written atomically (a killed process or a full disk leaves the previous one intact)
and complete enough to resume a run exactly."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mirror.errors import MirrorError, signals_held


def save(path: Path, state: dict) -> None:
    """Writes beside the checkpoint, then renames over it: the rename is atomic, so a failed or
    killed write never leaves a half checkpoint in its place."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with signals_held():  # a stop asked for mid-write comes after the rename
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except OSError as e:  # a full disk, a lost mount: one line, and the previous checkpoint stays
        kept = "the previous one is intact" if path.is_file() else "there is no earlier one"
        raise MirrorError(f"{path}: could not write the checkpoint ({e.strerror or e}); {kept}") from None
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> dict:
    if not path.is_file():
        raise MirrorError(f"{path}: no checkpoint there")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise MirrorError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None


def restore(module: torch.nn.Module, state: dict, what: str, path: Path) -> None:
    """load_state_dict with a one-line error when the checkpoint is of another architecture."""
    try:
        module.load_state_dict(state)
    except RuntimeError:
        raise MirrorError(f"{path}: its {what} is of another architecture than this run's") from None
