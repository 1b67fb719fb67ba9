"""CycleGAN (Zhu et al., ICCV 2017): two unconditional generators between two domains, male <->
female or young (18-30) <-> old (50+), each with a PatchGAN discriminator; LSGAN losses, cycle
consistency (lambda_cyc, 10) and identity (lambda_id, 5), discriminators fed from an image pool."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mirror.errors import MirrorError

from . import distributed
from .data import FaceSet
from .losses import lsgan
from .models import Discriminator, generator
from .solver import Config, Solver, adam

YOUNG, OLD = (18, 30), (50, 200)  # the age domains, in years (both ends included)
MIDDLE_AGE = 40  # sample grids send faces younger than this to the old domain, older ones back


def domains(data: FaceSet, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of domain A (male, young) and domain B (female, old) in `data`."""
    if task == "gender":
        return np.flatnonzero(data.female == 0), np.flatnonzero(data.female == 1)
    return age_domains(data.age)


def age_domains(age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.flatnonzero((age >= YOUNG[0]) & (age <= YOUNG[1])),
            np.flatnonzero((age >= OLD[0]) & (age <= OLD[1])))


class ImagePool:
    """Shrivastava et al. 2017: the discriminator sees, for half of the fakes, one generated at an
    earlier step, which damps the oscillation between generator and discriminator. Its draws use
    torch's generator, seeded per step, and its contents go into the checkpoint: resume is exact."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for image in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self) -> torch.Tensor | None:
        return torch.stack(self.images) if self.images else None

    def load(self, images: torch.Tensor | None) -> None:
        self.images = [] if images is None else list(images.clone())


class CycleGANSolver(Solver):
    nets = ("G_ab", "G_ba", "D_a", "D_b")

    def build(self):
        self.domain = dict(zip("ab", domains(self.data, self.cfg.task)))
        names = domain_names(self.cfg.task)
        for d, idx in self.domain.items():
            if len(idx) < self.cfg.batch:
                raise MirrorError(f"{self.cfg.data}: {len(idx)} training faces are {names[d]}, fewer than "
                                  f"the batch of {self.cfg.batch}")
        self.G_ab, self.G_ba = generator(self.cfg.arch), generator(self.cfg.arch)
        self.D_a, self.D_b = Discriminator(self.cfg.d_ch), Discriminator(self.cfg.d_ch)
        self.pools = {d: ImagePool(self.cfg.pool) for d in "ab"}

    def optimizers(self):
        return {"G": adam(itertools.chain(self.G_ab.parameters(), self.G_ba.parameters()), self.cfg.lr),
                "D": adam(itertools.chain(self.D_a.parameters(), self.D_b.parameters()), self.cfg.lr)}

    def train_batch(self, step):
        # Each domain draws from its own random stream: the two halves never depend on each other.
        return {d: self.batch(step, among=self.domain[d], stream=(i,)) for i, d in enumerate("ab")}

    def train_step(self, batch):
        a, b, cfg = batch["a"]["x"], batch["b"]["x"], self.cfg
        n = len(a)
        # The identity passes ride in the same call as the translation: instance normalisation
        # keeps the samples of a batch independent, and one larger call is faster on a CPU.
        fake_b, idt_b = self.G_ab(torch.cat([a, b])).split(n)
        fake_a, idt_a = self.G_ba(torch.cat([b, a])).split(n)
        rec_a, rec_b = self.G_ba(fake_b), self.G_ab(fake_a)

        # The generators' adversarial loss goes through the bare discriminators, frozen: no
        # gradient for them here, and none for their parallel wrappers to wait for.
        d_a, d_b = self.bare("D_a").requires_grad_(False), self.bare("D_b").requires_grad_(False)
        g_adv = lsgan(d_b(fake_b), True) + lsgan(d_a(fake_a), True)
        g_cyc = F.l1_loss(rec_a, a) + F.l1_loss(rec_b, b)
        g_idt = F.l1_loss(idt_a, a) + F.l1_loss(idt_b, b)
        self.opts["G"].zero_grad()
        (g_adv + cfg.lambda_cyc * g_cyc + cfg.lambda_id * g_idt).backward()
        self.opts["G"].step()
        d_a.requires_grad_(True), d_b.requires_grad_(True)

        # Every rank keeps the same pools of the whole batch's fakes, so rank 0's checkpoint
        # holds them all; each rank then takes its shard of what the pools give.
        pooled_b = distributed.shard(self.pools["b"].query(distributed.gather(fake_b.detach())))
        pooled_a = distributed.shard(self.pools["a"].query(distributed.gather(fake_a.detach())))
        loss_db = 0.5 * (lsgan(self.D_b(b), True) + lsgan(self.D_b(pooled_b), False))
        loss_da = 0.5 * (lsgan(self.D_a(a), True) + lsgan(self.D_a(pooled_a), False))
        self.opts["D"].zero_grad()
        (loss_da + loss_db).backward()
        self.opts["D"].step()
        return {"D/a": loss_da.item(), "D/b": loss_db.item(), "G/adv": g_adv.item(), "G/cyc": g_cyc.item(),
                "G/idt": g_idt.item()}

    def extra_state(self):
        return {"pools": {d: p.state() for d, p in self.pools.items()}}

    def load_extra_state(self, state):
        for d, images in state.get("pools", {}).items():
            self.pools[d].load(images)

    def sample_grid(self, b):
        """Validation faces above their translation into the other domain."""
        x = b["x"]
        to_b = b["female"] == 0 if self.cfg.task == "gender" else b["age"] < MIDDLE_AGE
        return torch.cat([x, torch.where(to_b[:, None, None, None], self.G_ab(x), self.G_ba(x))])

    @staticmethod
    def deployable(cfg: Config):
        g_ab, g_ba = generator(cfg.arch), generator(cfg.arch)
        return Pair(g_ab, g_ba, cfg.task), {"G_ab": g_ab, "G_ba": g_ba}


def domain_names(task: str) -> dict[str, str]:
    if task == "gender":
        return {"a": "male", "b": "female"}
    return {"a": f"aged {YOUNG[0]}-{YOUNG[1]}", "b": f"aged {OLD[0]}+"}


class Pair(nn.Module):
    """Both generators behind the runtime's one conditional interface (image, condition).
    Gender: condition 1 = to female (A->B), 0 = to male. Age: a slider in [-1, 1], the sign picks
    the direction and the magnitude blends the input with the full translation, so that 0 is
    exactly the input. Both generators run on every face: a CycleGAN costs twice a StarGAN's
    single generator at inference."""

    def __init__(self, g_ab: nn.Module, g_ba: nn.Module, task: str):
        super().__init__()
        self.g_ab, self.g_ba, self.task = g_ab, g_ba, task

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        c = condition[:, :, None, None]
        if self.task == "gender":
            return torch.where(c >= 0.5, self.g_ab(image), self.g_ba(image))
        full = torch.where(c > 0, self.g_ab(image), self.g_ba(image))
        return image + c.abs() * (full - image)


def domain_gap(age: np.ndarray) -> float:
    """What the full translation young -> old means in years: the gap of the domains' mean ages."""
    a, b = age_domains(age)
    return float(age[b].mean() - age[a].mean())
