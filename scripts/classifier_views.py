"""The attribute classifier on a face and on its mirror image: gender accuracy of each view and of
their mean (what `swap` uses), and how often the two views disagree, on a prepared cache's
validation faces (any crop: they are resampled to the classifier's, as the runtime does).

    python scripts/classifier_views.py --data data/utkface-160w [--faces 3000] [--models DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mirror.models import Registry, default_models
from mirror.translate import resample, to_tensor
from trainer.evaluate import FaceSet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--faces", type=int, default=3000)
    p.add_argument("--models", type=Path, default=default_models())
    a = p.parse_args()
    val = FaceSet(a.data, "val")
    model = Registry(a.models).require("attributes")
    idx = np.random.default_rng(0).permutation(len(val))[:a.faces]
    views = {"as seen": [], "mirrored": []}
    for i in range(0, len(idx), 64):
        crops = resample(np.ascontiguousarray(val.crops[idx[i:i + 64]][..., ::-1]), val.spec, model.spec)  # BGR
        views["as seen"].append(model.run(to_tensor(crops))["female"].reshape(-1))
        views["mirrored"].append(model.run(to_tensor(np.ascontiguousarray(crops[:, :, ::-1])))["female"].reshape(-1))
    views = {k: np.concatenate(v) for k, v in views.items()}
    views["mean of both"] = (views["as seen"] + views["mirrored"]) / 2
    female = val.female[idx] > 0.5
    for name, pf in views.items():
        print(f"{name:>13}: {100 * ((pf > 0.5) == female).mean():.1f}% right")
    print(f"the two views disagree on {100 * ((views['as seen'] > 0.5) != (views['mirrored'] > 0.5)).mean():.1f}% "
          f"of {len(idx)} faces")


if __name__ == "__main__":
    main()
