"""Flip and same-person rate of an edit model's gender edits under variants of its card (each DIR
holds edit.onnx and an edit.json with other `male_reach` / `female_reach` / `male_gain` /
`female_gain`), on N adult validation
faces each way, judged as `mirror-train eval` judges (docs/student.md, "Shipped").

python docs/reach_probe.py N DIR... [--data CACHE]"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from trainer.evaluate import FaceSet, Judges, Runner, judges_over, pick, same_person


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("faces", type=int)
    p.add_argument("dirs", nargs="+", type=Path)
    p.add_argument("--data", type=Path, default=Path("/root/mirror-state/data/utkface-160w"))
    a = p.parse_args()
    val = FaceSet(a.data, "val")
    runners = [Runner(d / "edit.onnx", d / "edit.json") for d in a.dirs]
    judges = Judges(runners[0].model.card.data["align"]["margin"])
    for female in (0, 1):
        idx = pick((val.age >= 18) & (val.female == female), a.faces)
        crops, points = val.crops[idx], val.points[idx]
        before = judges_over(judges, runners[0].inputs(crops))
        right = before["female"] == female
        for d, m in zip(a.dirs, runners):
            after = judges_over(judges, m.shown(crops, points, m.condition("gender", np.full(len(idx), 1.0 - female))))
            flip = (right & (after["female"] != female)).sum() / right.sum()
            same = same_person(before["embedding"], after["embedding"]).mean()
            print(f"{'to male' if female else 'to female'} {d}: flip {100 * flip:.1f}% same {100 * same:.1f}%", flush=True)


if __name__ == "__main__":
    main()
