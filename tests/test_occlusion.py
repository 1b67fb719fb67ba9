"""A black bar held over the mouth (drawn on real photos) gets no lip colour, from the generator
or the lip overlay; the bare mouth still does."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mirror import occlusion, overlay
from mirror.landmarks import Landmarker
from mirror.models import Registry
from mirror.occlusion import LIPS
from mirror.overlay import Overlays
from mirror.pipeline import Pipeline, Settings
from mirror.translate import Effect
from runtime_fixtures import photo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def faces():
    with Landmarker(video=False) as lm:
        return {name: lm(photo(name))[0].xy for name in ("obama.jpg", "biden.jpg")}


def barred(name: str, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo with a black bar over the mouth, and the bar's pixels."""
    image = photo(name)
    lo, hi = xy[LIPS].min(0) - 0.02 * image.shape[0], xy[LIPS].max(0) + 0.02 * image.shape[0]
    lo[0], hi[0] = xy[:, 0].min(), xy[:, 0].max()  # across the whole face
    bar = np.zeros(image.shape[:2], bool)
    bar[int(lo[1]):int(hi[1]), int(lo[0]):int(hi[0])] = True
    image[bar] = (12, 12, 12)
    return image, bar


def run(name: str, image: np.ndarray):
    with Pipeline(Registry(REPO / "exported_models"), Settings(Effect("female")), video=False) as pipeline:
        pipeline.overlays.append(Overlays({"lips"}))
        return pipeline(image)


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
def test_no_ghost_lips_on_a_bar(faces, name, monkeypatch):
    image, bar = barred(name, faces[name])
    lips = np.zeros(bar.shape, np.uint8)
    cv2.fillPoly(lips, [np.round(faces[name][LIPS]).astype(np.int32)], 1)
    lips = lips > 0
    bare = run(name, photo(name))
    change = np.abs(bare.image.astype(int) - photo(name)).max(axis=2)
    assert change[lips].mean() > 8, "the bare mouth gets its lip colour"
    covered = run(name, image)
    assert len(covered.faces) == 1, "the mesh still finds the face and places its lips under the bar"
    on_bar = np.abs(covered.image.astype(int) - image).max(axis=2)
    assert on_bar[lips].mean() < 1.0 and np.percentile(on_bar[lips], 95) <= 3, "no lip colour on the bar"
    # The cover map is soft by a crop pixel or two (about 1% of these photos' height): a face's
    # change fades into the bar's edge, not across it.
    k = round(0.01 * image.shape[0])
    inner = cv2.erode(bar.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)) > 0
    assert on_bar[inner].mean() < 1.5, "hardly any change anywhere on the bar past its edge"
    # Without the cover masks, the bar gets the effect: what this test guards against.
    monkeypatch.setattr(occlusion, "covers", lambda crops, points: [np.zeros(c.shape[:2], np.float32) for c in crops])
    monkeypatch.setattr(overlay.layers, "covered", lambda lab, skin: np.zeros(lab.shape[:2], np.float32))
    ghost = np.abs(run(name, image).image.astype(int) - image).max(axis=2)
    assert ghost[bar].mean() > 4 * max(on_bar[bar].mean(), 1)


def test_an_alpha_model_paints_nothing_on_a_bar(faces, monkeypatch):
    """An edit model (task `edit`) is pasted through its own alpha, not the face oval: the cover
    must come off that mask too."""
    name = "obama.jpg"
    image, bar = barred(name, faces[name])
    # The bar's inside: its rim takes a crop pixel's worth (a few frame pixels) of the change
    # around it, through resampling.
    rim = max(3, round(0.006 * image.shape[0]))
    inner = cv2.erode(bar.astype(np.uint8), np.ones((2 * rim + 1, 2 * rim + 1), np.uint8)) > 0

    def change():
        # "To female": of the candidate's edits, the one that changes the mouth most (its lips).
        with Pipeline(Registry(REPO / "exported_models" / "candidates"), Settings(Effect("female")),
                      video=False) as pipeline:
            assert pipeline.translator.plan(pipeline.settings.effect)[0][0].card.task == "edit"
            return np.abs(pipeline(image).image.astype(int) - image).max(axis=2)

    on_bar = change()
    assert on_bar[inner].mean() < 1.0 and np.percentile(on_bar[inner], 95) <= 3
    monkeypatch.setattr(occlusion, "covers", lambda crops, points: [np.zeros(c.shape[:2], np.float32) for c in crops])
    ghost = change()
    assert ghost[inner].mean() > 3 * max(on_bar[inner].mean(), 1), "without the cover the edit lands on the bar"
