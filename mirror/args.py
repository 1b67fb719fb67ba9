"""Command-line pieces shared by `mirror`, `mirror gui`, `mirror bench` and `mirror-train`: the
parser whose mistakes are one line, checked numbers, and the options several commands take.

Standard library only: importing it loads neither OpenCV nor the models (OpenCV reads its log level
when it loads, after `mirror.cli.main` has set it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import MirrorError


class Parser(argparse.ArgumentParser):
    """Usage mistakes become a MirrorError, so that every error is the same single line."""

    def error(self, message):
        raise MirrorError(f"{self.prog}: {message}")


def _number(kind: type, name: str, lo: float, hi: float = float("inf")):
    """An argparse type: a `kind` number in [lo, hi], else a usage error naming the option."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        if not lo <= value <= hi:  # NaN fails this too
            limits = f"be at least {lo:g}" if hi == float("inf") else f"lie in [{lo:g}, {hi:g}]"
            raise argparse.ArgumentTypeError(f"{name} must {limits}, got {text}")
        return value
    return parse


def within(name: str, lo: float, hi: float):
    """A number in [lo, hi]."""
    return _number(float, name, lo, hi)


def count(name: str, lo: int = 1):
    """A whole number of at least `lo` (1: a count of steps, frames, faces...)."""
    return _number(int, name, lo)


def add_models_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=Path, default=None, metavar="DIR",
                   help="folder of exported models (default: ./exported_models, else the checkout's)")


def add_effect_args(p: argparse.ArgumentParser, gui: bool = False) -> None:
    """The effect options, for `run` and, as the start state, for the GUI (whose defaults are
    None: keep what was remembered)."""
    keep = " (default: as last time)" if gui else ""
    p.add_argument("--effect", choices=("female", "male", "swap"),
                   help="gender effect; swap flips each face as the attribute classifier judges it")
    p.add_argument("--age", type=within("--age", -1, 1), default=None if gui else 0.0, metavar="VALUE",
                   help=f"-1 youngest, 0 unchanged{keep or ' (default)'}, +1 oldest")
    p.add_argument("--intensity", type=within("--intensity", 0, 1), default=None if gui else 1.0, metavar="X",
                   help=f"0 original .. 1 fully generated{keep or ' (default 1)'}")
