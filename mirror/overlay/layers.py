"""The layers, one function per overlay, each drawing at strength s (0..1] on a canvas; `draw` puts
the enabled ones on one face."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

import cv2
import numpy as np

from ..align import between
from ..occlusion import covered
from .canvas import TEXTURE, Canvas, Window, _segments, _unit, eye_distance
from .regions import *  # noqa: F403 - the mesh regions are the layers' vocabulary

if TYPE_CHECKING:
    from ..pipeline import FaceResult
    from ..translate import Effect

# The layers: each draws one overlay at strength s (0..1] on a canvas.

def eyeliner(c: Canvas, s: float) -> None:
    """A soft dark line along each upper lid, widening towards the outer corner into a short flick."""
    for lid in UPPER_LIDS:
        pts = c.xy[lid]
        axis = _unit(pts[-1] - pts[0])
        t = np.linspace(0, 1, len(pts))[:, None]
        upper = pts + c.up * c.d * (0.008 + 0.03 * t**1.5)
        flick = pts[-1] + c.d * (0.1 * axis + 0.045 * c.up)
        poly = np.vstack([pts, flick[None], upper[::-1]])
        win = c.window(poly, 0.08)
        if win is not None:
            c.blend(win, 0.75 * s * c.mask(win, [poly], blur=0.008), (14.0, 2.0, 1.0))


def lips(c: Canvas, s: float) -> None:
    """A rosy tint inside the lip ring (the mouth's inside, teeth and tongue, stay as they are)."""
    outer, inner = c.xy[LIPS_OUTER], c.xy[LIPS_INNER]
    win = c.window(outer, 0.05)
    if win is None:
        return
    ring = np.clip(c.mask(win, [outer], blur=0.012) - c.mask(win, [inner], blur=0.006), 0, 1)
    ring *= 1 - covered(c.lab(win), c.skin())  # a hand or bar over the mouth gets no lip colour
    target = c.lab(win).copy()
    target[..., 0] *= 0.88
    target[..., 1:] = (44.0, 14.0)
    c.blend(win, 0.45 * s * ring, target)


def _glow(win: Window, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """A Gaussian blob on the window with principal axes `axes` (rows: the 1-sigma vectors), cut
    at 3 sigma so that it ends at zero."""
    ys, xs = np.mgrid[win[0], win[1]].astype(np.float32)
    q = np.stack([xs - centre[0], ys - centre[1]], -1)
    r2 = sum((q @ a / float(a @ a)) ** 2 for a in axes)
    return np.clip((np.exp(-0.5 * r2) - 0.011) / 0.989, 0, None).astype(np.float32)


def blush(c: Canvas, s: float) -> None:
    """A soft warm glow on each cheek, stretched up towards the temple."""
    for cheek in CHEEKS:
        centre = c.xy[cheek].mean(0)
        out = _unit(centre - c.xy[BRIDGE])
        win = c.window(centre[None], 0.6)  # 3 sigma of the long axis
        if win is None:
            continue
        m = _glow(win, centre, np.array([out * 0.19 * c.d, np.array([-out[1], out[0]]) * 0.13 * c.d]))
        target = c.lab(win) + np.array([-2.0, 16.0, 4.0], np.float32)
        c.blend(win, 0.45 * s * m, target)


def stubble(c: Canvas, s: float) -> None:
    """Beard shadow: a dark, slightly blue-grey grain over the jaw, chin and upper lip."""
    zone = c.xy[BEARD]
    win = c.window(zone, 0.06)
    if win is None:
        return
    m = np.clip(c.mask(win, [zone], blur=0.05) - c.mask(win, [c.xy[LIPS_OUTER]], blur=0.015) * 1.3, 0, 1)
    grain = c.texture(win, "grain")
    lab = c.lab(win)
    target = np.empty_like(lab)
    target[..., 0] = lab[..., 0] * (0.92 - 0.16 * grain)
    target[..., 1] = lab[..., 1] * 0.85
    target[..., 2] = lab[..., 2] * 0.8 - 2.0
    c.blend(win, 0.85 * s * m, target)


def _hair_colour(c: Canvas, brow: np.ndarray) -> np.ndarray:
    """The brow's own colour: the mean of the darkest quarter of its pixels."""
    win = c.window(brow, 0.0)
    lab = c.lab(win)[c.mask(win, [brow]) > 0.5] if win is not None else np.empty((0, 3))
    if len(lab) < 4:
        return np.array([25.0, 3.0, 5.0], np.float32)
    return lab[lab[:, 0] <= np.percentile(lab[:, 0], 25)].mean(0)


def brows(c: Canvas, s: float) -> None:
    """Fuller, darker brows: each grown by a fifth of its height up and down and filled in strands of
    its own colour."""
    for idx in BROWS:
        brow = c.xy[idx]
        win = c.window(brow, 0.15)
        if win is None:
            continue
        half = len(idx) // 2
        upper, lower = brow[:half], brow[half:][::-1]  # both from the outer end in
        grow = (upper - lower) * 0.2
        fuller = np.vstack([upper + grow, (lower - grow)[::-1]])
        m = c.mask(win, [fuller], blur=0.03)
        colour = _hair_colour(c, brow)
        c.blend(win, 0.75 * s * m * c.texture(win, "strands"), colour)


def grey(c: Canvas, s: float) -> None:
    """Salt-and-pepper greying of the hair that is darker than the skin: brows and hairline."""
    top = c.xy[HAIRLINE]
    # The hairline band fades upwards: greying starts at the temples and the front.
    heights = (0.6, 0.4, 0.2)
    bands = [np.vstack([top - c.up * 0.06 * c.d, (top + c.up * h * c.d)[::-1]]) for h in heights]
    skin = c.skin()
    for polys, blur, strands in ((bands, 0.1, "hair"), *(([c.xy[b]], 0.02, "strands") for b in BROWS)):
        win = c.window(polys[0], 0.2)
        if win is None:
            continue
        m = c.mask(win, polys, blur, values=np.arange(1, len(polys) + 1) / len(polys))
        lab = c.lab(win)
        hair = np.clip((skin[0] - lab[..., 0] - 6.0) / 18.0, 0, 1)
        salt = c.texture(win, strands)
        # Silver keeps the hair's own light and shade: lifted and drained of colour, not painted.
        target = lab * np.array([1.0, 0.15, 0.15], np.float32)
        target[..., 0] += (92.0 - target[..., 0]) * (0.2 + 0.5 * salt)
        c.blend(win, 0.8 * s * m * hair * (0.3 + 0.7 * salt), target)


def _folds(c: Canvas) -> list[tuple[np.ndarray, float]]:
    """Where wrinkles form, as (polyline in box pixels, depth): forehead lines, frown lines,
    crow's feet, the lower lids and the nasolabial folds."""
    brow, mid, top = (c.xy[row] for row in FOREHEAD)
    wave = c.up * 0.015 * c.d * np.sin(np.arange(len(brow)) * 1.9)[:, None]  # no crease is ruled straight
    low, high = brow + (mid - brow) * 0.5 + wave, mid + (top - mid) * 0.4 - wave
    centre = len(brow) // 2
    folds = [(low[1:-1], 0.8), (mid[: centre + 1], 0.9), (mid[centre:], 0.9), (high[2:-2], 0.5)]
    for x in (0.4, 0.6):  # the frown lines between the brows
        base = c.xy[FROWN[0]] + (c.xy[FROWN[1]] - c.xy[FROWN[0]]) * x
        folds.append((np.array([base, base + c.up * 0.07 * c.d, base + c.up * 0.14 * c.d]), 0.4))
    for (inner, outer), lower in zip(EYE_CORNERS, LOWER_LIDS):
        axis = _unit(c.xy[outer] - c.xy[inner])
        start = c.xy[outer] + axis * 0.07 * c.d
        for angle in (0.45, 0.05, -0.4):
            way = axis * np.cos(angle) + c.up * np.sin(angle)
            bend = c.up * 0.015 * c.d * np.sign(angle)
            folds.append((np.array([start, start + way * 0.1 * c.d + bend, start + way * 0.19 * c.d + 3 * bend]), 1.0))
        folds.append((c.xy[lower][2:-1] - c.up * 0.12 * c.d, 0.6))
    folds += [(c.xy[side], 1.0) for side in NASOLABIAL]
    return folds


def wrinkles(c: Canvas, s: float) -> None:
    """Soft creases: a thin shadow line with a faint highlight beside it, where the skin folds."""
    folds = _folds(c)
    win = c.window(np.vstack([f for f, _ in folds]), 0.1)
    if win is None:
        return
    lines = _segments(folds)
    shade = c.strokes(win, lines, 0.015, blur=0.012)
    light = c.strokes(win, lines, 0.05, blur=0.025)
    lightness = c.lab(win)[..., :1]
    c.blend(win, 0.6 * s * np.clip(shade * 1.6, 0, 1), lightness * 0.7)
    c.blend(win, 0.3 * s * np.clip(light - shade, 0, 1), lightness + (100.0 - lightness) * 0.2)


def smooth(c: Canvas, s: float) -> None:
    """Younger skin: the fine detail of the wrinkle regions evened out, the eyes and brows kept sharp."""
    folds = _folds(c)
    win = c.window(np.vstack([f for f, _ in folds]), 0.2)
    if win is None:
        return
    brow, _, top = (c.xy[row] for row in FOREHEAD)
    m = np.maximum(c.strokes(win, _segments(folds, taper=False), 0.14, blur=0.05),
                   c.mask(win, [np.vstack([brow, top[::-1]])], blur=0.05))
    keep = c.mask(win, [c.xy[i] for i in (*BROWS, RIGHT_EYE_RING, LEFT_EYE_RING, LIPS_OUTER)], blur=0.03)
    m *= np.clip(1 - 2 * keep, 0, 1)
    lab = c.lab(win)
    k = max(1, round(c.d / 40))  # the low pass runs on a 1/k size copy: its cost stays flat with face size
    small = cv2.resize(lab[..., 0], None, fx=1 / k, fy=1 / k, interpolation=cv2.INTER_AREA)
    small = cv2.bilateralFilter(small, -1, 8.0, 0.05 * c.d / k)
    low = cv2.resize(small, (lab.shape[1], lab.shape[0]), interpolation=cv2.INTER_LINEAR)
    target = low + 0.25 * (lab[..., 0] - low)  # a trace of the skin's grain: not plastic
    c.blend(win, 0.9 * s * m, target[..., None])


LAYERS: dict[str, Callable[[Canvas, float], None]] = {
    "eyeliner": eyeliner, "lips": lips, "blush": blush, "stubble": stubble, "brows": brows,
    "grey": grey, "wrinkles": wrinkles, "smooth": smooth,
}
# How far past the landmarks' box a layer reaches, in units of d: the hairline is above the mesh.
REACH = {"grey": 0.6}


def strengths(effect: "Effect", target: str | None) -> dict[str, float]:
    """The strength of each driver for one face: its gender target, or the age slider's direction,
    times the intensity."""
    k = effect.intensity
    return {"female": k * (target == "female"), "male": k * (target == "male"),
            "older": k * max(effect.age, 0.0), "younger": k * max(-effect.age, 0.0)}


def draw(image: np.ndarray, face: "FaceResult", effect: "Effect", enabled: Iterable[str] = DEFAULT,
         strength: float = 1.0) -> None:
    """Draw the enabled overlays on one face of `image` (BGR uint8, in place)."""
    drive = strengths(effect, face.target)
    todo = {n: strength * drive[DRIVER[n]] for n in LAYERS if n in enabled}
    todo = {n: s for n, s in todo.items() if s > 0}
    if not todo:
        return
    points = face.face.points[:, :2]
    a = face.alignment
    d = eye_distance(points)
    pad = 0.15 + max(REACH.get(n, 0.0) for n in todo)
    lo = np.floor(points.min(0) - pad * d).astype(int)
    hi = np.ceil(points.max(0) + pad * d).astype(int)
    h, w = image.shape[:2]
    box = (max(lo[0], 0), max(lo[1], 0), min(hi[0], w), min(hi[1], h))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    tex = between(a.spec, TEXTURE)  # crop pixels -> texture pixels, after frame -> crop
    to_texture = tex[:, :2] @ a.matrix
    to_texture[:, 2] += tex[:, 2]
    c = Canvas(image, box, points, to_texture)
    for name, s in todo.items():
        LAYERS[name](c, min(s, 1.0))
    c.commit()
