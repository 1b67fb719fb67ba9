"""The canvas the layers draw on: one face's box in CIE Lab, strokes, masks and periodic textures
warped with the face, committed back to the frame only where a layer touched it."""

from __future__ import annotations

from functools import cache
from typing import Iterable

import cv2
import numpy as np

from ..align import LEFT_EYE, RIGHT_EYE, AlignSpec
from .regions import BRIDGE, CHEEK_SKIN, CHIN

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
