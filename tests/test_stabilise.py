"""The change stabiliser: a still face (a real photo with a camera's noise, synthetic stillness)
stops flickering with the shipped int8 (age) model; a moving face, a new effect, a blink are not held."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mirror.models import Registry
from mirror.pipeline import Pipeline, Settings
from mirror.stabilise import Stabiliser, shift
from mirror.translate import Effect
from runtime_fixtures import photo

REPO = Path(__file__).resolve().parents[1]
FRAMES, WARMUP = 24, 8


def frames(speed: float) -> list[np.ndarray]:
    """obama.jpg at 480 px high, sliding `speed` px a frame, plus Gaussian noise of 1.5 levels."""
    image = cv2.resize(photo("obama.jpg"), None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    out = []
    for i in range(FRAMES):
        moved = cv2.warpAffine(image, np.float32([[1, 0, 120 + speed * i], [0, 1, -40]]), (640, 480),
                               borderMode=cv2.BORDER_REPLICATE)
        out.append(np.clip(moved + rng.normal(0, 1.5, moved.shape), 0, 255).astype(np.uint8))
    return out


def run(clip, stabilise: bool):
    with Pipeline(Registry(REPO / "exported_models"), Settings(Effect(age=1.0)), video=True) as pipeline:
        if not stabilise:
            pipeline.stabiliser = None
        results = [pipeline(f) for f in clip]
    face = np.zeros(clip[0].shape[:2], np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(results[-1].faces[0].face.xy.astype(np.int32)), 1)
    return [r.image for r in results], face > 0


def flicker(images, where) -> float:
    return float(np.mean([np.abs(b.astype(np.int16) - a)[where].mean()
                          for a, b in zip(images[WARMUP:], images[WARMUP + 1:])]))


@pytest.fixture(scope="module")
def still():
    return frames(0.0)


def test_a_still_face_stops_flickering(still):
    noise = flicker(still, np.ones(still[0].shape[:2], bool))
    plain, face = run(still, False)
    held, _ = run(still, True)
    added_plain = flicker(plain, face) - flicker(still, face)
    added_held = flicker(held, face) - flicker(still, face)
    assert noise > 1.0, "the clip has a camera's noise"
    assert added_plain > 0.3, f"the int8 generator flickers on its own ({added_plain:.2f})"
    assert added_held < 0.2, f"held: {added_held:.2f} grey levels added"


def test_a_moving_face_is_not_held():
    clip = frames(2.0)
    plain, face = run(clip, False)
    held, _ = run(clip, True)
    assert all(np.array_equal(a, b) for a, b in zip(plain[WARMUP:], held[WARMUP:]))


def test_a_new_effect_a_blink_and_a_shift_start_afresh():
    rng = np.random.default_rng(1)
    crop = rng.integers(60, 200, (1, 32, 32, 3)).astype(np.uint8)
    m = np.float64([[1, 0, 0], [0, 1, 0]])
    s = Stabiliser()
    first = s(crop, crop + np.float32(10), [m], [7], ["female"])
    assert np.array_equal(first, crop + np.float32(10)), "nothing to hold yet"
    held = s(crop, crop + np.float32(20), [m], [7], ["female"])
    assert np.allclose(held, crop + 0.8 * 10 + 0.2 * 20), "a still crop: the running mean"
    assert np.array_equal(s(crop, crop + np.float32(30), [m], [7], ["male"]), crop + np.float32(30))
    moved = np.float64([[1, 0, 0.6], [0, 1, 0]])
    assert shift(m, moved, 32) == pytest.approx(0.6)
    assert np.array_equal(s(crop, crop + np.float32(40), [moved], [7], ["male"]), crop + np.float32(40))
    blink = crop.copy()
    blink[0, :16] = 0  # the top half of the crop changes beyond noise; the rest holds
    out = s(blink, blink + np.float32(50), [moved], [7], ["male"])
    assert np.allclose(out[0, :12], blink[0, :12] + 50) and np.allclose(out[0, 20:], blink[0, 20:] + 0.8 * 40 + 0.2 * 50)
    s.reset()
    assert np.array_equal(s(crop, crop + np.float32(60), [moved], [7], ["male"]), crop + np.float32(60))
