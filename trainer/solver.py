"""Training loops. `Solver` owns what every run shares (data sampling, the step loop, progress,
TensorBoard, sample grids, checkpoints, exact resume); subclasses define the networks and one
training step: `AttributeSolver`, `StarGANSolver` (gender or age) and `CycleGANSolver`."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mirror.blend import face_mask
from mirror.contract import to_pixels
from mirror.errors import MirrorError

from . import checkpoint, distributed
from .data import FaceSet, fit_size, to_unit
from .prototypes import SIZE as PROTO_SIZE, AgePrototypes, groups
from .models import AttributeNet, AttributeOutputs, Discriminator, generator


@dataclass
class Config:
    kind: str  # attributes | stargan | cyclegan
    data: str
    task: str = "gender"  # gender | age
    arch: str = "small"
    steps: int = 10000
    batch: int = 8
    lr: float = 2e-4
    decay_from: float = 0.5  # learning rate constant for this share of the steps, then linear to 0
    seed: int = 0
    d_ch: int = 32
    size: int = 0  # train at this size (0: the prepared crop size)
    classifier: str = ""  # checkpoint of the frozen attribute classifier (stargan)
    age_span: float = 40.0  # years that condition +1 means (age)
    age_floor: float = 2.0  # "younger" aims no lower than this age (nor above the face's own)
    lambda_adv: float = 1.0  # 0: no discriminator at all
    lambda_cls: float = 1.0
    lambda_rec: float = 5.0
    lambda_change: float = 1.0
    lambda_cyc: float = 10.0
    lambda_id: float = 5.0
    # Student (distilled from teacher pairs): L1 to the pair's target at three scales, and a light
    # pull of the alpha towards "no change" where the target does not ask for one.
    lambda_pair: float = 10.0
    lambda_alpha: float = 0.05
    margin: float = -1.0  # crop margin the student trains at (-1: the data's own)
    # Age: hold the generator's change, at low resolution, to the change between the age
    # prototypes of its face's kind (trainer/prototypes.py), exaggerated by proto_gain.
    lambda_proto: float = 0.0
    proto_gain: float = 1.0
    proto_centre: bool = False  # compare the changes without their mean colour inside the mask
    pool: int = 50
    every: int = 250  # checkpoint and sample grid every this many steps
    log_every: int = 10
    # Train on the runtime's composite: the generated face pasted into the input through the
    # runtime's own face mask, so no loss can be served by changes the app would never show.
    mask: bool = False
    # Show the frozen classifier a randomly shifted, antialiased view: a fixed aliased view lets the
    # generator fool it with stripes; this leaves it only real, low-frequency cues to answer to.
    cls_augment: bool = False
    extra: dict = field(default_factory=dict)


class Solver:
    nets: tuple[str, ...] = ()

    def __init__(self, cfg: Config, run: Path):
        self.cfg, self.run = cfg, Path(run)
        self.load()
        if cfg.batch > len(self.data):
            raise MirrorError(f"--batch {cfg.batch} is more than the {len(self.data)} training examples in {cfg.data}")
        self.step = 0
        self.train_time = 0.0  # seconds spent in training steps, over all sessions of the run
        torch.manual_seed(cfg.seed)  # the initial weights, too, follow from the seed alone
        self.build()
        self.opts = self.optimizers()

    # -- to override --------------------------------------------------------------------------
    def load(self) -> None:
        cfg = self.cfg
        self.data = FaceSet(Path(cfg.data), "train")
        self.val = FaceSet(Path(cfg.data), "val")
        genders = np.unique(self.data.female[np.isfinite(self.data.female)])
        if (cfg.kind == "attributes" or cfg.task == "gender") and len(genders) < 2 and distributed.is_main():
            which = {0.0: "male", 1.0: "female"}.get(float(genders[0]), "?") if len(genders) else "unlabelled"
            print(f"mirror-train: warning: every training face in {cfg.data} is {which}: a gender model "
                  f"learns nothing of the other", file=sys.stderr)
        self.size = cfg.size or self.data.spec.size

    def sample_batch(self) -> dict:
        return self.batch(0, self.val, n=min(8, len(self.val)), augment=False)

    def build(self) -> None: ...
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...
    def train_step(self, batch: dict) -> dict[str, float]: ...
    def train_batch(self, step: int) -> dict:
        return self.batch(step)
    def sample_grid(self, batch: dict) -> torch.Tensor: ...
    def extra_state(self) -> dict:
        return {}
    def load_extra_state(self, state: dict) -> None: ...

    @staticmethod
    def deployable(cfg: Config) -> tuple[torch.nn.Module, dict[str, torch.nn.Module]]:
        """What export traces: the inference module with the runtime's inputs and outputs, and the
        checkpoint's networks inside it by name (to load their weights into)."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def batch(self, step: int, data: FaceSet | None = None, n: int | None = None, augment: bool = True,
              among: np.ndarray | None = None, stream: tuple[int, ...] = ()) -> dict:
        """The batch of a step, a pure function of (seed, step): resuming replays the same data.
        `among` limits it to these indices of the data (a domain); `stream` gives such a draw its
        own random numbers (nothing: the draw every run made before domains existed)."""
        data = data or self.data
        rng = np.random.default_rng([self.cfg.seed, step, *stream])
        idx = np.sort(rng.choice(len(data) if among is None else len(among), n or self.cfg.batch, replace=False))
        if among is not None:
            idx = np.sort(among[idx])
        x = to_unit(data.crops[idx])
        side = x.shape[-1]
        masks = torch.from_numpy(np.stack([face_mask(p.astype(np.float32), side) for p in data.points[idx]]))[:, None] \
            if self.cfg.mask else None
        if augment:
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            x[flip] = x[flip].flip(3)
            if masks is not None:
                masks[flip] = masks[flip].flip(3)
        b = {"x": fit_size(x, self.size), "female": torch.from_numpy(data.female[idx]),
             "age": torch.from_numpy(data.age[idx]), "rng": rng, "index": torch.from_numpy(idx),
             "flip": flip if augment else torch.zeros(len(idx), dtype=torch.bool)}
        if masks is not None:
            b["mask"] = fit_size(masks, self.size)
        return b

    @staticmethod
    def composite(out: torch.Tensor, base: torch.Tensor, b: dict) -> torch.Tensor:
        """`out` pasted into `base` through the batch's face masks, when it has them."""
        return base + b["mask"] * (out - base) if "mask" in b else out

    def lr_at(self, step: int) -> float:
        start = self.cfg.decay_from * self.cfg.steps
        if step < start:
            return self.cfg.lr
        return self.cfg.lr * max(0.0, 1 - (step - start) / max(1, self.cfg.steps - start))

    def bare(self, name: str) -> torch.nn.Module:
        """A network itself, also while fit() runs it wrapped for data parallelism."""
        return distributed.unwrap(getattr(self, name))

    def state(self) -> dict:
        return {"config": asdict(self.cfg), "step": self.step, "time": self.train_time,
                "nets": {k: self.bare(k).state_dict() for k in self.nets},
                "opts": {k: o.state_dict() for k, o in self.opts.items()},
                "extra": self.extra_state()}

    def save(self) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        checkpoint.save(self.run / "checkpoint.pt", self.state())

    def resume(self) -> None:
        path = self.run / "checkpoint.pt"
        state = checkpoint.load(path)
        old = state["config"]
        for key in ("kind", "task", "arch", "d_ch"):
            if old.get(key) != getattr(self.cfg, key):
                raise MirrorError(f"{path}: a checkpoint of {key}={old.get(key)!r}, not {getattr(self.cfg, key)!r}")
        for k in self.nets:
            checkpoint.restore(self.bare(k), state["nets"][k], k, path)
        for k, o in self.opts.items():
            o.load_state_dict(state["opts"][k])
        self.load_extra_state(state.get("extra", {}))
        self.step = state["step"]
        self.train_time = state.get("time", 0.0)

    @contextmanager
    def parallel(self):
        """Under torchrun, the networks run wrapped in DistributedDataParallel for the duration."""
        for k in self.nets:
            setattr(self, k, distributed.wrap(getattr(self, k)))
        try:
            yield
        finally:
            for k in self.nets:
                setattr(self, k, self.bare(k))

    def fit(self, until: int | None = None) -> dict[str, float]:
        """Trains to `cfg.steps` (or to `until`, for tests), checkpointing every `cfg.every`.
        Under torchrun every rank trains on its shard of each batch; rank 0 writes."""
        from torch.utils.tensorboard import SummaryWriter

        end = min(self.cfg.steps, until or self.cfg.steps)
        main = distributed.is_main()
        distributed.check_batch(self.cfg.batch)
        if main:
            self.run.mkdir(parents=True, exist_ok=True)
            (self.run / "config.json").write_text(json.dumps(asdict(self.cfg), indent=2))
            tb = SummaryWriter(self.run / "tb", purge_step=self.step)
        losses: dict[str, float] = {}
        bar = tqdm(total=end, initial=self.step, desc=f"{self.cfg.kind}/{self.cfg.task}", unit="step",
                   disable=not main)
        try:
            with self.parallel():
                while self.step < end:
                    start = time.perf_counter()
                    # Seeding every step from (seed, step) makes dropout and sampling repeat on resume.
                    torch.manual_seed(self.cfg.seed * 1_000_003 + self.step)
                    for o in self.opts.values():
                        for group in o.param_groups:
                            group["lr"] = self.lr_at(self.step)
                    losses = distributed.mean(self.train_step(distributed.shard(self.train_batch(self.step))))
                    self.step += 1
                    self.train_time += time.perf_counter() - start
                    if main and (self.step % self.cfg.log_every == 0 or self.step == end):
                        for k, v in losses.items():
                            tb.add_scalar(k, v, self.step)
                        bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
                    bar.update(1)
                    if main and (self.step % self.cfg.every == 0 or self.step == end):
                        self.write_samples()
                        self.save()
        finally:  # also on errors: the bar ends its line before the error message
            bar.close()
            if main:
                tb.close()
        distributed.barrier()  # no rank leaves before the last checkpoint is on disk
        return losses

    @torch.no_grad()
    def write_samples(self) -> None:
        # Rank 0 alone runs this: the networks themselves, not their parallel wrappers, which
        # would wait for the other ranks.
        wrapped = {k: getattr(self, k) for k in self.nets}
        for k in self.nets:
            setattr(self, k, self.bare(k).eval())
        try:
            sample = self.sample_batch()
            grid = self.sample_grid(sample)
        finally:
            for k, m in wrapped.items():
                setattr(self, k, m)
                self.bare(k).train()
        if grid is None:
            return
        img = to_pixels(grid.detach().cpu().float().numpy())
        rows = [np.hstack(list(r)) for r in img.reshape(-1, len(sample["x"]), *img.shape[1:])]
        out = self.run / "samples"
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / f"step_{self.step:07d}.png"), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def adam(params, lr: float, beta1: float = 0.5) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))


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
        raise MirrorError("StarGAN needs --classifier: a checkpoint of 'mirror-train train --kind attributes'")
    state = checkpoint.load(Path(path))
    net = AttributeNet()
    checkpoint.restore(net, state["nets"]["net"], "classifier", Path(path))
    net.eval().requires_grad_(False)
    return net


def centred(change: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`change` (seen through `mask`) less the uniform colour change that best explains it, per
    channel: its least-squares projection on the mask, as the app matches the face's mean colour
    and then pastes through the mask."""
    w = mask.expand(len(change), 1, *change.shape[2:])
    mean = (change * w).sum((2, 3), keepdim=True) / (w * w).sum((2, 3), keepdim=True).clamp_min(1e-6)
    return change - mean * w


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
        # Aim inside the ages the data has (so every target is one the models know) and for
        # "younger" no lower than age_floor (a child is no younger version of an adult), but
        # never against the slider's direction.
        age = b["age"]
        goal = torch.minimum(torch.maximum(age + want * span, age.clamp(max=self.cfg.age_floor)), age.clamp(min=90))
        a = ((goal - b["age"]) / span)[:, None]
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
        dy, dx = (int(v) for v in b["view"])
        return F.avg_pool2d(torch.roll(x, (dy, dx), (2, 3)), 2)

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
            d_adv = 0.5 * (F.mse_loss(real_src, torch.ones_like(real_src)) + F.mse_loss(fake_src, torch.zeros_like(fake_src)))
            d_cls = self.domain_loss(real_cls, b, None)
            self.opts["D"].zero_grad()
            (cfg.lambda_adv * d_adv + cfg.lambda_cls * d_cls).backward()
            self.opts["D"].step()
            src, cls = self.D(fake)
            g_adv = F.mse_loss(src, torch.ones_like(src))
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


SOLVERS = {"attributes": AttributeSolver, "stargan": StarGANSolver}

# CycleGANSolver and StudentSolver live in their own modules and add themselves to SOLVERS; importing it last lets either
# module be imported first.
from . import cyclegan, student  # noqa: E402,F401

