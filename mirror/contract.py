"""The contract between the trainer and the runtime: what a model card says, how pixels become a
model's input and its output pixels again, and how cards are read and written.

`mirror-train export` writes cards and the runtime (`mirror.models`) reads them; both sides import
this one module, so the schema, the tensor layout and the [-1, 1] RGB scale are written once. Only
numpy here: the trainer wraps `to_tensor` for torch where it needs torch tensors.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .align import AlignSpec
from .errors import MirrorError

TASKS = ("gender", "age", "attributes", "edit")
# A model takes RGB images scaled to [-1, 1] (see `to_tensor` and `from_tensor`).
NORMALISATION = {"color": "RGB", "scale": "[-1,1]"}
# The graph's inputs and outputs per task, in the order the exporter names them. A generator gives
# one image, under whatever name (a graph cannot reuse its input's name "image"); `Model.run` calls
# it "image". An "edit" model (the distilled student) serves gender and age in one pass: its
# condition is (target P(female), gender asked 0/1, age shift a), and it also gives the alpha it
# changed by.
TASK_IO = {"gender": (("image", "condition"), ("output",)), "age": (("image", "condition"), ("output",)),
           "attributes": (("image",), ("female", "age")), "edit": (("image", "condition"), ("output", "alpha"))}
CONDITION_WIDTH = {"gender": 1, "age": 1, "edit": 3}
# What each task must take and give, beyond the card's own shapes (a gender or age generator's one
# output may have any name).
TASK_INPUTS = {task: set(inputs) for task, (inputs, _) in TASK_IO.items()}
TASK_OUTPUTS = {task: set(TASK_IO[task][1]) for task in ("attributes", "edit")}
GENERATORS = ("gender", "age", "edit")
EFFECTS = ("gender", "age")  # the sliders; an edit model serves both or one of them
PASTES = ("mask", "alpha")  # through the face-oval mask with colour matching, or through the model's alpha
TASK_STAMP = "mirror.task"  # the ONNX metadata key under which `mirror-train export` writes the task


def card_shapes(task: str, size: int) -> tuple[dict[str, list], dict[str, list]]:
    """The card's `inputs` and `outputs` for a model of `task` on `size` px crops (any batch)."""
    image = [-1, 3, size, size]
    inputs = {"image": image, **({"condition": [-1, CONDITION_WIDTH[task]]} if task in CONDITION_WIDTH else {})}
    shapes = {"output": image, "alpha": [-1, 1, size, size], "female": [-1, 1], "age": [-1, 1]}
    return inputs, {name: list(shapes[name]) for name in TASK_IO[task][1]}


# Pixels <-> tensors: the card's normalisation, the one place it is coded.

def normalise(pixels: np.ndarray, order: str = "K") -> np.ndarray:
    """0..255 pixels -> a new float32 array in [-1, 1], in their layout (`order="C"`: contiguous)."""
    x = np.array(pixels, dtype=np.float32, order=order)
    # In place, on the one copy: as fast as the expression on a temporary, which numpy reuses.
    x /= 127.5
    x -= 1.0
    return x


def to_tensor(crops: np.ndarray, bgr: bool = True) -> np.ndarray:
    """(N, S, S, 3) crops 0..255, BGR (the runtime's frames) or RGB (`bgr=False`, the trainer's
    cache) -> (N, 3, S, S) RGB float32 in [-1, 1]: the cards' normalisation."""
    rgb = crops[..., ::-1] if bgr else crops
    return normalise(rgb.transpose(0, 3, 1, 2), order="C")


def from_tensor(t: np.ndarray, bgr: bool = True) -> np.ndarray:
    """(N, 3, S, S) RGB in [-1, 1] -> (N, S, S, 3) float32 0..255, BGR (or RGB with `bgr=False`);
    kept float: the runtime's blend rounds once."""
    nhwc = t.transpose(0, 2, 3, 1)
    return np.clip(((nhwc[..., ::-1] if bgr else nhwc) + 1.0) * 127.5, 0.0, 255.0).astype(np.float32)


def to_pixels(t: np.ndarray, bgr: bool = False) -> np.ndarray:
    """(N, 3, S, S) RGB in [-1, 1] -> (N, S, S, 3) uint8, RGB (or BGR with `bgr=True`), rounded."""
    return np.round(from_tensor(t, bgr)).astype(np.uint8)


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
    "serves": (False, list_of(one_of(*EFFECTS))),
    "male_reach": (False, number(0, 1)),
    "female_reach": (False, number(0, 1)),
    "male_gain": (False, number(0.5, 2)),
    "female_gain": (False, number(0.5, 2)),
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
    male_reach: float | None = None  # an edit model's "to male" held to the face grown by this much of the crop
    female_reach: float | None = None  # and its "to female"
    male_gain: float = 1.0  # an edit model's "to male" change scaled by this much at full intensity
    female_gain: float = 1.0  # and its "to female"
    data: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def condition_width(self) -> int:
        return int(self.inputs["condition"][-1]) if "condition" in self.inputs else 0

    def reach(self, female: bool) -> float | None:
        """How far past the face (of the crop) a gender edit to this target may change it (blend.grown_face);
        None: anywhere."""
        return self.female_reach if female else self.male_reach

    def gain(self, female: bool) -> float:
        """How much a gender edit to this target is scaled at full intensity (1: as generated)."""
        return self.female_gain if female else self.male_gain

    @classmethod
    def read(cls, path: Path) -> "Card":
        path = Path(path)
        d = read_card(path)
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
                   serves=tuple(d.get("serves", EFFECTS if task == "edit" else (task,))),
                   male_reach=d.get("male_reach"), female_reach=d.get("female_reach"),
                   male_gain=d.get("male_gain", 1.0), female_gain=d.get("female_gain", 1.0), data=d)
        outputs_ok = TASK_OUTPUTS[task] <= set(card.outputs) if task in TASK_OUTPUTS else len(card.outputs) == 1
        if set(card.inputs) != TASK_INPUTS[task] or not outputs_ok:
            want = sorted(TASK_OUTPUTS.get(task, ["one image"]))
            raise MirrorError(f"{path}: a {task} model takes {sorted(TASK_INPUTS[task])} and gives {want}; "
                              f"the card says {sorted(card.inputs)} -> {sorted(card.outputs)}")
        return card


# Reading and writing cards.

def read_card(path: Path, strict: bool = True) -> dict:
    """A card's JSON object, not yet checked against the schema (`Card.read` does that). `strict`
    (the runtime's reading): at most CARD_BYTES, NaN and Infinity refused; the trainer reads back
    the cards it wrote, metrics and all, with `strict=False`."""
    path = Path(path)
    if not strict:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MirrorError(f"{path}: unreadable model card ({e})") from None
    try:
        if path.stat().st_size > CARD_BYTES:
            raise ValueError(f"{path.stat().st_size:,} bytes, more than a card's {CARD_BYTES:,}")
        # NaN and Infinity are Python's extensions to JSON: refused like any other non-number.
        d = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MirrorError(f"{path}: unreadable model card ({_line(e) if str(e) else type(e).__name__})") from None
    if not isinstance(d, dict):
        raise MirrorError(f"{path}: unreadable model card (a JSON {type(d).__name__}, not an object)")
    return d


def write_card(path: Path, card: dict) -> None:
    """Writes a card whole or not at all (a reader never sees half a card)."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, path)
