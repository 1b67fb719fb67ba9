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
from .data import to_unit
from .models import AttributeNet, AttributeOutputs
from .solver import Solver, adam


class AttributeSolver(Solver):
    """The attribute classifier: P(female) and age, on the same aligned crops as the generators."""

    nets = ("net",)

    def build(self):
        self.net = AttributeNet()

    def optimizers(self):
        return {"net": adam(self.net.parameters(), self.cfg.lr, 0.9)}

    def train_step(self, b):
        logit, age = self.net(b["x"])
        known = ~torch.isnan(b["age"])
        loss_g = F.binary_cross_entropy_with_logits(logit, b["female"])
        loss_a = F.smooth_l1_loss(age[known], b["age"][known] / 10) if known.any() else age.sum() * 0
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


def frozen_classifier(path: str) -> AttributeNet:
    if not path:
        raise MirrorError("this run answers to an attribute classifier: give --classifier, a checkpoint of "
                          "'mirror-train train --kind attributes'")
    state = checkpoint.load(Path(path))
    net = AttributeNet()
    checkpoint.restore(net, state["nets"]["net"], "classifier", Path(path))
    net.eval().requires_grad_(False)
    return net
