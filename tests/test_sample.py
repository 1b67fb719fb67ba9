"""The bundled sample clip (the first launch without a camera) shows every effect: a woman and a
man (synthetic motion over two still photos), both found, both changed, and `swap` turns each
the other way, with the shipped models."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirror.gui.sources import SAMPLE, sample
from mirror.models import Registry
from mirror.pipeline import Pipeline, Settings
from mirror.source import open_source
from mirror.translate import Effect

REPO = Path(__file__).resolve().parents[1]
FRAMES = 30


@pytest.fixture(scope="module")
def frames():
    with open_source(str(SAMPLE)) as clip:
        assert (clip.kind, clip.fps) == ("video", 25.0)
        return [f.image for f in islice(clip, FRAMES)]


def test_the_app_starts_on_the_two_face_clip_small_enough_to_ship(frames):
    assert sample().spec == str(SAMPLE) and sample().loop
    assert SAMPLE.stat().st_size < 2_000_000
    assert frames[0].shape == (480, 640, 3)


@pytest.mark.parametrize("gender", ["female", "male", "swap"])
def test_every_effect_changes_the_faces_it_turns(frames, gender):
    """Both faces found and tracked; each face that an effect turns to the other gender changes
    (the shipped edit model leaves a man asked "to male" as he is)."""
    with Pipeline(Registry(REPO / "exported_models"), Settings(Effect(gender)), video=True) as pipeline:
        results = [pipeline(f) for f in frames]
    last = results[-1]
    # Left is the woman, right the man.
    faces = sorted(last.faces, key=lambda r: r.face.xy[:, 0].mean())
    assert len(faces) == 2 and all(r.changed for r in faces)
    assert all(len(r.faces) == 2 for r in results[5:]), "both tracked throughout"
    targets = [r.target for r in faces]
    assert targets == {"female": ["female"] * 2, "male": ["male"] * 2, "swap": ["male", "female"]}[gender]
    for r, own in zip(faces, ("female", "male")):  # the picture really changed inside the face box
        x0, y0, x1, y1 = r.box
        change = np.abs(last.image[y0:y1, x0:x1].astype(int) - frames[-1][y0:y1, x0:x1]).mean()
        if r.target != own:
            assert change > 3.0, (gender, change)


def test_swap_decides_each_face_the_same_in_the_mirrored_view(frames):
    """The GUI shows the camera mirrored by default: the classifier's vote must not depend on it.
    (On one view alone the astronaut's P(female) sits at 0.57 and at 0.41 mirrored, and the
    mirrored view turned her "to female"; the mean of both views decides her the same in each.)"""
    with Pipeline(Registry(REPO / "exported_models"), Settings(Effect("swap")), video=True) as pipeline:
        results = [pipeline(cv2.flip(f, 1)) for f in frames]
    faces = sorted(results[-1].faces, key=lambda r: r.face.xy[:, 0].mean())  # mirrored: the man left
    assert [r.target for r in faces] == ["female", "male"]
    # ...and not by a hair: the classifier sees the edit model's own crop, hair included (the one
    # before it saw a tighter one resampled from it, and gave her 0.45-0.6).
    assert faces[0].female < 0.4 and faces[1].female > 0.6, [r.female for r in faces]
