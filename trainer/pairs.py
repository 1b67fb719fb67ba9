"""Pairs: the teacher's before/after renders (trainer/synthesize.py) as training examples.

An example is (input crop, target crop, condition) at the student's own crop spec. The target is
the teacher's edit inside the union of both renders' person masks and the source outside it: the
teacher also repaints the background, which a mirror must leave alone, while longer hair or a
wider jaw fall inside the union and stay. Every kept edit gives two examples (source -> edit, and
edit -> source with the opposite condition), and every source one "no change" example.
Identities whose index is 19 modulo 20 are held out (validation: never trained on).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from mirror.align import Alignment, AlignSpec, between
from mirror.blend import face_mask, outline
from mirror.contract import to_tensor
from mirror.errors import MirrorError

from .synthesize import STORE

RENDER = 1024  # the teacher's render side
HOLDOUT = 20


def resample(image: np.ndarray, spec: AlignSpec) -> np.ndarray:
    return cv2.warpAffine(image, between(STORE, spec), (spec.size, spec.size), flags=cv2.INTER_AREA
                          if spec.size < STORE.size else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def rendered(matrix: np.ndarray, side: int = RENDER) -> np.ndarray:
    """Where the stored crop holds the render's own pixels (1) and not its mirrored border (0): a
    wide crop reaches past a FFHQ render's sides."""
    inside = cv2.warpAffine(np.ones((side, side), np.float32), matrix, (STORE.size, STORE.size), borderValue=0)
    return cv2.erode(inside, np.ones((3, 3), np.uint8))


def replicate(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Outside `valid`, the nearest valid pixel: the border the runtime's crop repeats past a
    frame's edge (Alignment.crop), instead of the stored mirror image."""
    _, labels = cv2.distanceTransformWithLabels((valid < 0.5).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(valid >= 0.5)  # label k is the k-th valid pixel in this scan order
    order = np.zeros(labels.max() + 1, np.int64)
    order[labels[ys, xs]] = np.arange(len(ys))
    nearest = order[labels]
    return image[ys[nearest], xs[nearest]]


def composite(source: np.ndarray, edit: np.ndarray, masks: tuple[np.ndarray, np.ndarray], valid: np.ndarray,
              keep_hair: bool = False) -> np.ndarray:
    """The edit where either render is the person (grown a little, feathered) and the render is its
    own, the source elsewhere. `keep_hair`: also the source where the edit took the person away
    (`taken`)."""
    union = np.maximum(*masks).astype(np.float32) / 255.0
    k = max(3, union.shape[0] // 32) | 1
    grow = np.ones((k, k), np.uint8)
    where = cv2.dilate(union, grow)
    if keep_hair:
        where *= 1 - cv2.dilate(taken(*masks), grow)
    where = cv2.GaussianBlur(where, (k, k), 0) * valid
    return np.round(source + where[..., None] * (edit.astype(np.float32) - source)).astype(np.uint8)


def sixteenth(side: int) -> int:
    """An odd kernel of about a 16th of the crop's side: the scale of hair added, taken or a fringe
    drawn, above that of a strand or a line."""
    return max(3, side // 16) | 1


def taken(source: np.ndarray, edit: np.ndarray) -> np.ndarray:
    """Where the source render is the person and the edit is not (float32 0/1): long hair the
    teacher's "to male" took away, with a background behind it that the teacher invented and a
    student cannot. Strips thinner than a sixteenth of the crop (a jaw drawn narrower) are not."""
    gone = ((source.astype(np.int16) - edit) > 127).astype(np.uint8)
    k = sixteenth(source.shape[0])
    return cv2.morphologyEx(gone, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)).astype(np.float32)


def coarse_only(source: np.ndarray, edit: np.ndarray, face: np.ndarray, level: float) -> np.ndarray:
    """The edit with its change outside the face kept only where the change is coarse (hair added,
    taken or greyed: blurred over a sixteenth of the crop, more than about `level` grey levels),
    the source elsewhere. The teacher re-renders every strand of hair it keeps; a student cannot
    guess those strands, and learning to repaint them paints its own speckled texture over a
    photo's real hair. Inside `face` (0..1) every change stays: lines, beard, lipstick."""
    change = edit.astype(np.float32) - source
    k = sixteenth(source.shape[0])
    coarse = np.abs(cv2.GaussianBlur(change, (k, k), 0)).max(-1)
    keep = cv2.GaussianBlur(np.clip(coarse / level - 0.5, 0, 1), (k, k), 0)
    keep = np.maximum(keep, face)
    return np.round(source + keep[..., None] * change).astype(np.uint8)


def brightness_change(before: np.ndarray, after: np.ndarray, code: int = cv2.COLOR_BGR2GRAY) -> np.ndarray:
    """The coarse change of brightness from `before` to `after` (signed grey levels, blurred over a
    16th of the side): a fringe drawn or taken away, not a line or a strand."""
    k = sixteenth(before.shape[0])
    luma = [cv2.cvtColor(im, code).astype(np.float32) for im in (before, after)]
    return cv2.GaussianBlur(luma[1] - luma[0], (k, k), 0)


def hairline(source: np.ndarray, edit: np.ndarray, band: np.ndarray, level: float) -> np.ndarray:
    """The source where an edit moves the hairline: inside `band` (the forehead, `forehead`), a
    coarse change of brightness of more than about `level` grey levels (skin under a fringe the
    teacher's "younger" draws, or bared by its "older"). A student paints a new fringe on a real
    forehead as a dark smudge, not hair; the edit's other changes stay."""
    k = sixteenth(source.shape[0])
    moved = np.clip(np.abs(brightness_change(source, edit)) / level - 0.5, 0, 1) * band
    keep = cv2.GaussianBlur(cv2.dilate(moved, np.ones((k, k), np.uint8)), (k, k), 0)
    # The feathered edge may reach past the band's sides and top (into the hair), and down only
    # half its width: the brows and the glasses of "older" lie below.
    rows = np.flatnonzero(band.max(1) > 0)
    above = (np.arange(len(band)) <= (rows.max() + k // 2 if len(rows) else -k)).astype(np.float32)
    keep *= cv2.GaussianBlur(above[:, None], (1, k), 0)
    return np.round(edit + keep[..., None] * (source.astype(np.float32) - edit)).astype(np.uint8)


BRIDGE = [168, 6]  # MediaPipe face mesh: the bridge of the nose, where glasses rest
INNER_EYES = [133, 362]


def worn(source: np.ndarray, edit: np.ndarray, points: np.ndarray) -> float:
    """How much an edit puts glasses on or takes them off: the change of horizontal edges (mean
    Sobel, grey levels) on the bridge of the nose, in a square about half as wide as the inner eye
    corners are apart, from the source's landmarks (`points`, in the crops' pixels). Positive: put
    on. An age edit's lines run across the brow, not there."""
    centre = points[BRIDGE, :2].mean(0)
    r = 0.27 * np.linalg.norm(points[INNER_EYES[0], :2] - points[INNER_EYES[1], :2])
    (x0, y0), (x1, y1) = np.floor(centre - r).astype(int), np.ceil(centre + r).astype(int) + 1

    def edges(im):
        grey = cv2.cvtColor(im, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))[max(y0, 0):y1, max(x0, 0):x1].mean()

    return float(edges(edit) - edges(source))


def landmarks_in(points: np.ndarray, matrix: np.ndarray, spec: AlignSpec) -> np.ndarray:
    """A pair's source landmarks in its crop at `spec`, through the stored crop's matrix."""
    return Alignment(between(STORE, spec) @ np.vstack([matrix, [0, 0, 1]]), spec).to_crop(points)


BROWS = [105, 334, 66, 296]  # MediaPipe face mesh: the top of each eyebrow
NOSE_TIP = 1


def forehead(points: np.ndarray, size: int) -> np.ndarray:
    """The landmarks' hull above the brows, by a 25th of the crop: where the teacher's hairline
    moves, and clear of the glasses its "older" puts on."""
    rows = np.arange(size) < points[BROWS, 1].mean() - size / 25
    return face_mask(points, size, feather=0) * rows[:, None].astype(np.float32)


def jaw(points: np.ndarray, size: int) -> np.ndarray:
    """The band along the landmarks' hull below the tip of the nose, a 12th of the crop inside it
    and a 6th outside: where the teacher's age edits move the jaw and chin, which a student paints
    on a real face as a dark band on the chin and neck, not a jaw."""
    rows = np.arange(size) > points[NOSE_TIP, 1]
    outside = outline(points, size, width=1 / 6) * (1 - face_mask(points, size, feather=0))
    band = np.maximum(outline(points, size, width=1 / 12), outside)
    return band * rows[:, None].astype(np.float32)


def face_in(points: np.ndarray, matrix: np.ndarray, spec: AlignSpec) -> np.ndarray:
    """The face (the landmarks' hull, grown by a 32nd of the crop and feathered) in a pair's
    crop at `spec`, from the source render's landmarks and the stored crop's matrix."""
    hull = face_mask(landmarks_in(points, matrix, spec), spec.size, feather=0)
    r = max(1, spec.size // 32)
    grown = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return cv2.GaussianBlur(grown, (0, 0), r / 2)


def silhouette(masks: np.ndarray, k: int) -> float:
    """The area of edit k's person mask over the source's (masks[0])."""
    return float(masks[k].sum(dtype=np.float64) / max(masks[0].sum(dtype=np.float64), 1.0))


def reverse(cond: np.ndarray, source_female: float) -> np.ndarray:
    """The condition that leads from an edit back to its source."""
    return np.array([source_female if cond[1] else 0.5, cond[1], -cond[2]], np.float32)


class PairSet:
    """All kept pairs of a synthesis folder in memory, at `spec`: inputs and targets (N, S, S, 3)
    uint8 BGR, conditions (N, 3) float32, identity index per example, and whether an example is a
    teacher edit of its source (`forward`; else the way back or "no change"). `max_shrink` > 0
    leaves out edits (and their way back) whose person mask is smaller than the source's by more
    than that fraction: hair taken away, with the background behind it to invent. `keep_hair`
    keeps the gender edits among them, those that also age included, with the source's hair where it
    was taken (`composite`); an edit that only ages keeps its greyer, shorter hair, which the
    source's would contradict. `coarse` > 0 keeps only the coarse part of every edit's change
    outside the face (`coarse_only`, at that level in grey levels). `fringe` > 0 keeps the source's
    hairline in every edit that only ages (`hairline`, at that level). `added_hair` keeps, in the
    way back of a gender edit, the hair the edit added: the way back of a "to female" that grew
    long hair is a "to male" that would take it away to the teacher's background, as the forward
    "to male" edits `keep_hair` mends do. `glasses` > 0 leaves out the
    edits that only age and put glasses on or take them off (`worn`, by more than that level):
    the teacher does so in a quarter of them, and glasses say nothing of age."""

    def __init__(self, folder: Path, spec: AlignSpec, split: str = "train", max_shrink: float = 0.0,
                 keep_hair: bool = False, coarse: float = 0.0, fringe: float = 0.0, glasses: float = 0.0,
                 added_hair: bool = False):
        files = sorted((Path(folder) / "pairs").glob("[0-9]*.npz"))
        if not files:
            raise MirrorError(f"{folder}: no pairs (run 'mirror-train synthesize --out {folder}' first)")
        self.spec = spec
        inputs, targets, conds, ids, forward = [], [], [], [], []
        self.ages = self.glasses_left_out = 0  # age edits kept by the teacher; of them, left out for glasses
        self.points = {}  # identity -> its source's landmarks in the crop (pixels of `spec`)
        for path in files:
            i = int(path.stem)
            if (i % HOLDOUT == HOLDOUT - 1) != (split == "val"):
                continue
            with np.load(path) as f:
                if not f["found"]:
                    continue
                inside = rendered(f["matrix"])
                crops = [resample(replicate(c, inside), spec) for c in f["crops"]]
                masks = [resample(replicate(m, inside), spec) for m in f["masks"]]
                valid = resample(inside, spec)
                female = float(f["female"] > 0.5)
                src = crops[0]
                face = face_in(f["points"], f["matrix"], spec) if coarse else None
                points = landmarks_in(f["points"], f["matrix"], spec)
                brow = forehead(points, spec.size) if fringe else None
                stored = landmarks_in(f["points"], f["matrix"], STORE)
                self.points[i] = points[:, :2].astype(np.float32)
                inputs.append(src)
                targets.append(src)
                conds.append(np.array([female, 1, 0], np.float32))
                ids.append(i)
                forward.append(False)
                for k, cond in enumerate(f["conditions"], 1):
                    if not f["kept"][k - 1] or (max_shrink and silhouette(f["masks"], k) < 1 - max_shrink):
                        continue
                    self.ages += not cond[1]
                    if glasses and not cond[1] and abs(worn(f["crops"][0], f["crops"][k], stored)) > glasses:
                        self.glasses_left_out += 1
                        continue
                    edit = composite(src, crops[k], (masks[0], masks[k]), valid, keep_hair and bool(cond[1]))
                    if coarse:
                        edit = coarse_only(src, edit, face, coarse)
                    if fringe and not cond[1]:
                        edit = hairline(src, edit, brow, fringe)
                    back = src
                    if added_hair and cond[1]:
                        back = composite(edit, src, (masks[k], masks[0]), valid, keep_hair=True)
                    cond = cond.copy()
                    if not cond[1]:
                        cond[0] = 0.5  # no gender asked: the target gender says nothing
                    inputs += [src, edit]
                    targets += [edit, back]
                    conds += [cond, reverse(cond, female)]
                    ids += [i, i]
                    forward += [True, False]
        if not inputs:
            raise MirrorError(f"{folder}: no kept pair in the '{split}' split yet")
        self.inputs, self.targets = np.stack(inputs), np.stack(targets)
        self.conditions, self.ids, self.forward = np.stack(conds), np.array(ids), np.array(forward)

    def __len__(self) -> int:
        return len(self.inputs)


def chip(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random tight square around the face (n x n, 1 inside): where a tightly cropped photo, a
    UTKFace chip or a face at the frame's edge, has pixels of its own; the wide crop repeats its
    border beyond. UTKFace's chips span about the middle 0.54 of a margin-0.3 crop, from 0.32 to
    0.85 of its height."""
    half = rng.uniform(0.22, 0.4) * n
    centre = (n * (0.5 + rng.uniform(-0.04, 0.04)), n * (0.58 + rng.uniform(-0.05, 0.05)))
    corners = cv2.boxPoints((centre, (2 * half, 2 * half), rng.uniform(-8, 8)))
    inside = np.zeros((n, n), np.uint8)
    cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
    return inside


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, tight: float = 0.0,
            clean_change: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The same random camera to input and target: a small shift, scale and turn (a live crop is
    never exactly the template), a mirror flip, colour and exposure, blur, sensor noise and JPEG,
    so renders look more like webcam frames while the pair stays a pair. A fraction `tight` is cut
    to a tight chip whose border the crop repeats (`chip`), as on UTKFace's faces.
    `clean_change`: JPEG goes on the input alone and the target is that input plus the teacher's
    change. Compressed apart, the two differ by block noise wherever the teacher changed the face,
    and the student learns to paint that noise as part of the edit."""
    n = x.shape[0]
    if tight and rng.random() < tight:
        inside = chip(n, rng)
        x, y = replicate(x, inside), replicate(y, inside)
    angle, scale = rng.uniform(-6, 6), np.exp(rng.uniform(-0.06, 0.06))
    m = cv2.getRotationMatrix2D((n / 2, n / 2), angle, scale)
    m[:, 2] += rng.uniform(-0.03, 0.03, 2) * n
    flip = rng.random() < 0.5
    gain = rng.uniform(0.75, 1.25, 3) * rng.uniform(0.8, 1.2)
    sigma = rng.choice([0, 0, rng.uniform(0.4, 1.4)])
    noise = rng.normal(0, rng.uniform(0, 6), x.shape).astype(np.float32)
    quality = int(rng.integers(40, 96)) if rng.random() < 0.5 else 0
    out = []
    for img in (x, y):
        img = cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if flip:
            img = img[:, ::-1]
        img = img.astype(np.float32) * gain
        if sigma:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        out.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    x, y = out
    if not quality:
        return x, y
    squeezed = jpeg(x, quality)
    if clean_change:
        return squeezed, np.clip(squeezed.astype(np.int16) + y.astype(np.int16) - x, 0, 255).astype(np.uint8)
    return squeezed, jpeg(y, quality)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    """BGR uint8 crops -> NCHW RGB float32 in [-1, 1] (the cards' normalisation)."""
    return torch.from_numpy(to_tensor(np.stack(images)))
