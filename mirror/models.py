"""Models: the registry of exported ONNX models and their cards, each with an ONNX Runtime session.

A model is `<name>.onnx` next to its card `<name>.json` (written by `mirror-train export`). The card
says how the model wants its input (the crop spec, the normalisation) and what it does; the registry
checks the card against the graph's real inputs, so a stale or hand-edited card fails here, naming
the file, instead of producing garbage faces later. One bad model never hides the good ones.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from .align import AlignSpec
# The card's schema lives in the contract; its names stay importable from here.
from .contract import (CARD_BYTES, CARD_FIELDS, GENERATORS, NORMALISATION, PASTES, TASK_INPUTS,  # noqa: F401
                       TASK_OUTPUTS, TASK_STAMP, TASKS, Card, CardError, _line)
from .errors import MirrorError

# Fastest first; ONNX Runtime skips what it cannot start, and `Model.provider` says what really runs.
PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider",
             "CoreMLExecutionProvider", "CPUExecutionProvider")
THREADS = 1  # ONNX Runtime intra-op threads per session (CPU); see Model


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    return [p for p in PREFERRED if p in available] or ["CPUExecutionProvider"]


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
        lines = []
        for m in self.models.values():
            serves = f" (serves {' and '.join(m.card.serves)}{_shaping(m.card)})" if m.task == "edit" else ""
            lines.append(f"{m.card.name}: {m.task}{serves}, {m.path.name}, crop {m.spec.size}px margin {m.spec.margin}, "
                         f"{'batched' if m.batch else 'batch 1'}, runs on {m.provider}")
        return lines + [f"unusable: {p}" for p in self.problems]


def default_models() -> Path:
    """./exported_models when there is one, else the one beside the package (a source checkout)."""
    here = Path("exported_models")
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "exported_models"


def default_registry(folder: str | Path | None = None, threads: int = THREADS) -> Registry:
    """The registry the commands start with: `folder` (a --models option), else `default_models()`;
    the files it cannot use are said on stderr, one warning each, and the rest still serve."""
    registry = Registry(folder or default_models(), threads=threads)
    for problem in registry.problems:
        print(f"mirror: warning: {problem}", file=sys.stderr)
    return registry


def _shaping(card) -> str:
    """How the card shapes an edit model's gender edits, for `mirror models`: "; to male held to the
    face + 0.08 of the crop, x1.15; ..." (empty when it does not)."""
    parts = []
    for female, name in ((False, "to male"), (True, "to female")):
        reach, gain = card.reach(female), card.gain(female)
        bits = [f"held to the face + {reach:g} of the crop"] if reach is not None else []
        bits += [f"x{gain:g}"] if gain != 1 else []
        if bits:
            parts.append(f"; {name} {', '.join(bits)}")
    return "".join(parts)
