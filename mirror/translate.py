"""Translation: aligned face crops plus the wanted effect -> generated face crops.

All faces of a frame go through each model in one batch. The order is gender, then age, on the same
crops; `swap` asks the attribute classifier which way each face goes. Crops are cut with the first
generator's AlignSpec; a model trained on another spec gets them resampled (crop to crop, no frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .align import AlignSpec, between
from .blend import as_carded
from .contract import from_tensor, to_tensor  # noqa: F401 - the card's normalisation, used here and by callers
from .errors import MirrorError
from .models import Model, Registry

GENDERS = ("female", "male", "swap")


@dataclass
class Effect:
    """What the caller wants: `gender` female/male/swap or None, `age` from -1 (youngest) through 0
    (unchanged) to +1 (oldest), `intensity` 0..1 mixes the original (0) with the generated face (1)."""

    gender: str | None = None
    age: float = 0.0
    intensity: float = 1.0

    def check(self) -> None:
        if self.gender not in (None, *GENDERS):
            raise MirrorError(f"unknown effect {self.gender!r} (choose from {', '.join(GENDERS)})")
        if not -1.0 <= self.age <= 1.0:
            raise MirrorError(f"age must lie in [-1, 1], got {self.age}")
        if not 0.0 <= self.intensity <= 1.0:
            raise MirrorError(f"intensity must lie in [0, 1], got {self.intensity}")

    @property
    def active(self) -> bool:
        return self.intensity > 0 and (self.gender is not None or self.age != 0)


def resample(crops: np.ndarray, a: AlignSpec, b: AlignSpec) -> np.ndarray:
    if a == b:
        return crops
    m = between(a, b)
    return np.stack([cv2.warpAffine(c, m, (b.size, b.size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE) for c in crops])


@dataclass
class _Vote:
    """A tracked face's running P(female) (for display), and its swap direction: the mean over its
    first DECIDE frames, then fixed, since on a face the classifier finds ambiguous P swings from
    0.1 to 0.8 between frames and any running threshold flips the face every second or so. A new
    track, or `swap` chosen again, votes afresh. DECIDE None: the running mean with hysteresis
    throughout (the behaviour before; scripts/swap_stability.py measures both)."""

    p: float
    female: bool
    n: int = 0
    total: float = 0.0
    DECIDE = 20

    def update(self, p: float, keep: float = 0.8, margin: float = 0.15) -> float:
        self.p = keep * self.p + (1 - keep) * p
        self.n += 1
        self.total += p
        if self.DECIDE is None:
            if abs(self.p - 0.5) > margin:
                self.female = self.p > 0.5
        elif self.n <= self.DECIDE:
            self.female = self.total / self.n > 0.5
        return self.p


@dataclass
class Translated:
    """What the translator made of a frame's faces: `images` (N, S, S, 3) BGR float32 0..255 in
    the frame's crop spec; `alpha` (N, S, S) in [0, 1] where a model said where it changed (else
    None); `female` the classifier's P(female) per face when `swap` asked it; `colour` whether the
    paste should match colours (not over an alpha model's change: it means its colours)."""

    images: np.ndarray
    alpha: np.ndarray | None = None
    female: np.ndarray | None = None
    colour: bool = True


@dataclass
class Translator:
    registry: Registry
    votes: dict[int, _Vote] = field(default_factory=dict)
    asked: str | None = None  # the gender effect of the last call: `swap` chosen anew votes anew

    def plan(self, effect: Effect) -> list[tuple[Model, tuple[str, ...]]]:
        """The generators to run, in order, each with the effects it serves ("gender", "age"): one
        step for both when an edit model serves both. Raises MirrorError when a model is missing."""
        effect.check()
        wanted = [e for e, on in (("gender", effect.gender is not None), ("age", effect.age != 0)) if on]
        if effect.gender == "swap":
            self.registry.require("attributes")
        steps: list[tuple[Model, tuple[str, ...]]] = []
        for what in wanted:
            model = self.registry.serving(what) or self.registry.require(what)
            if steps and steps[-1][0] is model:
                steps[-1] = (model, steps[-1][1] + (what,))
            else:
                steps.append((model, (what,)))
        return steps

    def spec(self, effect: Effect) -> AlignSpec:
        """The crop spec the frame's faces should be cut with for this effect."""
        steps = self.plan(effect) if effect.active else []
        return steps[0][0].spec if steps else AlignSpec()

    def oval(self, effect: Effect) -> bool:
        """Whether this effect's change is pasted through the face oval: some model of its plan
        has no alpha of its own (an edit model alone needs no oval mask)."""
        return effect.active and any(model.card.paste != "alpha" for model, _ in self.plan(effect))

    def female(self, crops: np.ndarray, spec: AlignSpec, tracks: list[int] | None = None) -> np.ndarray:
        """P(female) per crop from the attribute classifier, the mean over the crop and its mirror
        image (so the mirrored view decides as the camera's own; on 2,211 validation faces 92.3%
        right where one view alone gets 91.8%, and the two views disagree on 4.7%); with `tracks`,
        a running mean per face."""
        model = self.registry.require("attributes")
        seen = resample(crops, spec, model.spec)
        both = np.concatenate([seen, seen[:, :, ::-1]])
        p = model.run(to_tensor(both))["female"].reshape(2, -1).mean(0).astype(float)
        if tracks is None:
            return p
        return np.array([self.votes.setdefault(t, _Vote(q, q > 0.5)).update(q) for t, q in zip(tracks, p)])

    def target(self, effect: Effect, track: int) -> str | None:
        """The gender a face is turned towards: the effect's own, or for `swap` the other one than
        the face's vote (after a call that ran the classifier on it)."""
        if effect.gender != "swap":
            return effect.gender
        vote = self.votes.get(track)
        return None if vote is None else ("male" if vote.female else "female")

    def reset(self) -> None:
        """Forget the per-track votes (a new scene, or unrelated stills)."""
        self.votes.clear()

    def __call__(self, crops: np.ndarray, spec: AlignSpec, effect: Effect,
                 tracks: list[int] | None = None, points: list[np.ndarray] | None = None) -> Translated:
        """The generated crops in `spec`, mixed with the input by `effect.intensity`. `points`, the
        faces' landmarks in the crops: a face turned male (female) by a model whose card gives
        `male_reach` (`female_reach`) changes only that near its face."""
        steps = self.plan(effect)
        if effect.gender == "swap" and self.asked != "swap":
            self.votes.clear()
        self.asked = effect.gender
        if not len(crops) or not steps:
            return Translated(crops.astype(np.float32))
        female = self.female(crops, spec, tracks) if effect.gender == "swap" else None
        targets = self._targets(effect, len(crops), female, tracks)
        x, at, alpha, masked = to_tensor(crops), spec, None, False
        for model, what in steps:
            if model.spec != at:
                x = to_tensor(resample(from_tensor(x), at, model.spec))
                at = model.spec
            out = model.run(x, self._condition(model, what, effect, targets))
            x = out["image"]
            if "alpha" in out:
                a = resample(out["alpha"][:, 0], at, spec)
                alpha = a if alpha is None else np.maximum(alpha, a)
            else:
                masked = True
        images = resample(from_tensor(x), at, spec)
        card = next((m.card for m, what in steps if "gender" in what), None)
        for i in range(len(images)) if card is not None else ():
            images[i] = as_carded(card, crops[i].astype(np.float32), images[i], None if points is None else points[i],
                                  bool(targets[i] >= 0.5))
        if effect.intensity < 1:
            images = crops + np.float32(effect.intensity) * (images - crops)
        return Translated(images, alpha, female, colour=alpha is None or masked)

    def _targets(self, effect: Effect, n: int, female: np.ndarray | None, tracks: list[int] | None) -> np.ndarray:
        """1 (to female) or 0 (to male) per face."""
        if effect.gender != "swap":
            return np.full(n, 1.0 if effect.gender == "female" else 0.0, np.float32)
        is_female = female > 0.5 if tracks is None else np.array([self.votes[t].female for t in tracks])
        return (1.0 - is_female).astype(np.float32)

    @staticmethod
    def _condition(model: Model, what: tuple[str, ...], effect: Effect, targets: np.ndarray) -> np.ndarray:
        n = len(targets)
        if model.task == "edit":  # (target P(female), gender asked, age shift)
            gender = "gender" in what
            return np.stack([targets if gender else np.full(n, 0.5, np.float32), np.full(n, float(gender)),
                             np.full(n, effect.age if "age" in what else 0.0)], 1).astype(np.float32)
        if what == ("age",):
            return np.full((n, 1), effect.age, np.float32)
        return targets.reshape(n, 1)
