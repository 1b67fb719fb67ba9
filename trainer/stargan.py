"""StarGAN (kind "stargan"): one generator conditioned on the target, for gender or age."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .attributes import frozen_classifier
from .losses import age_goal, centred, lsgan, softened
from .models import Discriminator, generator
from .prototypes import SIZE as PROTO_SIZE, AgePrototypes, groups
from .solver import Solver, adam


class StarGANSolver(Solver):
    """One generator conditioned on the target. Gender: the target is the inverted source label.
    Age: the condition is a shift a in [-1, 1] (a * age_span years), so that a slider drives it
    continuously and a = 0 is the identity. The discriminator has a real/fake PatchGAN head and a
    domain head (gender logit, or age); the generator also answers to a frozen attribute classifier
    of our own, which converges much faster on a CPU than the discriminator's head alone."""

    nets = ("G", "D")

    def build(self):
        self.G = generator(self.cfg.arch, cond=1)
        self.D = Discriminator(self.cfg.d_ch, classes=1)
        self.C = frozen_classifier(self.cfg.classifier) if self.cfg.lambda_cls else None
        if self.cfg.task == "age" and self.cfg.lambda_proto:
            self.prototypes = AgePrototypes(self.data)
            self.face_groups = torch.from_numpy(groups(self.data.files))

    def optimizers(self):
        return {"G": adam(self.G.parameters(), self.cfg.lr), "D": adam(self.D.parameters(), self.cfg.lr)}

    def targets(self, b) -> tuple[torch.Tensor, torch.Tensor]:
        """(target condition, the condition that leads back)."""
        if self.cfg.task == "gender":
            return (1 - b["female"])[:, None], b["female"][:, None]
        span = self.cfg.age_span
        want = torch.from_numpy(b["rng"].uniform(-1, 1, len(b["age"])).astype(np.float32))
        # Every target is an age the models know.
        a = ((age_goal(b["age"], want, span, self.cfg.age_floor) - b["age"]) / span)[:, None]
        return a, -a

    def domain_loss(self, out: torch.Tensor, b, c: torch.Tensor | None) -> torch.Tensor:
        """Loss of a domain prediction `out` (D's head) against the real labels (c None) or a
        generated face's target c."""
        if self.cfg.task == "gender":
            return F.binary_cross_entropy_with_logits(out[:, 0], b["female"] if c is None else c[:, 0])
        goal = b["age"] if c is None else b["age"] + c[:, 0] * self.cfg.age_span
        return F.smooth_l1_loss(out[:, 0], goal / 10)

    def classifier_view(self, x: torch.Tensor, b) -> torch.Tensor:
        if not self.cfg.cls_augment:
            return x
        return softened(x, b["view"])

    def classifier_loss(self, fake: torch.Tensor, b, c: torch.Tensor) -> torch.Tensor:
        if self.cfg.cls_augment and "view" not in b:
            b["view"] = b["rng"].integers(-4, 5, 2)
        logit, age = self.C(self.classifier_view(fake, b))
        if self.cfg.task == "gender":
            return F.binary_cross_entropy_with_logits(logit, c[:, 0])
        # The classifier's bias on a face cancels when the shift is measured against the input.
        with torch.no_grad():
            base = self.C(self.classifier_view(b["x"], b))[1]
        return F.smooth_l1_loss(age - base, c[:, 0] * self.cfg.age_span / 10)

    def prototype_loss(self, fake: torch.Tensor, b, c: torch.Tensor) -> torch.Tensor:
        """Squared error between the generated change and the prototypes' change, both at
        PROTO_SIZE px and inside the face mask (the change outside it is never shown)."""
        age = b["age"]
        known = ~torch.isnan(age)
        goal = age + c[:, 0] * self.cfg.age_span
        idx = b["index"]
        want = self.prototypes.shift(self.face_groups[idx], b["female"].nan_to_num(0), age.nan_to_num(0), goal.nan_to_num(0))
        want[b["flip"]] = want[b["flip"]].flip(3)
        mask = F.adaptive_avg_pool2d(b["mask"], PROTO_SIZE) if "mask" in b else torch.ones(1, 1, PROTO_SIZE, PROTO_SIZE)
        got = F.adaptive_avg_pool2d(fake - b["x"], PROTO_SIZE)
        want = self.cfg.proto_gain * mask * want
        if self.cfg.proto_centre:  # the app's colour matching takes the face's mean colour change away
            got, want = centred(got, mask), centred(want, mask)
        # Squared, not absolute: the L1's optimum is the median change, which stays near zero
        # wherever kinds of faces the generator cannot yet tell apart want opposite changes.
        err = (got - want).square().mean((1, 2, 3))
        return (err * known).sum() / known.sum().clamp_min(1)

    def train_step(self, b):
        x, cfg = b["x"], self.cfg
        c_trg, c_org = self.targets(b)
        fake = self.composite(self.G(x, c_trg), x, b)
        logs, loss = {}, 0.0
        if cfg.lambda_adv or cfg.lambda_cls:  # without either, the discriminator has nothing to do
            real_src, real_cls = self.D(x)
            fake_src, _ = self.D(fake.detach())
            d_adv = 0.5 * (lsgan(real_src, True) + lsgan(fake_src, False))
            d_cls = self.domain_loss(real_cls, b, None)
            self.opts["D"].zero_grad()
            (cfg.lambda_adv * d_adv + cfg.lambda_cls * d_cls).backward()
            self.opts["D"].step()
            src, cls = self.D(fake)
            g_adv = lsgan(src, True)
            loss = cfg.lambda_adv * g_adv
            logs.update({"D/adv": d_adv.item(), "D/cls": d_cls.item(), "G/adv": g_adv.item()})
            if cfg.lambda_cls:
                g_cls = self.domain_loss(cls, b, c_trg) + self.classifier_loss(fake, b, c_trg)
                loss = loss + cfg.lambda_cls * g_cls
                logs["G/cls"] = g_cls.item()
        g_rec = F.l1_loss(self.composite(self.G(fake, c_org), fake, b), x)
        g_change = F.l1_loss(fake, x)
        loss = loss + cfg.lambda_rec * g_rec + cfg.lambda_change * g_change
        if cfg.task == "age":  # a = 0 must leave the face as it is
            loss = loss + cfg.lambda_id * F.l1_loss(self.composite(self.G(x, torch.zeros_like(c_trg)), x, b), x)
            if cfg.lambda_proto:
                g_proto = self.prototype_loss(fake, b, c_trg)
                loss = loss + cfg.lambda_proto * g_proto
                logs["G/proto"] = g_proto.item()
        self.opts["G"].zero_grad()
        loss.backward()
        self.opts["G"].step()
        return {**logs, "G/rec": g_rec.item(), "G/change": g_change.item()}

    @staticmethod
    def deployable(cfg):
        g = generator(cfg.arch, cond=1)  # forward(image, condition) is already the runtime's interface
        return g, {"G": g}

    def sample_grid(self, b):
        x = b["x"]
        if self.cfg.task == "gender":
            return torch.cat([x, self.composite(self.G(x, (1 - b["female"])[:, None]), x, b)])
        rows = [x] + [self.composite(self.G(x, torch.full((len(x), 1), a)), x, b) for a in (-1.0, -0.5, 0.5, 1.0)]
        return torch.cat(rows)
