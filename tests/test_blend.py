"""Blending on real faces: the mask, the colour match and the paste."""

import cv2
import numpy as np
import pytest

from mirror import blend
from mirror.align import AlignSpec, Alignment
from mirror.landmarks import Landmarker
from runtime_fixtures import photo


@pytest.fixture(scope="module")
def faces():
    """(image, alignment, crop-space landmarks) for a frontal face and the profile in sample2."""
    out = {}
    with Landmarker(video=False) as lm:
        for name in ("obama.jpg", "sample2.jpg"):
            image = photo(name)
            for i, f in enumerate(lm(image)):
                a = Alignment.from_landmarks(f.points, AlignSpec())
                out[f"{name}:{i}"] = (image, a, a.to_crop(f.points))
    return out


def test_mask_is_soft_inside_the_crop_and_covers_the_face(faces):
    for image, a, pts in faces.values():
        m = blend.face_mask(pts, 128)
        assert m.dtype == np.float32 and m.shape == (128, 128)
        assert 0 <= m.min() and m.max() <= 1
        assert not m[[0, -1], :].any() and not m[:, [0, -1]].any(), "hard edge at the crop border"
        # Feathered: a band of intermediate values, not a step.
        assert ((m > 0.05) & (m < 0.95)).sum() > 0.1 * (m >= 0.95).sum()
        # One convex blob: a face in profile folds its oval, and a polygon fill would leave a crescent.
        core = (m > 0.5).astype(np.uint8)
        hull = cv2.convexHull(cv2.findNonZero(core))
        assert core.sum() > 0.95 * cv2.contourArea(hull)
    # On the frontal faces, nose tip, lips and eyes lie well inside (in profile they are the outline).
    for key in ("obama.jpg:0", "sample2.jpg:0", "sample2.jpg:2"):
        _, _, pts = faces[key]
        m = blend.face_mask(pts, 128)
        for i in (1, 13, 159, 386):
            x, y = np.round(pts[i]).astype(int)
            assert m[y, x] > 0.8, (key, i)


def test_colour_match_takes_the_originals_statistics(faces):
    image, a, pts = faces["obama.jpg:0"]
    crop = a.crop(image)
    m = blend.face_mask(pts, 128)
    tinted = np.clip(crop.astype(np.float32) * (0.9, 1.0, 1.15) + (0, 10, 0), 0, 255)
    matched = blend.match_colour(tinted, crop, m)
    inside = m > 0.5
    lab = lambda x: cv2.cvtColor(np.float32(x) / 255, cv2.COLOR_BGR2LAB)[inside]  # noqa: E731
    before = np.abs(lab(tinted).mean(0) - lab(crop).mean(0)).max()
    after = np.abs(lab(matched).mean(0) - lab(crop).mean(0)).max()
    assert before > 3 and after < 0.5


def test_paste_changes_only_the_masked_face(faces):
    image, a, pts = faces["obama.jpg:0"]
    crop, m, box = a.crop(image), blend.face_mask(pts, 128), a.box(image.shape)
    frame = image.copy()
    blend.paste(frame, a, box, crop, crop.astype(np.float32), m)
    assert np.array_equal(frame, image), "an unchanged face must leave the frame exactly as it was"
    inverted = 255 - crop.astype(np.float32)
    blend.paste(frame, a, box, crop, inverted, m, colour=False)
    x0, y0, x1, y1 = box
    changed = (frame != image).any(2)
    assert changed[y0:y1, x0:x1].mean() > 0.2
    changed[y0:y1, x0:x1] = False
    assert not changed.any(), "changed outside the face box"
