"""A narrower student distilled from a trained one, for speed: the wide student's edits are the
target (knowledge distillation, Hinton et al. 2015; for image generators as in GAN Compression,
Li et al. 2020). The narrow net starts from the wide one's strongest channels
(`models.Student.shrink`, with --init) and learns its outputs, image and alpha, on real faces and
on the teacher's renders, under the edits it will serve. The wide student is deterministic, so its
target has no mean for L1 to blur towards, as the renders' pairs have: L1 alone, no discriminator.
Both see the same augmented input, so colour, blur, noise and JPEG cost nothing to add."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mirror.errors import MirrorError

from . import checkpoint
from .data import fit_size, to_unit
from .losses import changed, pair_l1
from .models import generator
from .pairs import PairSet, augment
from .solver import adam, config_of
from .student import COND, StudentSolver, real_faces, spec, to_batch


def frozen_student(path: str, want) -> torch.nn.Module:
    """The student a run learns from (a run's checkpoint.pt or an exported NAME.pt), as exported:
    eval mode, its colour smoothing included, no gradients. `want`: the crop it must have seen."""
    if not path:
        raise MirrorError("--kind distil learns a trained student's edits: give --mimic, its checkpoint.pt or NAME.pt")
    state = checkpoint.load(Path(path))
    cfg = config_of(state)
    if cfg.kind not in ("student", "distil"):
        raise MirrorError(f"{path}: a {cfg.kind} run, not a student's")
    if spec(cfg) != want:
        raise MirrorError(f"{path}: a student of {spec(cfg)} crops, this run's are {want}: "
                          "give it the same --size and --margin")
    module, nets = StudentSolver.deployable(cfg)
    checkpoint.restore(nets["G"], state["nets"]["G"], "G", Path(path))
    return module.eval().requires_grad_(False)


def spread(n: int, k: int) -> np.ndarray:
    """k indices spread over n (samples of many faces and identities, not the first few)."""
    return np.linspace(0, n - 1, k).astype(int)


class DistilSolver(StudentSolver):
    nets = ("G",)

    def load(self):
        if not self.cfg.real:
            raise MirrorError("--kind distil learns on real faces beside the renders: give --real, a prepared cache")
        self.spec = spec(self.cfg)
        self.size = self.spec.size
        self.data = PairSet(Path(self.cfg.data), self.spec, "train")  # any render, source or edit, is an input
        try:
            self.val = PairSet(Path(self.cfg.data), self.spec, "val")
        except MirrorError:
            self.val = self.data
        self.real, self.real_val = real_faces(self.cfg, self.spec)

    def build(self):
        self.G = generator(self.cfg.arch, cond=COND).to(memory_format=torch.channels_last)
        self.T = frozen_student(self.cfg.mimic, self.spec)

    def optimizers(self):
        return {"G": adam(self.G.parameters(), self.cfg.lr, beta1=0.9)}

    def asked(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """What the faces are asked, as the runtime asks it: --task gender, either gender whatever
        the face's own ("to female" is asked of women too); --task age, a shift in [-1, 1]."""
        if self.cfg.task == "gender":
            c = np.stack([rng.integers(0, 2, n), np.ones(n), np.zeros(n)], 1)
        else:
            c = np.stack([np.full(n, 0.5), np.zeros(n), rng.uniform(-1, 1, n)], 1)
        return torch.from_numpy(c.astype(np.float32))

    def inputs(self, step: int, n: int, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and conditions: half real faces, half renders, through the pairs' random camera (pairs.augment)."""
        rng = np.random.default_rng([self.cfg.seed, step, int(train), 4])
        real, renders = (self.real, self.data) if train else (self.real_val, self.val)
        k = n // 2
        faces = real.crops[rng.choice(len(real), k, replace=False) if train else spread(len(real), k)]
        shots = renders.inputs[rng.choice(len(renders), n - k, replace=False) if train else spread(len(renders), n - k)]
        if train:
            faces = np.stack([augment(f, f, rng, self.cfg.tight)[0] for f in faces])
            shots = [augment(s, s, rng, self.cfg.tight)[0] for s in shots]
        x = torch.cat([fit_size(to_unit(faces), self.size), to_batch(list(shots))])  # crops RGB, renders BGR
        return x.contiguous(memory_format=torch.channels_last), self.asked(rng, n)

    def train_batch(self, step):
        x, c = self.inputs(step, self.cfg.batch)
        return {"x": x, "c": c}

    def sample_batch(self):
        x, c = self.inputs(0, 8, train=False)
        return {"x": x, "c": c}

    def train_step(self, b):
        x, c, cfg = b["x"], b["c"], self.cfg
        with torch.no_grad():
            want, want_alpha = self.T(x, c)
        fake, alpha = self.G(x, c)
        # Most of a crop is not changed; where the wide student changed it counts lambda_changed more.
        g_image = pair_l1(fake, want, 1 + cfg.lambda_changed * changed(x, want))
        g_alpha = (alpha - want_alpha).abs().mean()
        loss = cfg.lambda_pair * g_image + cfg.lambda_alpha * g_alpha
        self.opts["G"].zero_grad()
        loss.backward()
        self.opts["G"].step()
        return {"G/image": g_image.item(), "G/alpha": g_alpha.item()}

    def sample_grid(self, b):
        """Rows: input, the wide student's edit, this one's, both alphas."""
        want, want_alpha = self.T(b["x"], b["c"])
        fake, alpha = self.G(b["x"], b["c"])
        return torch.cat([b["x"], want, fake, want_alpha.expand(-1, 3, -1, -1) * 2 - 1, alpha.expand(-1, 3, -1, -1) * 2 - 1])
