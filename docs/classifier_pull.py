"""What a student's real faces answer to: each attribute classifier checkpoint judged on real
validation faces (gender accuracy, age error and slope; the same under an L2 attack of radius 3;
how much of its age gradient is fine texture), and docs/classifier_pull.png: six real faces
pushed along each classifier's own gradient within an L2 ball (rows: input; per checkpoint "older",
then the other gender; rows named by the checkpoint's run folder).

python docs/classifier_pull.py --data CACHE CHECKPOINT [CHECKPOINT ...] [--eps 15] [--out PNG]"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainer.attributes import attack, frozen_classifier
from trainer.data import FaceSet, fit_size, to_unit
from trainer.evaluate import write_sheet


def judged(net, x: torch.Tensor, female: torch.Tensor, age: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        logit, decades = net(x)
    years = decades.numpy() * 10
    return {"gender_accuracy": ((logit > 0).float() == female).float().mean().item(),
            "age_mae": float(np.abs(years - age.numpy()).mean()),
            "age_slope": float(np.polyfit(age.numpy(), years, 1)[0])}


def fine_share(net, x: torch.Tensor) -> float:
    """The share of the age gradient's energy at periods under 8 px of the 128 px crop."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x)[1].sum(), x)
    power = torch.fft.rfft2(g).abs().pow(2).mean((0, 1))
    fy, fx = torch.fft.fftfreq(x.shape[-2]).abs()[:, None], torch.fft.rfftfreq(x.shape[-1])[None]
    return (power[torch.maximum(fy, fx) > 1 / 8].sum() / power.sum()).item()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--data", required=True, help="a prepared cache at the student's crop")
    p.add_argument("--faces", type=int, default=256)
    p.add_argument("--eps", type=float, default=15.0, help="the pull's L2 radius ([-1, 1] pixels)")
    p.add_argument("--out", default=str(Path(__file__).with_name("classifier_pull.png")))
    a = p.parse_args()
    torch.set_num_threads(1)
    val = FaceSet(Path(a.data), "val")
    idx = np.sort(np.random.default_rng(0).choice(len(val), min(a.faces, len(val)), replace=False))
    x = fit_size(to_unit(val.crops[idx]), 128)
    female, age = torch.from_numpy(val.female[idx]), torch.from_numpy(val.age[idx])
    adults = np.sort(np.random.default_rng(1).choice(np.where((val.age >= 20) & (val.age <= 40))[0], 6, replace=False))
    shown = fit_size(to_unit(val.crops[adults]), 128)
    away = torch.from_numpy(1 - 2 * val.female[adults])  # towards the other gender
    rows, labels = [shown], ["input"]
    for ck in a.checkpoints:
        net = frozen_classifier(ck)

        def loss(v, f=female, y=age):
            logit, decades = net(v)
            return F.binary_cross_entropy_with_logits(logit, f, reduction="sum") + F.smooth_l1_loss(decades, y / 10, reduction="sum")

        worst = torch.cat([attack(lambda v, s=s: loss(v, female[s], age[s]), x[s], 3.0)
                           for s in (slice(i, i + 32) for i in range(0, len(x), 32))])
        print(ck, {**judged(net, x, female, age), **{f"attacked_{k}": v for k, v in judged(net, worst, female, age).items()},
                   "age_gradient_fine_share": fine_share(net, x[:64])})
        rows.append(attack(lambda v: net(v)[1].sum(), shown, a.eps, steps=10))
        rows.append(attack(lambda v: (net(v)[0] * away).sum(), shown, a.eps, steps=10))
        labels += [f"{Path(ck).parent.name} older", f"{Path(ck).parent.name} gender"]
    write_sheet(Path(a.out), [((r.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8) for r in rows],
                labels, per_line=len(shown))


if __name__ == "__main__":
    main()
