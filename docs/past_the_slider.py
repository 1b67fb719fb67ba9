"""An edit model asked for more than it trained on: the judged years and the same-person rate of
adults of 18-35 made older (and of 50+ made younger) with the age shift past the slider's end
(python docs/past_the_slider.py MODEL.onnx --data CACHE [--faces N] [--shifts 1,1.3,1.6,2]).
Whether a model's "older" is short of years only by its gain, which a card could raise, or
whether the person goes first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from trainer.evaluate import ADULTS, FaceSet, Judges, Runner, judges_over, pick, same_person


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="an edit model's .onnx, its card beside it")
    p.add_argument("--data", type=Path, required=True, help="a prepared cache of real faces at the model's margin")
    p.add_argument("--faces", type=int, default=100, help="faces per age group")
    p.add_argument("--shifts", default="1,1.3,1.6,2", help="age shifts asked of the 18-35 (their negatives of the 50+)")
    a = p.parse_args()
    card = a.model.with_suffix(".json")
    model = Runner(a.model, card)
    judges = Judges(json.loads(card.read_text())["align"]["margin"])
    val = FaceSet(a.data, "val")
    shifts = [float(s) for s in a.shifts.split(",")]
    for group, sign in (("18-35", 1), ("50+", -1)):
        lo, hi = ADULTS[group]
        idx = pick((val.age >= lo) & (val.age <= hi), a.faces)
        crops, points = val.crops[idx], val.points[idx]
        before = judges_over(judges, model.inputs(crops))
        for s in shifts:
            after = judges_over(judges, model.shown(crops, points, model.condition("age", sign * s)))
            years = float(np.mean(after["age"] - before["age"]))
            same = float(np.mean(same_person(before["embedding"], after["embedding"])))
            print(f"{group} shift {sign * s:+.1f}: {years:+.1f} judged years, {100 * same:.0f}% the same person", flush=True)


if __name__ == "__main__":
    main()
