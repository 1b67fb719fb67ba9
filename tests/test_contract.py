"""The trainer <-> runtime contract: one schema, one normalisation, cards read as written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mirror.contract import (TASK_IO, TASKS, Card, card_shapes, from_tensor, read_card, to_pixels, to_tensor,
                             write_card)
from mirror.errors import MirrorError


def test_pixels_round_trip_both_layouts():
    crops = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    t = to_tensor(crops)
    assert t.shape == (2, 3, 8, 8) and t.dtype == np.float32 and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(to_tensor(crops[..., ::-1], bgr=False), t)  # BGR in, RGB tensor either way
    assert np.array_equal(to_pixels(t, bgr=True), crops)
    assert np.array_equal(to_pixels(t), crops[..., ::-1])
    assert np.array_equal(np.round(from_tensor(t)), crops)


@pytest.mark.parametrize("task", TASKS)
def test_written_card_reads_back(tmp_path, task):
    inputs, outputs = card_shapes(task, 64)
    assert tuple(inputs) == TASK_IO[task][0] and tuple(outputs) == TASK_IO[task][1]
    path = tmp_path / "m.json"
    write_card(path, {"name": "m", "task": task, "align": {"size": 64, "margin": 0.1}, "inputs": inputs,
                      "outputs": outputs})
    card = Card.read(path)
    assert (card.task, card.inputs, card.outputs) == (task, inputs, outputs)
    assert read_card(path) == json.loads(path.read_text())


def test_runtime_refuses_nan_the_trainer_reads_it(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"metrics": NaN}')
    with pytest.raises(MirrorError, match="unreadable model card"):
        read_card(path)
    assert np.isnan(read_card(path, strict=False)["metrics"])
