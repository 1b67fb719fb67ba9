"""Models: the registry of exported ONNX models and their cards, each with an ONNX Runtime session.

A model is `<name>.onnx` next to its card `<name>.json` (written by `mirror-train export`). The card
says how the model wants its input (the crop spec, the normalisation) and what it does; the registry
checks the card against the graph's real inputs, so a stale or hand-edited card fails here, naming
the file, instead of producing garbage faces later. One bad model never hides the good ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .align import AlignSpec
from .errors import MirrorError

TASKS = ("gender", "age", "attributes", "edit")
NORMALISATION = {"color": "RGB", "scale": "[-1,1]"}
# What each task must take and give, beyond the card's own shapes. A generator gives one image,
# under whatever name (a graph cannot reuse its input's name "image"); `Model.run` calls it "image".
# An "edit" model (the distilled student) serves gender and age in one pass: its condition is
# (target P(female), gender asked 0/1, age shift a), and it also gives the alpha it changed by.
TASK_INPUTS = {"gender": {"image", "condition"}, "age": {"image", "condition"}, "attributes": {"image"},
               "edit": {"image", "condition"}}
TASK_OUTPUTS = {"attributes": {"female", "age"}, "edit": {"output", "alpha"}}
GENERATORS = ("gender", "age", "edit")
PASTES = ("mask", "alpha")  # through the face-oval mask with colour matching, or through the model's alpha
# Fastest first; ONNX Runtime skips what it cannot start, and `Model.provider` says what really runs.
PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider",
             "CoreMLExecutionProvider", "CPUExecutionProvider")
THREADS = 1  # ONNX Runtime intra-op threads per session (CPU); see Model
TASK_STAMP = "mirror.task"  # the ONNX metadata key under which `mirror-train export` writes the task


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    return [p for p in PREFERRED if p in available] or ["CPUExecutionProvider"]


def _line(error: Exception) -> str:
    """The first line of an error's message: ONNX Runtime's run on for many."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class CardError(ValueError):
    """A card field that is missing or not what the runtime can use; says what it must be."""


def _shown(value) -> str:
    """A value as the card's JSON spells it (null, true), cut short."""
    shown = json.dumps(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(lo: float, hi: float, whole: bool = False):
    def check(value):
        if not _is_number(value) or not lo <= value <= hi or (whole and value != int(value)):
            raise CardError(f"must be a {'whole number' if whole else 'number'} in [{lo:g}, {hi:g}], got {_shown(value)}")
    return check


def text(value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CardError(f"must be a non-empty string, got {_shown(value)}")


def one_of(*options):
    def check(value):
        if value not in options:
            raise CardError(f"must be one of {', '.join(map(str, options))}, got {_shown(value)}")
    return check


def equal_to(wanted):
    def check(value):
        if value != wanted:
            raise CardError(f"must be {wanted}, got {_shown(value)}")
    return check


def shapes(value) -> None:
    """Tensor name -> its dimensions: whole numbers (-1 or 0 for any batch) or symbolic names."""
    if not isinstance(value, dict) or not value:
        raise CardError(f"must map names to shapes, got {_shown(value)}")
    for name, dims in value.items():
        if not isinstance(dims, list) or not dims or not all(
                isinstance(d, str) or (_is_number(d) and d == int(d) and d >= -1) for d in dims):
            raise CardError(f"must map names to shapes (lists of sizes), got {_shown(name)}: {_shown(dims)}")


def list_of(check_item):
    def check(value):
        if not isinstance(value, list) or not value:
            raise CardError(f"must be a non-empty list, got {_shown(value)}")
        for item in value:
            check_item(item)
    return check


def record(**fields):
    """A JSON object with these fields, each checked (all required)."""
    def check(value):
        if not isinstance(value, dict):
            raise CardError(f"must be an object with {', '.join(fields)}, got {_shown(value)}")
        for key, field_check in fields.items():
            _check_field(value, key, field_check, required=True)
    return check


# What the runtime reads of a card: field -> (required, check). The one place to extend the card
# (an optional field is one more row; a nested object a `record`).
CARD_FIELDS = {
    "name": (False, text),
    "task": (True, one_of(*TASKS)),
    "align": (True, record(size=number(16, 1024, whole=True), margin=number(0, 2))),
    "normalisation": (False, equal_to(NORMALISATION)),
    "inputs": (True, shapes),
    "outputs": (True, shapes),
    "age_span_years": (False, number(1, 200)),
    "paste": (False, one_of(*PASTES)),
    "serves": (False, list_of(one_of("gender", "age"))),
}
CARD_BYTES = 1 << 20  # a card is a few kB; a larger file is something else


def _check_field(d: dict, key: str, check, required: bool) -> None:
    if key not in d:
        if required:
            raise CardError(key, "missing")
        return
    try:
        check(d[key])
    except CardError as e:  # (why) from a check, (field, why) from a record's field: align.margin
        where, why = (f"{key}.{e.args[0]}", e.args[1]) if len(e.args) == 2 else (key, e.args[0])
        raise CardError(where, why) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


@dataclass(frozen=True)
class Card:
    """A model card: the fields the runtime relies on, and the whole JSON in `data`."""

    name: str
    task: str
    align: AlignSpec
    inputs: dict[str, list]
    outputs: dict[str, list]
    age_span_years: float | None = None
    paste: str = "mask"
    serves: tuple[str, ...] = ()  # the effects a model serves: its task, or gender and age for "edit"
    data: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def condition_width(self) -> int:
        return int(self.inputs["condition"][-1]) if "condition" in self.inputs else 0

    @classmethod
    def read(cls, path: Path) -> "Card":
        try:
            if path.stat().st_size > CARD_BYTES:
                raise ValueError(f"{path.stat().st_size:,} bytes, more than a card's {CARD_BYTES:,}")
            # NaN and Infinity are Python's extensions to JSON: refused like any other non-number.
            d = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise MirrorError(f"{path}: unreadable model card ({_line(e) if str(e) else type(e).__name__})") from None
        if not isinstance(d, dict):
            raise MirrorError(f"{path}: unreadable model card (a JSON {type(d).__name__}, not an object)")
        try:
            for key, (required, check) in CARD_FIELDS.items():
                _check_field(d, key, check, required)
        except CardError as e:
            key, why = e.args
            if key == "task" and "task" in d:
                raise MirrorError(f"{path}: unknown task {d['task']!r} (known: {', '.join(TASKS)})") from None
            raise MirrorError(f"{path}: model card lacks or mangles {key!r} ({why})") from None
        task = d["task"]
        card = cls(name=str(d.get("name", path.stem)), task=task, align=AlignSpec.from_dict(d["align"]),
                   inputs=dict(d["inputs"]), outputs=dict(d["outputs"]),
                   age_span_years=d.get("age_span_years"), paste=d.get("paste", "mask"),
                   serves=tuple(d.get("serves", ("gender", "age") if task == "edit" else (task,))), data=d)
        outputs_ok = TASK_OUTPUTS[task] <= set(card.outputs) if task in TASK_OUTPUTS else len(card.outputs) == 1
        if set(card.inputs) != TASK_INPUTS[task] or not outputs_ok:
            want = sorted(TASK_OUTPUTS.get(task, ["one image"]))
            raise MirrorError(f"{path}: a {task} model takes {sorted(TASK_INPUTS[task])} and gives {want}; "
                              f"the card says {sorted(card.inputs)} -> {sorted(card.outputs)}")
        return card


class Model:
    """One model's session. `run` takes NCHW float32 images in the card's normalisation (and a
    condition per image for generators) and returns the card's outputs by name, batched."""

    def __init__(self, path: Path, card: Card, providers: Sequence[str], threads: int = THREADS):
        import onnxruntime as ort

        self.path, self.card = path, card
        opts = ort.SessionOptions()
        # Fatal only: its warnings (unused initialisers etc.) are noise here, and its errors come
        # back as exceptions that say the same in the one line below.
        opts.log_severity_level = 4
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # On two cores the landmarks of the next frame run beside the generator (mirror.runner): a
        # second intra-op thread would only spin against them (it doubles the CPU time per face).
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        try:
            try:
                self.session = ort.InferenceSession(str(path), opts, providers=list(providers))
            except Exception:
                if list(providers) == ["CPUExecutionProvider"]:
                    raise
                # An accelerator that is listed but cannot start (missing CUDA libraries) fails the
                # whole session: fall back to the CPU rather than lose the model.
                self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise MirrorError(f"{path}: ONNX Runtime cannot load it ({_line(e)})") from None
        self.provider = self.session.get_providers()[0]
        # The exporter stamps the task into the graph; a model exported before that (the shipped
        # ones) has no stamp and is taken on its card's word.
        stamp = self.session.get_modelmeta().custom_metadata_map.get(TASK_STAMP)
        if stamp is not None and stamp != card.task:
            raise MirrorError(f"{path}: the graph is a {stamp} model ({TASK_STAMP} in its metadata), "
                              f"its card says {card.task}")
        self.batch = self._check()
        self._try()

    def _check(self) -> bool:
        """Card against graph; returns whether the batch dimension is dynamic."""
        real = {i.name: i.shape for i in self.session.get_inputs()}
        if set(real) != set(self.card.inputs):
            raise MirrorError(f"{self.path}: the graph's inputs {sorted(real)} are not the card's {sorted(self.card.inputs)}")
        outs = [o.name for o in self.session.get_outputs()]
        if missing := set(self.card.outputs) - set(outs):
            raise MirrorError(f"{self.path}: the graph lacks the card's outputs {sorted(missing)} (it has {outs})")
        # Output role -> graph output name.
        if self.task == "attributes":
            self.outputs = {r: r for r in self.card.outputs}
        elif self.task == "edit":
            self.outputs = {"image": "output", "alpha": "alpha"}
        else:
            self.outputs = {"image": next(iter(self.card.outputs))}
        n = self.card.align.size
        if list(self.card.inputs["image"])[1:] != [3, n, n]:
            raise MirrorError(f"{self.path}: card input image {self.card.inputs['image']} does not fit its "
                              f"align size {n} (want [N, 3, {n}, {n}])")
        for name, shape in real.items():
            want = list(self.card.inputs[name])
            if len(shape) != len(want) or any(isinstance(r, int) and r != w for r, w in zip(shape[1:], want[1:])):
                raise MirrorError(f"{self.path}: input {name!r} is {shape} in the graph but {want} in the card")
        batch = real["image"][0]
        if isinstance(batch, int) and batch > 1:
            raise MirrorError(f"{self.path}: a fixed batch of {batch} images; export with batch 1 or a dynamic batch")
        return not isinstance(batch, int) or batch < 1

    def _try(self) -> None:
        """One blank face through the graph, as the pipeline sends it: a graph whose declared
        inputs fit the card but that cannot run on them (a size fixed deep inside) or gives
        another shape fails here, naming the file, instead of at the first face."""
        n = self.spec.size
        out = self.run(np.zeros((1, 3, n, n), np.float32), np.zeros((1, max(1, self.card.condition_width)), np.float32))
        for role, value in out.items():
            if role in ("image", "alpha"):
                c = 3 if role == "image" else 1
                ok, want = value.shape == (1, c, n, n), f"[1, {c}, {n}, {n}]"
            else:
                ok, want = value.size == 1, "one value"
            if not ok:
                raise MirrorError(f"{self.path}: gives {role} {list(value.shape)} for one {n}px face, not {want}")

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def spec(self) -> AlignSpec:
        return self.card.align

    def run(self, image: np.ndarray, condition: np.ndarray | None = None) -> dict[str, np.ndarray]:
        feeds = {"image": np.ascontiguousarray(image, dtype=np.float32)}
        if "condition" in self.card.inputs:
            feeds["condition"] = np.ascontiguousarray(condition, dtype=np.float32).reshape(len(image), self.card.condition_width)
        roles, names = list(self.outputs), list(self.outputs.values())
        try:
            if self.batch or len(image) == 1:
                return dict(zip(roles, self.session.run(names, feeds)))
            parts = [self.session.run(names, {k: v[i:i + 1] for k, v in feeds.items()}) for i in range(len(image))]
        except Exception as e:  # ONNX Runtime's own kinds, with messages of many lines
            raise MirrorError(f"{self.path}: the model failed to run ({_line(e)})") from None
        return {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate(roles)}

    def __repr__(self) -> str:
        return f"Model({self.card.name}, {self.task}, {self.path.name}, {self.provider})"


class Registry:
    """All models of a folder. `problems` lists the files that could not be used, one MirrorError
    each; `get(task)` gives a model for a task (the first by name, or the one named)."""

    def __init__(self, folder: str | Path | None = None, providers: Sequence[str] | None = None,
                 threads: int = THREADS):
        self.folder = Path(folder) if folder is not None else None
        self.providers = list(providers) if providers is not None else choose_providers()
        self.models: dict[str, Model] = {}
        self.problems: list[MirrorError] = []
        if self.folder is None:
            return
        if not self.folder.is_dir():
            # No models yet (a fresh checkout): the app still runs as a plain mirror, and asking
            # for an effect says where the models were looked for.
            return
        onnx = {p.stem: p for p in self.folder.glob("*.onnx")}
        cards = {p.stem: p for p in self.folder.glob("*.json")}
        for stem in sorted(onnx.keys() | cards.keys()):
            try:
                if stem not in cards:
                    raise MirrorError(f"{onnx[stem]}: no model card {stem}.json beside it")
                if stem not in onnx:
                    raise MirrorError(f"{cards[stem]}: model card without its {stem}.onnx")
                card = Card.read(cards[stem])
                if card.name in self.models:
                    raise MirrorError(f"{cards[stem]}: name {card.name!r} is taken by {self.models[card.name].path.name}")
                self.models[card.name] = Model(onnx[stem], card, self.providers, threads)
            except MirrorError as e:
                self.problems.append(e)
            except Exception as e:  # noqa: BLE001 - a case the checks above missed still takes one file only
                self.problems.append(MirrorError(f"{onnx.get(stem) or cards[stem]}: unusable ({type(e).__name__}: {_line(e)})"))

    def get(self, task: str, name: str | None = None) -> Model | None:
        for model in self.models.values():
            if model.task == task and name in (None, model.card.name):
                return model
        return None

    def serving(self, effect: str) -> Model | None:
        """The model that serves an effect ("gender" or "age"): an edit model that serves it first
        (one pass for both sliders), else the effect's own model."""
        for model in self.models.values():
            if model.task == "edit" and effect in model.card.serves:
                return model
        return self.get(effect)

    def require(self, task: str, name: str | None = None) -> Model:
        model = self.get(task, name)
        if model is None:
            where = "an empty registry" if self.folder is None else (
                self.folder if self.folder.is_dir() else f"{self.folder} (no such folder)")
            what = f"model {name!r} of task {task!r}" if name else f"{task} model"
            raise MirrorError(f"no {what} in {where} (export one with mirror-train export)")
        return model

    def describe(self) -> list[str]:
        lines = [f"{m.card.name}: {m.task}, {m.path.name}, crop {m.spec.size}px margin {m.spec.margin}, "
                 f"{'batched' if m.batch else 'batch 1'}, runs on {m.provider}" for m in self.models.values()]
        return lines + [f"unusable: {p}" for p in self.problems]
