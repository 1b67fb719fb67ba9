"""How often the teacher's "older" changes the gender, along the raw age direction and along it
apart from the gender direction (trainer/synthesize.py, Settings.age_keeps_gender), read by our
own classifier on source renders of a synthesize folder:

    python docs/age_apart.py RENDERS [--years 36] [--faces 12]

Prints, per gender, the share still read as that gender and the classifier's mean age."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from trainer.synthesize import Settings, Synthesizer

MODELS = Path(__file__).resolve().parents[1] / "exported_models"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("renders", type=Path)
    p.add_argument("--years", type=float, default=36.0)
    p.add_argument("--faces", type=int, default=12, help="young sources (under 35) per gender")
    a = p.parse_args()
    kept = Synthesizer(a.renders, Settings(threads=1), MODELS)
    raw = Synthesizer(a.renders, replace(kept.s, age_keeps_gender=False), MODELS)
    d = dict(np.load(a.renders / "directions.npz"))
    teacher, looker = kept.tools()
    ways = {"raw": raw.age_direction(d), "apart": kept.age_direction(d)}
    rows = {True: [], False: []}
    for path in sorted((a.renders / "sources").glob("*.npz")):
        src = dict(np.load(path))
        if not src["found"]:
            continue
        female = bool(src["female"] > 0.5)
        if src["age"] > 35 or len(rows[female]) >= a.faces:
            continue
        row = []
        for direction in ways.values():
            image = teacher.render(src["w"] + a.years * direction)
            points = looker.landmarks(image)
            p_female, age = looker.labels(image, points) if points is not None else (np.nan, np.nan)
            row += [(p_female > 0.5) == female, age]
        rows[female].append(row)
        if all(len(r) >= a.faces for r in rows.values()):
            break
    looker.close()
    for female, r in rows.items():
        r = np.array(r, np.float64)
        print(f"{'women' if female else 'men'} ({len(r)}), +{a.years:g} years: "
              + "; ".join(f"{name}: {r[:, 2 * k].mean():.0%} keep their gender, judged age {np.nanmean(r[:, 2 * k + 1]):.1f}"
                          for k, name in enumerate(ways)))


if __name__ == "__main__":
    main()
