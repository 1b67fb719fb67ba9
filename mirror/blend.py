"""Blending: paste a generated face back into the frame, inside the face only.

Everything is computed in crop space (128 px, cheap) and only the result is warped back, into the
face's box. What is pasted is the *change* (generated - original crop), weighted by a feathered
face-oval mask: where the mask is zero the frame keeps its exact pixels, and at intensity 0 nothing
moves, where pasting the generated crop itself would blur the face by resampling it twice.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .align import LEFT_EYE, RIGHT_EYE, Alignment

if TYPE_CHECKING:
    from .contract import Card

MODES = ("soft", "seamless")
CHROMA = np.array([0, 1, 1], np.float32)  # Lab's colour channels, not its lightness


def hull(points: np.ndarray, size: int) -> np.ndarray:
    """The landmarks' convex hull filled (size x size uint8, 255 inside, anti-aliased)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[:, :2] * 16).astype(np.int32)), 255,
                       lineType=cv2.LINE_AA, shift=4)
    return mask


def face_mask(points: np.ndarray, size: int, feather: float = 0.06) -> np.ndarray:
    """Soft face mask (size x size float32, 0..1) from crop-space landmarks: their hull is the face
    oval on a frontal face and still holds nose and lips in profile, where the oval folds. It is
    shrunk by the feather width before blurring, so the soft edge ends at the face's outline, and
    the crop's own border counts as outside, so a face larger than the crop never gets a hard edge."""
    r = max(1, round(feather * size))
    mask = cv2.erode(hull(points, size), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)),
                     borderType=cv2.BORDER_CONSTANT, borderValue=0)
    # Clear of the border by the blur's reach too, so the crop edge stays exactly 0.
    mask[: r + 1], mask[-r - 1:], mask[:, : r + 1], mask[:, -r - 1:] = 0, 0, 0, 0
    mask = cv2.GaussianBlur(mask, (2 * r + 1, 2 * r + 1), r / 2, borderType=cv2.BORDER_CONSTANT)
    return mask.astype(np.float32) / 255.0


def grown_face(points: np.ndarray, size: int, reach: float, jaw: bool = True) -> np.ndarray:
    """The landmarks' hull grown by `reach` of the crop, not at all below the chin, and with `jaw`
    False less and less from the eyes down to the chin, feathered (size x size float32, 0..1):
    where a gender edit may change a face (`male_reach`, `female_reach` on its card). Above, past
    it, is the hair that the teacher's "to male" takes away to a background of its own invention,
    which a student paints on a photo's real hair as coloured specks; beside the jaw and below the
    chin, where "to female" lets long hair fall onto cheeks, collars and necks that the photo
    keeps, it paints dark smears. "To male" keeps the jaw: a wider jaw and a beard are much of its
    change (on 100 faces, 76% flip with the jaw narrowed, 83% without; docs/student.md, "Shipped")."""
    mask = hull(points, size)
    if round(reach * size):
        chin = np.ceil(points[:, 1].max()) + 1
        top = chin if jaw else points[RIGHT_EYE + LEFT_EYE, 1].mean()
        rows = np.clip((chin - np.arange(size, dtype=np.float32)) / max(chin - top, 1.0), 0, 1)
        away = cv2.distanceTransform((mask < 128).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # to the hull
        mask = np.where(away <= reach * size * rows[:, None], 255, mask).astype(np.uint8)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(1.0, size / 40))


def held_to_face(crop: np.ndarray, image: np.ndarray, points: np.ndarray, reach: float,
                 to_female: bool = False) -> np.ndarray:
    """`image` (float32), an edit to male (female), with its change from `crop` kept to
    `grown_face`. Above the eyes it changes lightness only, past the face for "to male" (the hue
    it paints on hair there is the green and pink glint of the teacher's invented backgrounds) and
    inside it for "to female" (green brows and lids); "to female" keeps its colour past the face,
    where the hair it grows over a background needs it."""
    size = crop.shape[0]
    held = crop + grown_face(points, size, reach, jaw=not to_female)[..., None] * (image - crop)
    eyes = points[RIGHT_EYE + LEFT_EYE, 1].mean()
    above = np.clip((eyes - np.arange(size, dtype=np.float32)) / (size / 16) + 0.5, 0, 1)  # no seam at the eyes
    rows = int(np.count_nonzero(above))  # the top rows, down to just below the eyes: the rest keeps its colour
    if not rows:
        return held
    face = grown_face(points, size, 0.0)[:rows]
    hold = (face if to_female else 1 - face) * above[:rows, None]
    before, after = (cv2.cvtColor(np.clip(x[:rows], 0, 255).astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
                     for x in (crop, held))
    grey = after - (hold[..., None] * CHROMA) * (after - before)
    # As a difference of two conversions, whose table error cancels where nothing is held.
    held[:rows] += 255 * (cv2.cvtColor(grey, cv2.COLOR_LAB2BGR) - cv2.cvtColor(after, cv2.COLOR_LAB2BGR))
    return held


def as_carded(card: "Card", crop: np.ndarray, image: np.ndarray, points: np.ndarray | None,
              to_female: bool) -> np.ndarray:
    """`image` (float32), an edit model's gender edit of `crop`, as its card shapes it: held to
    the face by its reach (`held_to_face`, with `points`: the face's landmarks in the crop) and its
    change scaled by its gain (the whole change, when the same pass also ages the face)."""
    reach, gain = card.reach(to_female), card.gain(to_female)
    if reach is not None and points is not None:
        image = held_to_face(crop, image, points, reach, to_female)
    return image if gain == 1 else crop + np.float32(gain) * (image - crop)


def outline(points: np.ndarray, size: int, width: float = 0.05) -> np.ndarray:
    """A soft band (size x size float32, 0..1) along the landmarks' hull, `width` of the crop to
    each side of it: the face's outline, jaw to hairline."""
    r = max(1, round(width * size))
    hull = face_mask(points, size, feather=0)
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.GaussianBlur(cv2.dilate(hull, ring) - cv2.erode(hull, ring), (0, 0), r / 2)


@lru_cache(maxsize=8)
def border(size: int, feather: float = 0.08) -> np.ndarray:
    """1 inside the crop, falling smoothly to 0 at its edge: whatever a model changes, the crop's
    square never shows in the frame."""
    r = max(1, round(feather * size))
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / r, 0, 1).astype(np.float32)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible kink where the ramp ends
    return np.outer(ramp, ramp)


def model_mask(face: np.ndarray | None, alpha: np.ndarray | None, masked: bool,
               cover: np.ndarray | None = None) -> np.ndarray:
    """The paste mask of a face. A model with an alpha output has blended its colour in by it
    already (its output is input + alpha (colour - input)): its change goes in as it is, faded
    to 0 at the crop border only, so longer hair or a wider jaw can reach past the face oval.
    After a model without alpha (`masked`), the face oval holds its change; the alpha model's
    reaches past it where its alpha says (`face` is None when no model without alpha ran).
    `cover` (mirror/occlusion.py; `face` is already without it): where something is held over
    the face, no model's change goes in."""
    if alpha is None:
        return face
    edge = border(alpha.shape[0])
    if cover is not None:
        edge = edge * (1.0 - cover)
    return np.maximum(face, alpha * edge) if masked else edge


def warm_up() -> None:
    """OpenCV builds its float LAB tables on first use (~0.1 s): do it before the first frame."""
    cv2.cvtColor(np.zeros((1, 1, 3), np.float32), cv2.COLOR_BGR2LAB)


def match_colour(generated: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The generated crop with the per-channel LAB mean and spread of the original inside the mask
    (Reinhard et al. 2001), so the skin tone does not jump where the mask fades out."""
    inside = (mask > 0.5).astype(np.uint8)
    if cv2.countNonZero(inside) < 16:
        return generated
    gen = cv2.cvtColor(np.asarray(generated, np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    ref = cv2.cvtColor(np.asarray(original, np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    mg, sg = (v.reshape(3) for v in cv2.meanStdDev(gen, mask=inside))
    mr, sr = (v.reshape(3) for v in cv2.meanStdDev(ref, mask=inside))
    # Bounded: a flat generated patch (sg ~ 0) must not blow noise up, nor a change the generator
    # meant (a beard, lipstick) be flattened away.
    gain = np.clip(sr / np.maximum(sg, 1e-3), 0.67, 1.5).astype(np.float32)
    gen = (gen - mg.astype(np.float32)) * gain + mr.astype(np.float32)
    return cv2.cvtColor(gen, cv2.COLOR_LAB2BGR) * 255.0


def change(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, colour: bool = True) -> np.ndarray:
    """What the runtime adds to the face crop (float32, crop space): the colour-matched generated
    face minus the original, through the mask. The trainer's eval judges original + change too."""
    if colour:
        generated = match_colour(generated, original, mask)
    return (generated - original) * mask[..., None]


def paste(frame: np.ndarray, alignment: Alignment, box: tuple[int, int, int, int], original: np.ndarray,
          generated: np.ndarray, mask: np.ndarray, mode: str = "soft", colour: bool = True) -> None:
    """Write the face into `frame` (in place, inside `box` only). `original` is the crop the
    generator saw (uint8), `generated` its output (float32 BGR 0..255), `mask` from `face_mask`."""
    delta = change(original, generated, mask, colour)
    x0, y0, x1, y1 = box
    roi = frame[y0:y1, x0:x1]
    pasted = cv2.add(roi, alignment.uncrop(delta, box), dtype=cv2.CV_8U)
    if mode == "seamless":
        pasted = _clone(pasted, roi, alignment.uncrop(mask, box))
    roi[...] = pasted


def _clone(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """cv2.seamlessClone (Poisson blending) of the box, falling back to the soft paste where the
    mask is too small or OpenCV refuses (it needs the mask clear of the box's edge)."""
    hard = (mask > 0.5).astype(np.uint8) * 255
    hard[[0, -1], :] = 0
    hard[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(hard)
    if w < 3 or h < 3:
        return src
    try:
        return cv2.seamlessClone(src, dst, hard, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    except cv2.error:
        return src
