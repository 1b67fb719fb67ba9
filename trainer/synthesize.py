"""Synthesize: before/after pairs rendered by the StyleGAN teacher, for the distilled student.

Per identity (a latent z from (seed, index)): the source render, labelled by the project's own
attribute classifier (never the independent judges); the gender and age directions in w space;
the edits (the other gender; an age shift, sometimes with the gender flip too); each edit kept
only when our classifier sees it happen, a face is found and the head did not move. Every image
of an identity is cropped with the SOURCE render's alignment (mirror/align.py), so a change of
face shape or hair stays in the pair instead of being aligned away.

Directions: w regressed on [1, female, age, yaw, pitch] over the first `probe` sources (multiple
regression); each coefficient is that attribute's partial effect with the others held, so the
gender step does not also age or turn the face.

Layout of `out/`: `settings.json`; `sources/NNNNNN.npz` (the probe's sources); `directions.npz`;
`pairs/NNNNNN.npz` (one identity: crops and person masks of the source and its edits, the
conditions, which edits were kept and why not). Every file is written whole or not at all, so a
killed run resumes at the first identity without a pairs file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mirror.align import Alignment, AlignSpec, anchors
from mirror.errors import MirrorError, signals_held

# Pairs are stored wide and large; a student resamples them to its own crop (align.between).
STORE = AlignSpec(size=256, margin=0.5)
DETECT = 512  # landmarks and segmentation look at the render at this size (the mesh sees 192 px anyway)
CONDITION = ("female", "gender", "age")  # target P(female), whether gender is asked for, age shift a


@dataclass(frozen=True)
class Settings:
    identities: int = 1000
    seed: int = 0
    truncation: float = 0.7  # w = mean + truncation (w - mean): faces that look like faces
    probe: int = 256  # sources whose labels give the directions
    gender_gain: float = 1.25  # steps of the gender direction (female 0 -> 1) an edit takes
    age_span: float = 30.0  # years of the age shift at a = +-1
    both: float = 0.3  # share of age edits that also flip the gender
    max_shift: float = 0.04  # an edit whose face anchors moved more than this share of the crop is dropped
    # Age edits keep the gender: the age direction without its part along the gender direction
    # (the raw one, at +36 years, turned 7 of 16 young women into men by our classifier; apart,
    # 1 of 16, at the same judged age: docs/age_apart.py, docs/student.md), and an age edit our
    # classifier reads as the other gender is dropped. Folders from before have it off (--raw-age).
    age_keeps_gender: bool = True
    threads: int = 0  # OpenVINO CPU threads (0: all)


LEGACY = {"age_keeps_gender": False}  # what a folder's settings.json without the key was made with


def _save(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    with signals_held():  # a stop mid-write would leave a half file behind
        np.savez(tmp, **arrays)
        os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def pose(points: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) proxies from the five anchors: the nose's offset from the eyes' midpoint,
    across in eye distances and down in eye-to-mouth distances."""
    eye_r, eye_l, nose, mouth_r, mouth_l = anchors(points)
    mid_eye, mid_mouth = (eye_r + eye_l) / 2, (mouth_r + mouth_l) / 2
    return (float((nose[0] - mid_eye[0]) / np.linalg.norm(eye_l - eye_r)),
            float((nose[1] - mid_eye[1]) / max(mid_mouth[1] - mid_eye[1], 1e-6)))


class Looker:
    """What synthesis sees in a render: landmarks, the person mask, our classifier's labels."""

    def __init__(self, models: Path):
        import mediapipe as mp

        from mirror.landmarks import Landmarker
        from mirror.models import Registry

        self.mesh = Landmarker(max_faces=1, video=False)
        self.segment = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self.classifier = Registry(models).require("attributes")

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        k = image.shape[0] / DETECT
        faces = self.mesh(cv2.resize(image, (DETECT, DETECT), interpolation=cv2.INTER_AREA))
        return None if not faces else faces[0].points * np.float32(k)

    def person(self, image: np.ndarray) -> np.ndarray:
        """P(person) per pixel, float32 at the image's size."""
        small = cv2.resize(image, (DETECT, DETECT), interpolation=cv2.INTER_AREA)
        mask = self.segment.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)).segmentation_mask
        return cv2.resize(mask.astype(np.float32), image.shape[1::-1], interpolation=cv2.INTER_LINEAR)

    def labels(self, image: np.ndarray, points: np.ndarray) -> tuple[float, float]:
        """(P(female), age in years), each face cropped as the classifier was trained."""
        from mirror.contract import to_tensor

        crop = Alignment.from_landmarks(points, self.classifier.spec).crop(image)
        out = self.classifier.run(to_tensor(crop[None]))
        return float(out["female"].reshape(-1)[0]), float(out["age"].reshape(-1)[0])

    def close(self) -> None:
        self.mesh.close()
        self.segment.close()


def store(image: np.ndarray, person: np.ndarray, align: Alignment) -> tuple[np.ndarray, np.ndarray]:
    """The stored crop (BGR uint8) and person mask (uint8) through one alignment."""
    a = Alignment(align.matrix, STORE)
    return (a.crop(image, cv2.BORDER_REFLECT_101),
            np.round(a.crop(person, cv2.BORDER_REFLECT_101) * 255).astype(np.uint8))


def stored_alignment(points: np.ndarray) -> Alignment:
    return Alignment.from_landmarks(points, STORE)


def folder_settings(folder: Path) -> dict:
    """The settings a synthesis folder was made with (its `settings.json`): what its condition's
    a means in years (`age_span`), its truncation."""
    return json.loads((Path(folder) / "settings.json").read_text())


class Synthesizer:
    def __init__(self, out: Path, settings: Settings, models: Path):
        self.out, self.s, self.models = Path(out), settings, models
        self.teacher = self.looker = None
        self.mean = None

    # -- lazily built: a finished run resumes without starting the teacher ----------------------
    def tools(self):
        if self.teacher is None:
            from .teacher import Teacher

            self.teacher = Teacher(self.s.threads)
            self.looker = Looker(self.models)
            cv2.setNumThreads(max(1, self.s.threads))
        return self.teacher, self.looker

    def check_settings(self) -> None:
        """A folder keeps the settings it was started with: resuming with others would mix pairs
        of two recipes."""
        path = self.out / "settings.json"
        mine = {k: v for k, v in asdict(self.s).items() if k not in ("identities", "threads")}
        mine["store"] = STORE.to_dict()
        if path.is_file():
            old = {**LEGACY, **folder_settings(self.out)}
            diff = {k: (old.get(k), v) for k, v in mine.items() if old.get(k) != v}
            if diff:
                raise MirrorError(f"{self.out} was synthesized with other settings "
                                  f"({', '.join(f'{k}: {a} there, {b} now' for k, (a, b) in diff.items())}); "
                                  f"use another --out or the same settings")
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            _write_json(path, mine)

    def style_mean(self) -> np.ndarray:
        path = self.out / "mean.npy"
        if not path.is_file():
            tmp = self.out / ".mean.tmp.npy"
            np.save(tmp, self.tools()[0].mean_style(seed=self.s.seed))
            os.replace(tmp, path)
        return np.load(path)

    def style(self, i: int) -> np.ndarray:
        z = np.random.default_rng([self.s.seed, i]).standard_normal((1, 512)).astype(np.float32)
        w = self.tools()[0].styles(z)[0]
        return self.mean + self.s.truncation * (w - self.mean)

    def source(self, i: int) -> dict:
        """Source render i: style, landmarks (None: no face), labels, pose, stored crop and mask."""
        path = self.out / "sources" / f"{i:06d}.npz"
        if path.is_file():
            with np.load(path) as f:
                return dict(f)
        teacher, looker = self.tools()
        w = self.style(i)
        image = teacher.render(w)
        points = looker.landmarks(image)
        rec = {"w": w.astype(np.float32), "found": np.array(points is not None)}
        if points is not None:
            female, age = looker.labels(image, points)
            yaw, pitch = pose(points)
            crop, mask = store(image, looker.person(image), stored_alignment(points))
            rec.update(points=points.astype(np.float32), female=np.float32(female), age=np.float32(age),
                       yaw=np.float32(yaw), pitch=np.float32(pitch), crop=crop, mask=mask)
        path.parent.mkdir(parents=True, exist_ok=True)
        _save(path, **rec)
        return rec

    def directions(self, bar: tqdm) -> dict:
        path = self.out / "directions.npz"
        if path.is_file():
            with np.load(path) as f:
                return dict(f)
        recs = []
        for i in range(self.s.probe):
            recs.append(self.source(i))
            bar.set_postfix_str(f"probe {i + 1}/{self.s.probe}", refresh=False)
        found = [r for r in recs if r["found"]]
        if len(found) < 8:
            raise MirrorError(f"only {len(found)} of {len(recs)} probe renders had a face: too few for directions")
        w = np.stack([r["w"] for r in found])
        x = np.stack([np.ones(len(found)), [float(r["female"] > 0.5) for r in found], [r["age"] for r in found],
                      [r["yaw"] for r in found], [r["pitch"] for r in found]], 1)
        beta, *_ = np.linalg.lstsq(x, w, rcond=None)  # (5, 512): intercept, per female, per year, per yaw, per pitch
        d = {"female": beta[1].astype(np.float32), "age": beta[2].astype(np.float32),
             "probe": np.array(len(found)), "females": np.array(int(x[:, 1].sum())),
             "ages": np.array([x[:, 2].min(), x[:, 2].mean(), x[:, 2].max()], np.float32)}
        _save(path, **d)
        return d

    def edits(self, i: int, rec: dict, d: dict) -> list[tuple[np.ndarray, np.ndarray]]:
        """The edit styles of identity i with their conditions (target female, gender on, a)."""
        rng = np.random.default_rng([self.s.seed, i, 1])
        female = float(rec["female"] > 0.5)
        flip = (1.0 - 2.0 * female) * self.s.gender_gain * d["female"]
        a = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 1.0))
        years = a * self.s.age_span
        if years < 0:  # "younger" stops at 18: a child is no younger version of an adult
            years = min(0.0, max(years, 18.0 - float(rec["age"])))
        a = years / self.s.age_span
        both = rng.random() < self.s.both
        out = [(rec["w"] + flip, np.array([1 - female, 1, 0], np.float32))]
        if abs(years) >= 5:
            w = rec["w"] + years * self.age_direction(d) + (flip if both else 0)
            out.append((w, np.array([1 - female if both else female, float(both), a], np.float32)))
        return out

    def age_direction(self, d: dict) -> np.ndarray:
        """A year along the age direction, without its part along the gender direction unless the
        folder was made with the raw one."""
        age, female = d["age"], d["female"]
        if not self.s.age_keeps_gender:
            return age
        return age - (age @ female) / (female @ female) * female

    def pair(self, i: int, d: dict) -> dict:
        rec = self.source(i)
        if not rec["found"]:
            return {"found": np.array(False)}
        teacher, looker = self.tools()
        align = stored_alignment(rec["points"])
        crops, masks, conds, kept, why = [rec["crop"]], [rec["mask"]], [], [], []
        for w, cond in self.edits(i, rec, d):
            image = teacher.render(w)
            crop, mask = store(image, looker.person(image), align)
            reason = self.judge_edit(image, rec, cond, align)
            crops.append(crop)
            masks.append(mask)
            conds.append(cond)
            kept.append(reason == "")
            why.append(reason)
        return {"found": np.array(True), "crops": np.stack(crops), "masks": np.stack(masks),
                "conditions": np.stack(conds), "kept": np.array(kept), "why": np.array(why),
                "matrix": align.matrix, "points": rec["points"], "female": rec["female"], "age": rec["age"]}

    def judge_edit(self, image: np.ndarray, rec: dict, cond: np.ndarray, align: Alignment) -> str:
        """Why an edit is dropped ("" keeps it): no face, the head moved, our classifier does not
        see the asked change, or it sees a gender change no one asked for."""
        points = self.looker.landmarks(image)
        if points is None:
            return "no face"
        moved = np.linalg.norm(align.to_crop(anchors(points)) - align.to_crop(anchors(rec["points"])), axis=1)
        if moved.mean() > self.s.max_shift * STORE.size:
            return "head moved"
        female, age = self.looker.labels(image, points)
        if cond[1] and (female > 0.5) != (cond[0] > 0.5):
            return "gender did not flip"
        if not cond[1] and self.s.age_keeps_gender and (female > 0.5) != (rec["female"] > 0.5):
            return "gender changed"
        years = float(cond[2]) * self.s.age_span
        if years and (np.sign(age - rec["age"]) != np.sign(years) or abs(age - rec["age"]) < 0.25 * abs(years)):
            return "age did not move"
        return ""

    def run(self, identities: int | None = None, share: tuple[int, int] = (0, 1)) -> dict:
        """Renders the identities not yet written; `share` (k, n) takes only those with index k
        modulo n, so n processes can fill one folder side by side (each file is written whole
        under a name of its own, and the first to start writes the directions the others read)."""
        n = identities or self.s.identities
        self.check_settings()
        self.mean = self.style_mean()
        folder = self.out / "pairs"
        folder.mkdir(parents=True, exist_ok=True)
        mine = range(share[0], n, share[1])
        todo = [i for i in mine if not (folder / f"{i:06d}.npz").is_file()]
        bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc="synthesize", unit="id")
        try:
            d = self.directions(bar) if todo else None
            for i in todo:
                if (folder / f"{i:06d}.npz").is_file():
                    continue  # another process took it
                _save(folder / f"{i:06d}.npz", **self.pair(i, d))
                bar.update(1)
        finally:
            bar.close()
            if self.looker is not None:
                self.looker.close()
        return summary(self.out)


def summary(out: Path) -> dict:
    """Counts over the pairs written so far: identities, faces found, edits kept and why not."""
    ids = found = kept = 0
    why: dict[str, int] = {}
    for path in sorted((Path(out) / "pairs").glob("[0-9]*.npz")):
        with np.load(path) as f:
            ids += 1
            if not f["found"]:
                continue
            found += 1
            kept += int(f["kept"].sum())
            for r in f["why"]:
                if r:
                    why[str(r)] = why.get(str(r), 0) + 1
    return {"out": str(out), "identities": ids, "with_face": found, "pairs_kept": kept, "dropped": why}
