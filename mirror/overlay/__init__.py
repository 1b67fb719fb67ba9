"""Overlays: make-up, stubble, greying and wrinkles drawn on each face after blending.

Every overlay is anchored to the face's 478 mesh landmarks, so it moves, turns and scales with the
face. Shapes that must sit exactly (lip ring, lid line, brows, wrinkle strokes, the beard zone) are
drawn from the landmarks themselves, which is the mesh's own piecewise warp; textures that only need
to stick to the skin (stubble grain, hair strands) are made once in a canonical crop space and warped
with the face's similarity transform.

All work happens in one box around the face, in CIE Lab: a tint moves colour without flattening the
skin's texture, a shadow darkens without shifting the hue. Pixels no overlay touches keep their
exact value. Strength follows the effect: the gender overlays take the face's gender target at the
effect's intensity, the age overlays age x intensity.

The package: `regions` (mesh indices, what drives each overlay), `canvas` (the Lab canvas and the
textures), `layers` (one function per overlay, `draw`), `debug` (mesh, mask and crop) and, here,
`Overlays`, the stage the pipeline calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..errors import MirrorError
from .canvas import TAIL, TEXTURE, Canvas, eye_distance  # noqa: F401
from .debug import debug
from .layers import LAYERS, REACH, draw, strengths  # noqa: F401
from .layers import blush, brows, eyeliner, grey, lips, smooth, stubble, wrinkles  # noqa: F401
from .regions import *  # noqa: F401,F403

if TYPE_CHECKING:
    from ..pipeline import Result


class Overlays:
    """The overlay stage: `pipeline.overlays.append(Overlays())`. `enabled` holds names from
    OVERLAYS (a set: add or discard names between frames); `strength` scales them all, on top of
    the effect's intensity."""

    def __init__(self, enabled: Iterable[str] = DEFAULT, strength: float = 1.0):
        self.enabled = set(enabled)
        unknown = self.enabled - set(OVERLAYS)
        if unknown:
            raise MirrorError(f"unknown overlay {', '.join(sorted(unknown))} (choose from {', '.join(OVERLAYS)})")
        if not 0.0 <= strength <= 1.0:
            raise MirrorError(f"overlay strength must lie in [0, 1], got {strength}")
        self.strength = strength

    def __call__(self, image: np.ndarray, result: "Result") -> None:
        for face in result.faces:
            draw(image, face, result.effect, self.enabled, self.strength)
        if "debug" in self.enabled:
            debug(image, result)
