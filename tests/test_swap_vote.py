"""`swap` keeps a face's direction once decided, however its P(female) swings; a new face, or
swap chosen again, decides afresh."""

from __future__ import annotations

import numpy as np
import pytest

from mirror.translate import Effect, Translator, _Vote
from runtime_fixtures import export_all

# P(female) of an ambiguous face as the shipped classifier gives it frame by frame: swinging
# between 0.10 and 0.84 with a period of about 50 frames.
SWINGING = 0.47 + 0.37 * np.sin(np.arange(300) * 2 * np.pi / 50 + 0.5)


def flips(decide) -> int:
    vote = _Vote(SWINGING[0], SWINGING[0] > 0.5)
    vote.DECIDE = decide
    sides = []
    for p in SWINGING:
        vote.update(p)
        sides.append(vote.female)
    return sum(a != b for a, b in zip(sides[_Vote.DECIDE:], sides[_Vote.DECIDE + 1:]))


def test_a_swinging_face_keeps_its_direction():
    assert flips(None) >= 8, "the running mean with hysteresis follows the swing"
    assert flips(_Vote.DECIDE) == 0


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    from mirror.models import Registry

    return Translator(Registry(export_all(tmp_path_factory.mktemp("models"), female=0.9)))


def test_a_new_face_or_swap_chosen_again_votes_afresh(translator):
    spec = translator.spec(Effect("swap"))
    crops = np.stack([np.zeros((spec.size, spec.size, 3), np.uint8)] * 2)
    translator(crops, spec, Effect("swap"), [1, 2])
    assert set(translator.votes) == {1, 2} and translator.target(Effect("swap"), 1) == "male"
    translator.votes[1].female, translator.votes[1].n = False, _Vote.DECIDE  # decided on frames gone by
    translator(crops[:1], spec, Effect("swap"), [1])
    assert translator.target(Effect("swap"), 1) == "female", "kept while swap stays on"
    translator(crops[:1], spec, Effect("female"), [1])
    translator(crops[:1], spec, Effect("swap"), [3])
    assert set(translator.votes) == {3}, "swap chosen again: every face votes afresh"
