"""The distilled student: one real-time generator learns the teacher's before/after pairs
(Viazovetskyi et al. 2020, "StyleGAN2 Distillation for Feed-forward Image Manipulation"), the way
pix2pix learns pairs: L1 to the target at three scales, plus a conditional PatchGAN against the
mean-blur that L1 alone converges to. One generator serves both sliders: its condition is
(target P(female), gender asked 0/1, age shift a in [-1, 1]), so a frame needs one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mirror.align import AlignSpec
from mirror.blend import face_mask, outline
from mirror.errors import MirrorError

from .attributes import age_slope, frozen_classifier
from .data import FaceSet, fit_size, photo_area
from .losses import age_goal, changed, feature_match, gender_loss, lsgan, pair_l1, softened, speckle, tone
from .models import ColourBlur, Discriminator, SmoothColour, generator
from .pairs import PairSet, augment, forehead, jaw, to_batch as batch_of
from .solver import Solver, adam, regions
from .synthesize import CONDITION, folder_settings

COND = len(CONDITION)


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    return batch_of(images).contiguous(memory_format=torch.channels_last)


def tiled(c: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return c[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


def undone(c: torch.Tensor) -> torch.Tensor:
    """The condition that takes an edit back: the face's own gender (1 - the target asked), or the
    opposite age shift."""
    return torch.stack([1 - c[:, 0], c[:, 1], -c[:, 2]], 1)


def reach(data: PairSet, n: int = 512) -> torch.Tensor:
    """Where the teacher's edits reach in the crop (1, 1, S, S): the share of up to `n` of the
    pairs' edits that changed each pixel. Real faces have no pair to say where an edit belongs;
    this says where edits of faces in this crop do."""
    idx = np.flatnonzero(data.forward)
    idx = idx[np.linspace(0, len(idx) - 1, min(n, len(idx))).astype(int)]
    return changed(batch_of(list(data.inputs[idx])), batch_of(list(data.targets[idx]))).mean(0, keepdim=True)


def spec(cfg) -> AlignSpec:
    """The student's crop: wider than the face (margin 0.3 reaches the hair and around the jaw) at
    about the face resolution of the 128 px, margin 0.1 models."""
    return AlignSpec(cfg.size or 160, cfg.margin if cfg.margin >= 0 else 0.3)


def real_faces(cfg, at: AlignSpec) -> tuple[FaceSet, FaceSet]:
    """The training and validation faces of --real, checked against the student's crop `at`."""
    real, val = (FaceSet(Path(cfg.real), split) for split in ("train", "val"))
    if abs(real.spec.margin - at.margin) > 1e-6:
        raise MirrorError(f"--real {cfg.real}: its crops have margin {real.spec.margin}, the student's "
                          f"{at.margin}: prepare it with --margin {at.margin}")
    if cfg.batch > len(real):
        raise MirrorError(f"--batch {cfg.batch} is more than the {len(real)} training faces in --real {cfg.real}")
    return real, val


class StudentSolver(Solver):
    nets = ("G", "D")

    def load(self):
        self.spec = spec(self.cfg)
        self.size = self.spec.size
        if self.cfg.lambda_fm and not self.cfg.lambda_adv:
            raise MirrorError("--lambda-fm matches the pairs' discriminator's features: it needs --lambda-adv above 0")
        if self.cfg.real_jaw_younger and not self.cfg.lambda_real_jaw:
            raise MirrorError("--real-jaw-younger says which jaws --lambda-real-jaw holds: it needs --lambda-real-jaw")
        if self.cfg.real_edit_output and not self.cfg.lambda_real_edit:
            raise MirrorError("--real-edit-output shows the discriminator of changes more: it needs --lambda-real-edit")
        for flag, does in (("lambda_real_edit", "judges real faces' edits"),
                           ("lambda_real_sparse", "shuts real faces' alpha"),
                           ("lambda_real_chroma", "acts on real faces' edits"),
                           ("lambda_real_hairline", "holds real faces' foreheads"),
                           ("lambda_real_jaw", "holds real faces' jaws"),
                           ("lambda_real_tint", "holds real faces' colour"),
                           ("real_adv_edited", "weighs the real-photo discriminator's verdict")):
            if getattr(self.cfg, flag) and not self.cfg.real:
                raise MirrorError(f"--{flag.replace('_', '-')} {does}: it needs --real")
        self.data = PairSet(Path(self.cfg.data), self.spec, "train", self.cfg.max_shrink, self.cfg.keep_hair,
                            self.cfg.coarse_hair, self.cfg.keep_hairline, self.cfg.drop_glasses,
                            self.cfg.keep_added_hair)
        if self.cfg.drop_glasses:
            print(f"mirror-train: {self.data.glasses_left_out} of {self.data.ages} age edits left out: they change glasses")
        try:
            self.val = PairSet(Path(self.cfg.data), self.spec, "val")
        except MirrorError:  # a handful of identities holds none out: the samples show training pairs
            self.val = self.data
        self.real = self.real_val = None
        if self.cfg.real:
            self.real, self.real_val = real_faces(self.cfg, self.spec)
            if self.cfg.real_inside and self.real.corners is None:
                raise MirrorError(f"--real-inside: {self.cfg.real} keeps no photo corners; prepare it again")
            self.span = folder_settings(Path(self.cfg.data))["age_span"]
            self.reach = reach(self.data) if self.cfg.lambda_real_alpha else None

    def build(self):
        # channels_last: PyTorch's CPU kernels for the depthwise convolutions run ~1.5x faster.
        self.G = generator(self.cfg.arch, cond=COND).to(memory_format=torch.channels_last)
        self.smooth = ColourBlur(self.cfg.smooth_colour) if self.cfg.smooth_colour else None
        self.D = Discriminator(self.cfg.d_ch, inputs=6 + COND).to(memory_format=torch.channels_last)
        if self.real is not None:
            # Unconditional: seeing the input would tell it a real photo from a render at once.
            self.R = Discriminator(self.cfg.d_ch).to(memory_format=torch.channels_last)
            self.C = frozen_classifier(self.cfg.classifier)
            self.slope = age_slope(self.C, self.real, self.size) if self.cfg.calibrate else 1.0
            self.nets = ("G", "D", "R")
            if self.cfg.lambda_real_edit:
                # Sees an edit alone (output minus input) and its condition: a photo would be told
                # from a render at once, a change much less.
                # --real-edit-output: beside the output, a change of colour has to end in colours a
                # face or its background has (E1's hair taken away left green and yellow fringes).
                shown = 6 if self.cfg.real_edit_output else 3
                self.E = Discriminator(self.cfg.d_ch, inputs=shown + COND).to(memory_format=torch.channels_last)
                self.nets = ("G", "D", "R", "E")

    def edit(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the run trains and ships: the generator, its change's colour smoothed if asked."""
        out, alpha = self.G(x, c)
        return (out if self.smooth is None else self.smooth(out, x)), alpha

    def optimizers(self):
        return {k: adam(getattr(self, k).parameters(), self.cfg.lr) for k in self.nets}

    def pick(self, data: PairSet, step: int, n: int, train: bool) -> dict:
        """The examples of a step, a pure function of (seed, step): resuming replays them."""
        rng = np.random.default_rng([self.cfg.seed, step, int(train)])
        idx = rng.choice(len(data), min(n, len(data)), replace=False) if train else np.arange(min(n, len(data)))
        xs, ys = [], []
        for i in idx:
            x, y = augment(data.inputs[i], data.targets[i], rng, self.cfg.tight, self.cfg.clean_change) if train else (data.inputs[i], data.targets[i])
            xs.append(x)
            ys.append(y)
        return {"x": to_batch(xs), "y": to_batch(ys), "c": torch.from_numpy(data.conditions[idx])}


    def train_batch(self, step):
        b = self.pick(self.data, step, self.cfg.batch, True)
        if self.real is not None:
            b["real"] = self.real_batch(step)
        return b

    def real_batch(self, step: int, data: FaceSet | None = None, n: int | None = None, augment: bool = True) -> dict:
        """Real faces and what they are asked for: half the other gender, half an age shift."""
        data = data or self.real
        r = self.batch(step, data, n, augment, stream=(2,))
        rng, n = r["rng"], len(r["x"])
        gender = rng.random(n) < 0.5
        a = np.where(gender, 0.0, rng.uniform(-1, 1, n))
        target = np.where(gender, 1 - r["female"].numpy(), 0.5)
        r["x"] = r["x"].contiguous(memory_format=torch.channels_last)
        r["c"] = torch.from_numpy(np.stack([target, gender, a], 1).astype(np.float32))
        if self.cfg.lambda_real_outline:
            r["outline"] = self.drawn(outline, data.points, r)
        if self.cfg.real_cyc_face or self.cfg.lambda_real_tint:
            r["face"] = self.drawn(face_mask, data.points, r)
        if self.cfg.lambda_real_hairline:
            r["forehead"] = self.drawn(forehead, data.points, r)
        if self.cfg.lambda_real_jaw:
            r["jaw"] = self.drawn(jaw, data.points, r)
        if self.cfg.real_inside:
            r["inside"] = self.drawn(photo_area, data.corners, r)
        return r

    def drawn(self, draw, points: np.ndarray, r: dict) -> torch.Tensor:
        """(N, 1, S, S) masks drawn from each face's `points` (landmarks, or the photo's corners),
        mirrored with the faces the batch flipped."""
        m = regions(draw, points[r["index"].numpy()], self.real.crops.shape[1])
        m[r["flip"]] = m[r["flip"]].flip(3)
        return fit_size(m, self.size)

    def sample_batch(self):
        # Spread over the held-out identities, not the first few; a grid's rows are equally long.
        n = min(8, len(self.real_val)) if self.real_val is not None else 8
        picked = np.arange(0, len(self.val), max(1, len(self.val) // n))[:n]
        b = {"x": to_batch(list(self.val.inputs[picked])), "y": to_batch(list(self.val.targets[picked])),
             "c": torch.from_numpy(self.val.conditions[picked])}
        if self.real_val is not None:
            b["real"] = self.real_batch(0, self.real_val, len(picked), augment=False)
        return b

    def train_step(self, b):
        x, y, c, cfg = b["x"], b["y"], b["c"], self.cfg
        fake, alpha = self.edit(x, c)
        logs, loss = {}, 0.0
        if cfg.lambda_adv:
            seen = torch.cat([x, tiled(c, x)], 1)
            d_loss = 0.5 * (lsgan(self.D(torch.cat([seen, y], 1)), True)
                            + lsgan(self.D(torch.cat([seen, fake.detach()], 1)), False))
            self.opts["D"].zero_grad()
            d_loss.backward()
            self.opts["D"].step()
            g_adv = lsgan(self.D(torch.cat([seen, fake], 1)), True)
            loss = cfg.lambda_adv * g_adv
            logs.update({"D/adv": d_loss.item(), "G/adv": g_adv.item()})
            if cfg.lambda_fm:
                with torch.no_grad():
                    want = self.D.taps(torch.cat([seen, y], 1))
                g_fm = feature_match(want, self.D.taps(torch.cat([seen, fake], 1)))
                loss = loss + cfg.lambda_fm * g_fm
                logs["G/fm"] = g_fm.item()
        moved = changed(x, y)
        # The students copy the colour of the teacher's "older" but not its lines and grey hair:
        # those pairs can count more (three times gave less "older", not more: run FO,
        # docs/student.md).
        older = 1 + cfg.lambda_older * (c[:, 2] > 0).float()
        g_pair = pair_l1(fake, y, 1 + cfg.lambda_changed * moved, older)
        # Alpha where the target equals the input is a change that was not asked for. Where the
        # teacher did change the picture, alpha is pulled open: output = x + alpha (colour - x)
        # scales the colour head's gradient by alpha and the alpha's by (colour - x), so from
        # "no change" both start near zero and hair comes thousands of steps late (GANimation's
        # slow start); the pairs say where the change is, so the alpha need not find it alone.
        still = ((y - x).abs().amax(1, keepdim=True) < 0.02).float()
        g_alpha = (alpha * still).mean()
        g_reach = ((1 - alpha) * changed(x, y, dilate=False)).mean()
        loss = loss + cfg.lambda_pair * g_pair + cfg.lambda_alpha * g_alpha + cfg.lambda_reach * g_reach
        if "real" in b:
            real_loss, real_logs = self.real_step(b["real"], b)
            loss = loss + real_loss
            logs.update(real_logs)
        # Fine-tuned from a generator's weights alone (an exported NAME.pt), the discriminators
        # start blind; --warmup steps train them against the generator held still (250 of them
        # did not change what run F learned: run FW, docs/student.md).
        if self.step >= cfg.warmup:
            self.opts["G"].zero_grad()
            loss.backward()
            self.opts["G"].step()
        return {**logs, "G/pair": g_pair.item(), "G/alpha": g_alpha.item(), "G/reach": g_reach.item(),
                "alpha/mean": alpha.mean().item()}

    def real_step(self, r: dict, pairs: dict | None = None) -> tuple[torch.Tensor, dict]:
        """The pairs teach what an edit looks like on renders; real faces have no pairs, so their
        edits answer to a discriminator of real photos (it steps here; lambda_real_adv) and to the
        frozen classifier: the asked gender (lambda_real), or the asked years against the face's own
        estimate (lambda_real_age; read through the classifier's age slope with --calibrate), and
        to a discriminator of the teacher's changes, which `pairs` (the step's pairs) show it
        (lambda_real_edit). What keeps the person: the edit taken back gives the face again
        (lambda_real_cyc), the alpha stays shut where the teacher's edits never reach
        (lambda_real_alpha) and where the edit does not need it (lambda_real_sparse), the edit adds
        no fine colour texture (lambda_real_chroma), the face's outline stays where it was
        (lambda_real_outline), and an age edit draws no fringe over the forehead
        (lambda_real_hairline), no shadow along the jaw (lambda_real_jaw) and no patches of tint on
        the face (lambda_real_tint)."""
        cfg, x, c = self.cfg, r["x"], r["c"]
        fake, alpha = self.edit(x, c)
        # --real-inside: past a chip's edge the crop only repeats the photo's border, no face's
        # surroundings; the discriminator and the classifier see the edit on the photo's own
        # pixels alone, and what it draws beyond them (hair) answers to the pairs.
        seen = x + r["inside"] * (fake - x) if "inside" in r else fake
        d_loss = 0.5 * (lsgan(self.R(x), True) + lsgan(self.R(seen.detach()), False))
        self.opts["R"].zero_grad()
        d_loss.backward()
        self.opts["R"].step()
        # --real-adv-edited: averaged over the crop, a fringe the edit left is a few patches among
        # two hundred the input's pixels already make real.
        where = (alpha * r.get("inside", 1)).detach() if cfg.real_adv_edited else None
        g_adv = lsgan(self.R(seen), True, where)
        view = r["rng"].integers(-4, 5, 2)
        logit, age = self.C(softened(seen, view, cfg.real_blur))
        with torch.no_grad():
            base = self.C(softened(x, view, cfg.real_blur))[1]
        asked = c[:, 1] > 0.5
        goal = age_goal(r["age"], c[:, 2], self.span, cfg.age_floor)
        # Summed and shared by the whole batch: either half may be empty.
        gender = gender_loss(logit[asked], c[asked, 0], cfg.real_margin).sum() / len(x)
        years = F.smooth_l1_loss((age - base)[~asked], (self.slope * (goal - r["age"]) / 10)[~asked], reduction="sum") / len(x)
        g_attr = gender + years
        realism = cfg.lambda_adv if cfg.lambda_real_adv < 0 else cfg.lambda_real_adv
        aging = cfg.lambda_real if cfg.lambda_real_age < 0 else cfg.lambda_real_age
        loss = realism * g_adv + cfg.lambda_real * gender + aging * years
        logs = {"R/adv": d_loss.item(), "G/real_adv": g_adv.item(), "G/real_attr": g_attr.item()}
        if cfg.lambda_real_edit:
            # Eye shadow and lip colour make a man a realistic photo of a woman, and the classifier
            # believes them; the teacher never paints them. The change itself must look like one
            # of the teacher's for the same condition.
            edit = self.edit_shown(x, seen, c)
            teacher = self.edit_shown(pairs["x"], pairs["y"], pairs["c"])
            e_loss = 0.5 * (lsgan(self.E(teacher), True) + lsgan(self.E(edit.detach()), False))
            self.opts["E"].zero_grad()
            e_loss.backward()
            self.opts["E"].step()
            g_edit = lsgan(self.E(edit), True)
            loss = loss + cfg.lambda_real_edit * g_edit
            logs.update({"E/adv": e_loss.item(), "G/real_edit": g_edit.item()})
        if cfg.lambda_real_alpha:
            g_outside = (alpha * (1 - self.reach)).mean()
            loss = loss + cfg.lambda_real_alpha * g_outside
            logs["G/real_alpha"] = g_outside.item()
        if cfg.lambda_real_sparse:
            g_sparse = alpha.mean()
            loss = loss + cfg.lambda_real_sparse * g_sparse
            logs["G/real_sparse"] = g_sparse.item()
        if cfg.lambda_real_chroma:
            g_chroma = speckle(fake, x)
            loss = loss + cfg.lambda_real_chroma * g_chroma
            logs["G/real_chroma"] = g_chroma.item()
        # The pairs keep the hairline (--keep-hairline); the classifier's pull still reads a fringe
        # as younger, and paints one as a smudge unless held. The teacher's age edits move the jaw
        # and chin, which a student draws on a real face as a dark band (and so without the pull).
        # The band is drawn at "younger"; "older"'s jowls may be the look (--real-jaw-younger).
        # On a real face "older" paints the teacher's paler skin as orange and white patches: its
        # colour may change in lines and grey strands, not in patches (lambda_real_tint).
        jaws = ~asked & (c[:, 2] < 0) if cfg.real_jaw_younger else ~asked
        for weight, region, held, colour in ((cfg.lambda_real_hairline, "forehead", ~asked, False),
                                             (cfg.lambda_real_jaw, "jaw", jaws, False),
                                             (cfg.lambda_real_tint, "face", ~asked, True)):
            if weight:
                g_held = tone(fake[held], x[held], r[region][held], colour) * held.float().mean()
                loss = loss + weight * g_held
                logs[f"G/real_{'tint' if colour else region}"] = g_held.item()
        if cfg.lambda_real_outline:
            band = r["outline"]
            g_outline = ((fake - x).abs() * band).sum() / (3 * band.sum()).clamp(min=1)
            loss = loss + cfg.lambda_real_outline * g_outline
            logs["G/real_outline"] = g_outline.item()
        if cfg.lambda_real_cyc:
            # The whole crop asked back makes hair cost twice, once to add and once to take away;
            # inside the face only (--real-cyc-face) the outside is free (run FC: the classifier's
            # pull then painted smudges there and colour in the eyes, not hair; docs/student.md).
            masks = [r[k] for k in ("face", "inside") if k in r]
            g_cyc = pair_l1(self.edit(fake, undone(c))[0], x, torch.stack(masks).prod(0) if masks else None)
            loss = loss + cfg.lambda_real_cyc * g_cyc
            logs["G/real_cyc"] = g_cyc.item()
        return loss, logs

    def edit_shown(self, before: torch.Tensor, after: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """What the discriminator of changes sees: the change, the output (--real-edit-output), the condition."""
        return torch.cat([after - before, *([after] if self.cfg.real_edit_output else []), tiled(c, after)], 1)

    @staticmethod
    def deployable(cfg):
        g = generator(cfg.arch, cond=COND)  # forward(image, condition) -> (output, alpha)
        return (SmoothColour(g, cfg.smooth_colour) if cfg.smooth_colour else g), {"G": g}

    def sample_grid(self, b):
        """Rows: input, target, output, alpha; with real faces, also their input, output and alpha."""
        fake, alpha = self.edit(b["x"], b["c"])
        rows = [b["x"], b["y"], fake, alpha.expand(-1, 3, -1, -1) * 2 - 1]
        if "real" in b:
            fake, alpha = self.edit(b["real"]["x"], b["real"]["c"])
            rows += [b["real"]["x"], fake, alpha.expand(-1, 3, -1, -1) * 2 - 1]
        return torch.cat(rows)
