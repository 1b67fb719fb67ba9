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
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Callable, Iterable

import cv2
import numpy as np

from .align import LEFT_EYE, RIGHT_EYE, AlignSpec, between
from .blend import face_mask
from .errors import MirrorError
from .occlusion import covered

if TYPE_CHECKING:
    from .pipeline import FaceResult, Result
    from .translate import Effect

OVERLAYS = ("eyeliner", "lips", "blush", "stubble", "brows", "grey", "wrinkles", "smooth", "debug")
DEFAULT = frozenset(OVERLAYS) - {"debug"}
# What drives each overlay: one gender target, or one direction of the age slider.
DRIVER = {"eyeliner": "female", "lips": "female", "blush": "female", "stubble": "male", "brows": "male",
          "grey": "older", "wrinkles": "older", "smooth": "younger"}

# MediaPipe face-mesh indices (a test checks them against MediaPipe's own contours). Pairs are
# (subject's right, subject's left); "right" is the image's left.
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
LIPS_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
UPPER_LIDS = ([133, 173, 157, 158, 159, 160, 161, 246, 33], [362, 398, 384, 385, 386, 387, 388, 466, 263])
# Upper edge from the outer end in, then the lower edge back out.
BROWS = ([70, 63, 105, 66, 107, 55, 65, 52, 53, 46], [300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
CHEEKS = ([50, 101, 118, 117, 123, 187, 205, 36], [280, 330, 347, 346, 352, 411, 425, 266])
# Where a beard grows: along the jaw from ear to ear, then back above the mouth under the nose.
BEARD = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323,
         454, 376, 411, 427, 436, 410, 322, 391, 393, 164, 167, 165, 92, 186, 216, 207, 187, 147]
# Forehead rows, each from the subject's right to left: above the brows, mid forehead, its top.
FOREHEAD = ([105, 66, 107, 9, 336, 296, 334], [104, 69, 108, 151, 337, 299, 333], [103, 67, 109, 10, 338, 297, 332])
# The hairline runs above the upper half of the face oval, here from ear to ear.
HAIRLINE = [127, 162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389, 356]
NASOLABIAL = ([129, 203, 206, 216, 212], [358, 423, 426, 436, 432])
EYE_CORNERS = ((133, 33), (362, 263))  # (inner, outer)
LOWER_LIDS = ([133, 155, 154, 153, 145, 144, 163, 7, 33], [362, 382, 381, 380, 374, 373, 390, 249, 263])
RIGHT_EYE_RING, LEFT_EYE_RING = (u + lo[::-1][1:-1] for u, lo in zip(UPPER_LIDS, LOWER_LIDS))
FROWN = (55, 285)  # the inner ends of the brows
CHEEK_SKIN = [50, 280, 205, 425, 101, 330]  # bare skin whatever the overlay: the reference skin tone
BRIDGE, CHIN = 168, 152  # between the eyes; the chin: the face's up runs from one to the other

TAIL = 0.02  # overlay weights below this are dropped

# Canonical texture space: the textures are periodic, so any face region maps onto them.
TEXTURE = AlignSpec(size=256, margin=0.1)


@cache
def _noise(seed: int, sx: float, sy: float) -> np.ndarray:
    """Periodic Gaussian-filtered noise (TEXTURE.size square, float32, mean 0, std 1); the filter's
    sigmas `sx`, `sy` in texture pixels make grain (equal) or strands (sx >> sy)."""
    n = TEXTURE.size
    white = np.random.default_rng(seed).standard_normal((n, n))
    f = np.fft.fftfreq(n)
    gain = np.exp(-2 * np.pi**2 * ((f[None, :] * sx) ** 2 + (f[:, None] * sy) ** 2))
    out = np.fft.ifft2(np.fft.fft2(white) * gain).real
    return ((out - out.mean()) / out.std()).astype(np.float32)


@cache
def _texture(name: str) -> np.ndarray:
    """The canonical textures, 0..1: stubble `grain`, brow `strands` (along the brow), `hair`
    (across the hairline)."""
    noise, gain = {"grain": ((1, 0.5, 0.5), 0.35), "strands": ((2, 3.0, 0.5), 0.4),
                   "hair": ((3, 0.7, 2.0), 0.4)}[name]
    return np.clip(_noise(*noise) * gain + 0.5, 0, 1)


@cache
def _chaikin(n: int, rounds: int = 2) -> np.ndarray:
    """Chaikin corner cutting of an n-point polyline, as a matrix: a polyline through landmarks
    becomes a soft curve (ends kept) in one product."""
    m = np.eye(n)
    for _ in range(rounds):
        k = len(m)
        i = np.arange(k - 1)
        cut = np.zeros((2 * k, k))
        cut[0, 0] = cut[-1, -1] = 1.0
        cut[1 + 2 * i, i], cut[1 + 2 * i, i + 1] = 0.75, 0.25
        cut[2 + 2 * i, i], cut[2 + 2 * i, i + 1] = 0.25, 0.75
        m = cut @ m
    return m


def _segments(paths: Iterable[tuple[np.ndarray, float]], taper: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each (polyline, weight) smoothed and cut into segments (N x 2 x 2, box pixels), with each
    segment's weight, which with `taper` fades out towards both ends as a crease does."""
    segments, values = [], []
    for path, weight in paths:
        pts = _chaikin(len(path)) @ path
        t = np.linspace(0.05, 0.95, len(pts) - 1)
        values.append(weight * (np.sin(np.pi * t) ** 0.7 if taper else np.ones_like(t)))
        segments.append(np.stack([pts[:-1], pts[1:]], 1))
    return np.concatenate(segments), np.concatenate(values)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-6)


def eye_distance(xy: np.ndarray) -> float:
    """The distance between the eye centres: the unit of every overlay's widths and blurs."""
    return float(np.linalg.norm(xy[RIGHT_EYE].mean(0) - xy[LEFT_EYE].mean(0)))


Window = tuple[slice, slice]


class Canvas:
    """One face's box: the landmarks in box pixels, `d` the distance between the eye centres (the
    unit of every width and blur), `up` the face's up direction, and its pixels in Lab (float32),
    converted window by window as the layers ask, so a lip tint never pays for the whole face. Only
    the pixels some layer touched are written back."""

    def __init__(self, image: np.ndarray, box: tuple[int, int, int, int], points: np.ndarray,
                 to_texture: np.ndarray):
        x0, y0, x1, y1 = box
        self.roi = image[y0:y1, x0:x1]
        self.origin = np.array([x0, y0], np.float64)
        self.xy = points[:, :2] - self.origin
        self.d = eye_distance(self.xy)
        self.up = _unit(self.xy[BRIDGE] - self.xy[CHIN])
        self.to_texture = to_texture  # frame pixels -> texture pixels
        shape = self.roi.shape[:2]
        self.touched = np.zeros(shape, bool)
        self._ready = np.zeros(shape, bool)
        self._lab = np.empty((*shape, 3), np.float32)

    def lab(self, win: Window) -> np.ndarray:
        """The window's pixels in Lab, a view: layers change it in place."""
        todo = ~self._ready[win]
        if todo.any():
            fresh = cv2.cvtColor(np.multiply(self.roi[win], np.float32(1 / 255), dtype=np.float32), cv2.COLOR_BGR2Lab)
            np.copyto(self._lab[win], fresh, where=todo[..., None])
            self._ready[win] = True
        return self._lab[win]

    def window(self, points: np.ndarray, pad: float) -> Window | None:
        """The part of the box within `pad` (in units of d) of `points`; None when empty."""
        h, w = self.touched.shape
        lo = np.floor(points.min(0) - pad * self.d).astype(int)
        hi = np.ceil(points.max(0) + pad * self.d).astype(int)
        x0, y0, x1, y1 = max(lo[0], 0), max(lo[1], 0), min(hi[0], w), min(hi[1], h)
        return (slice(y0, y1), slice(x0, x1)) if x1 > x0 and y1 > y0 else None

    def _blank(self, win: Window) -> tuple[np.ndarray, np.ndarray]:
        """A zero mask for the window, and the window's origin to subtract from box pixels."""
        return (np.zeros((win[0].stop - win[0].start, win[1].stop - win[1].start), np.float32),
                np.array([win[1].start, win[0].start]))

    def mask(self, win: Window, polys: Iterable[np.ndarray], blur: float = 0.0,
             values: Iterable[float] | None = None) -> np.ndarray:
        """Filled polygons (box pixels) in the window, each with its value (1 by default; a later
        polygon paints over an earlier one), softened by a Gaussian of `blur` x d."""
        m, off = self._blank(win)
        polys = list(polys)
        for p, v in zip(polys, [1.0] * len(polys) if values is None else values):
            cv2.fillPoly(m, [np.round((p - off) * 16).astype(np.int32)], float(v), cv2.LINE_AA, shift=4)
        return self.soften(m, blur)

    def strokes(self, win: Window, lines: tuple[np.ndarray, np.ndarray], width: float,
                blur: float = 0.0) -> np.ndarray:
        """Line segments with their weights (from `_segments`), `width` x d thick."""
        m, off = self._blank(win)
        segments, values = lines
        segments = np.round((segments - off) * 16).astype(np.int32)
        values = np.round(values * 8) / 8
        # One call per grey level: cv2 draws many segments fast, one Python call per segment is slow.
        for v in np.unique(values[values > 0]):
            cv2.polylines(m, list(segments[values == v]), False, float(v), max(1, round(width * self.d)),
                          cv2.LINE_AA, shift=4)
        return self.soften(m, blur)

    def soften(self, m: np.ndarray, blur: float) -> np.ndarray:
        sigma = blur * self.d
        if sigma < 0.3:
            return m
        k = int(sigma // 3) + 1  # a wide blur runs on a 1/k size copy: the mask is smooth at that scale
        if k == 1:
            return cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        small = cv2.resize(m, ((m.shape[1] + k - 1) // k, (m.shape[0] + k - 1) // k), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma / k, borderType=cv2.BORDER_CONSTANT)
        return cv2.resize(small, (m.shape[1], m.shape[0]), interpolation=cv2.INTER_LINEAR)

    def texture(self, win: Window, name: str) -> np.ndarray:
        """A canonical texture warped onto the window with the face."""
        m = self.to_texture.copy()
        m[:, 2] += m[:, :2] @ (self.origin + (win[1].start, win[0].start))
        size = (win[1].stop - win[1].start, win[0].stop - win[0].start)
        return cv2.warpAffine(_texture(name), m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_WRAP)

    def blend(self, win: Window, weight: np.ndarray, target) -> None:
        """Move the window's Lab pixels towards `target` by `weight`: a Lab colour, a Lab image, or
        an image of one channel, the lightness alone. The weight's faint tail is cut, smoothly: a
        soft edge then ends within the overlay's region instead of nudging far pixels by one level."""
        weight = np.maximum(weight - TAIL, 0) * np.float32(1 / (1 - TAIL))
        live = weight > 0
        if not live.any():
            return
        target = np.asarray(target, np.float32)
        lab = self.lab(win)[..., : target.shape[-1]]
        lab += weight[..., None] * (target - lab)
        self.touched[win] |= live

    def skin(self) -> np.ndarray:
        """The Lab colour of bare cheek skin."""
        h, w = self.touched.shape
        x, y = np.clip(np.round(self.xy[CHEEK_SKIN]).astype(int), 0, (w - 1, h - 1)).T
        bgr = self.roi[y, x][None].astype(np.float32) * np.float32(1 / 255)
        return np.median(cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[0], axis=0)

    def commit(self) -> None:
        rows, cols = np.flatnonzero(self.touched.any(1)), np.flatnonzero(self.touched.any(0))
        if not len(rows):
            return
        win = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        bgr = cv2.convertScaleAbs(cv2.cvtColor(self._lab[win], cv2.COLOR_Lab2BGR), alpha=255.0)  # rounds, saturates
        np.copyto(self.roi[win], bgr, where=self.touched[win][..., None])


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


def debug(image: np.ndarray, result: "Result") -> None:
    """The mesh (faint white), the blend's face mask (yellow outline) and the crop (magenta square,
    its clipped box in cyan) of every face, with its track id."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = np.array(sorted(FACEMESH_TESSELATION))
    h, w = image.shape[:2]
    for r in result.faces:
        xy = r.face.points[:, :2]
        x0, y0 = np.clip(np.floor(xy.min(0)).astype(int) - 1, 0, (w, h))
        x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int) + 2, 0, (w, h))
        if x1 > x0 and y1 > y0:  # the mesh at a third opacity: the face must stay visible beneath it
            roi = image[y0:y1, x0:x1]
            mesh = roi.copy()
            segs = np.round((xy[edges] - (x0, y0)) * 16).astype(np.int32)
            cv2.polylines(mesh, list(segs), False, (255, 255, 255), 1, cv2.LINE_AA, shift=4)
            cv2.addWeighted(roi, 0.67, mesh, 0.33, 0, dst=roi)
        a = r.alignment
        n = a.spec.size
        square = a.to_frame(np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float64))
        cv2.polylines(image, [np.round(square * 16).astype(np.int32)], True, (255, 0, 255), 1, cv2.LINE_AA, shift=4)
        if r.box is None:
            continue
        x0, y0, x1, y1 = r.box
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 0), 1)
        mask = a.uncrop(face_mask(a.to_crop(r.face.points), n), r.box)
        contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image[y0:y1, x0:x1], contours, -1, (0, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(image, f"#{r.face.track}", (x0 + 3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 0), 1, cv2.LINE_AA)


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
