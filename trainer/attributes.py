"""The attribute classifier (kind "attributes"): P(female) and age, on the same aligned crops as the
generators. The runtime's `swap` asks it which way each face goes; StarGAN trains against a frozen
copy of it (`frozen_classifier`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mirror.errors import MirrorError

from . import checkpoint
from .data import FaceSet, fit_size, to_unit
from .models import AttributeNet, AttributeOutputs
from .solver import Solver, adam


class AttributeSolver(Solver):
    """The attribute classifier: P(female) and age, on the same aligned crops as the generators."""

    nets = ("net",)

    def build(self):
        self.net = AttributeNet()

    def optimizers(self):
        return {"net": adam(self.net.parameters(), self.cfg.lr, 0.9)}

    def losses(self, x: torch.Tensor, b: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gender cross-entropy, age error (faces of unknown age left out) and the gender logits."""
        logit, age = self.net(x)
        known = ~torch.isnan(b["age"])
        loss_g = F.binary_cross_entropy_with_logits(logit, b["female"])
        loss_a = F.smooth_l1_loss(age[known], b["age"][known] / 10) if known.any() else age.sum() * 0
        return loss_g, loss_a, logit

    def train_step(self, b):
        x = b["x"]
        if self.cfg.robust:
            self.net.eval()  # the attack reads the running statistics and leaves them be
            x = attack(lambda v: sum(self.losses(v, b)[:2]), x, self.cfg.robust)
            self.net.train()
        loss_g, loss_a, logit = self.losses(x, b)
        self.opts["net"].zero_grad()
        (loss_g + loss_a).backward()
        self.opts["net"].step()
        acc = ((logit > 0).float() == b["female"]).float().mean()
        return {"loss/gender": loss_g.item(), "loss/age": loss_a.item(), "acc/gender": acc.item()}

    def sample_grid(self, b):
        return None

    @staticmethod
    def deployable(cfg):
        net = AttributeNet()
        return AttributeOutputs(net), {"net": net}

    @torch.no_grad()
    def evaluate(self, n: int = 2000) -> dict[str, float]:
        """Accuracy and age error on the validation split."""
        self.net.eval()
        accs, errs = [], []
        for i in range(0, min(n, len(self.val)), 64):
            idx = np.arange(i, min(i + 64, len(self.val)))
            x = to_unit(self.val.crops[idx])
            logit, age = self.net(x)
            accs.append(((logit > 0).float() == torch.from_numpy(self.val.female[idx])).float())
            errs.append((age * 10 - torch.from_numpy(self.val.age[idx])).abs())
        self.net.train()
        return {"gender_accuracy": torch.cat(accs).mean().item(), "age_mae_years": torch.cat(errs).mean().item()}


@torch.no_grad()
def age_slope(net: AttributeNet, faces: FaceSet, size: int, n: int = 512) -> float:
    """Years the classifier reads per true year: the slope of its age against the labels on up to
    n faces spread over the set (a robust classifier reads about half)."""
    idx = np.linspace(0, len(faces) - 1, min(n, len(faces))).astype(int)
    idx = idx[np.isfinite(faces.age[idx])]
    read = torch.cat([net(fit_size(to_unit(faces.crops[idx[i:i + 64]]), size))[1] for i in range(0, len(idx), 64)])
    return float(np.polyfit(faces.age[idx], read.numpy() * 10, 1)[0])


def attack(loss, x: torch.Tensor, eps: float, steps: int = 3) -> torch.Tensor:
    """The input within an L2 ball of radius eps around each image of x (pixels in [-1, 1]) that
    most raises loss(x), by projected gradient ascent (Madry et al. 2018), steps of 2.5 eps / steps."""
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        (g,) = torch.autograd.grad(loss(x + delta), delta)
        delta = delta.detach() + 2.5 * eps / steps * g / norm(g).clamp(min=1e-12)
        delta = delta * (eps / norm(delta).clamp(min=1e-12)).clamp(max=1)
        delta = (x + delta).clamp(-1, 1) - x
    return (x + delta).detach()


def norm(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))


def frozen_classifier(path: str) -> AttributeNet:
    if not path:
        raise MirrorError("this run answers to an attribute classifier: give --classifier, a checkpoint of "
                          "'mirror-train train --kind attributes'")
    state = checkpoint.load(Path(path))
    net = AttributeNet()
    checkpoint.restore(net, state["nets"]["net"], "classifier", Path(path))
    net.eval().requires_grad_(False)
    return net
