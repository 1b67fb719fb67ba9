"""Alignment round trips on a real face: frame -> crop -> frame within a pixel."""

import cv2
import numpy as np
import pytest

from mirror.align import AlignSpec, Alignment, between
from mirror.landmarks import Landmarker
from runtime_fixtures import photo


@pytest.fixture(scope="module")
def face():
    image = photo("obama.jpg")
    with Landmarker(video=False) as lm:
        (f,) = lm(image)
    return image, f


def dots(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The image darkened, with a bright 5x5 dot at each point (to find them again after warps)."""
    out = (image // 4).astype(np.uint8)
    for x, y in np.round(points).astype(int):
        out[y - 2:y + 3, x - 2:x + 3] = 255
    return out


def centroids(image: np.ndarray, near: np.ndarray, radius: int) -> np.ndarray:
    """Brightness-weighted centre of the dot nearest each expected position."""
    grey = image.max(2).astype(np.float64) if image.ndim == 3 else image.astype(np.float64)
    grey = np.where(grey > 128, grey - 128, 0)
    out = []
    for x, y in np.round(near).astype(int):
        win = grey[y - radius:y + radius + 1, x - radius:x + radius + 1]
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        out.append([x + (xx * win).sum() / win.sum(), y + (yy * win).sum() / win.sum()])
    return np.array(out)


def test_points_survive_crop_and_uncrop(face):
    image, f = face
    a = Alignment.from_landmarks(f.points, AlignSpec())
    box = a.box(image.shape)
    x0, y0, x1, y1 = box
    # Dots on a grid inside the face's box, well away from its edge.
    gx, gy = np.meshgrid(np.linspace(x0 + 60, x1 - 60, 5), np.linspace(y0 + 60, y1 - 60, 5))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).round()
    marked = dots(image, grid)

    crop = a.crop(marked)
    found_in_crop = centroids(crop, a.to_crop(grid), 4)
    assert np.abs(a.to_frame(found_in_crop) - grid).max() < 1.0

    back = a.uncrop(crop, box)
    found_back = centroids(back, grid - (x0, y0), 6) + (x0, y0)
    assert np.abs(found_back - grid).max() < 1.0


def test_anchors_land_on_the_template(face):
    _, f = face
    spec = AlignSpec()
    a = Alignment.from_landmarks(f.points, spec)
    # A frontal face fits the template to a few crop pixels: the crop is what the trainer saw.
    from mirror.align import anchors

    assert np.abs(a.to_crop(anchors(f.points)) - spec.template()).max() < 6
    assert np.allclose(a.to_frame(a.to_crop(f.points)), f.xy, atol=1e-6)


def test_between_specs_matches_a_direct_crop(face):
    image, f = face
    small, wide = AlignSpec(128, 0.1), AlignSpec(96, 0.2)
    a, b = Alignment.from_landmarks(f.points, small), Alignment.from_landmarks(f.points, wide)
    assert np.allclose(between(small, wide) @ np.append(a.matrix, [[0, 0, 1]], 0), b.matrix, atol=1e-6)
    resampled = cv2.warpAffine(a.crop(image), between(small, wide), (96, 96))
    inner = slice(20, 76)  # the wider spec sees beyond the small crop at its border
    # Blurred: the two routes alias the photo's fine detail differently; the geometry must agree.
    soft = lambda x: cv2.GaussianBlur(x, (0, 0), 1.5)[inner, inner].astype(int)  # noqa: E731
    assert np.abs(soft(resampled) - soft(b.crop(image))).mean() < 3
    shifted = cv2.warpAffine(resampled, np.float32([[1, 0, 2], [0, 1, 0]]), (96, 96))
    assert np.abs(soft(shifted) - soft(b.crop(image))).mean() > 2 * np.abs(soft(resampled) - soft(b.crop(image))).mean()


def test_uncrop_fills_only_the_box(face):
    image, f = face
    a = Alignment.from_landmarks(f.points, AlignSpec())
    x0, y0, x1, y1 = box = a.box(image.shape)
    out = a.uncrop(np.full((128, 128), 255, np.uint8), box)
    assert out.shape == (y1 - y0, x1 - x0)
    # The crop's square, scaled to frame pixels: nothing spills beyond it.
    side = 128 / np.sqrt(abs(np.linalg.det(a.matrix[:, :2])))
    assert out.sum() / 255 == pytest.approx(side**2, rel=0.03)
