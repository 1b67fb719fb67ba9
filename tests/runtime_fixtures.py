"""Stand-in models and media for the runtime tests.

The real generators come from the trainer later; these tiny ONNX graphs with fixed weights honour the
same contract (inputs, outputs, card) and do something visible and deterministic: the generator adds
a colour blob at the centre of the crop, redder for condition above its neutral value and bluer
below. A blob, not a flat shift, because colour matching in `blend` undoes a flat shift by design.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mirror.source import Frame, Source

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "test-media"
PHOTOS = ["astronaut.png", "obama.jpg", "obama2.jpg", "obama_partial_face.jpg", "biden.jpg",
          "sample1.jpg", "sample2.jpg", "sample3.jpg"]
FACES = {"astronaut.png": 1, "obama.jpg": 1, "obama2.jpg": 1, "obama_partial_face.jpg": 1, "biden.jpg": 1,
         "sample1.jpg": 3, "sample2.jpg": 3, "sample3.jpg": 3}
OPSET = 17


def photo(name: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    image = cv2.imread(str(MEDIA / name), flags)
    assert image is not None, f"missing test photo {MEDIA / name}"
    return image


def blob(size: int, amp: float = 0.8) -> np.ndarray:
    """(1, 3, S, S) RGB pattern: +amp red, -amp blue, a Gaussian around the crop centre."""
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    g = np.exp(-(x**2 + y**2) / (2 * 0.15**2)).astype(np.float32)
    return np.stack([amp * g, 0 * g, -amp * g])[None]


def _card(folder: Path, name: str, task: str, size: int, margin: float, inputs: dict, outputs: dict, **extra) -> None:
    card = {"name": name, "task": task, "architecture": "test fixture: fixed weights", "format": "onnx-fp32",
            "align": {"size": size, "margin": margin}, "normalisation": {"color": "RGB", "scale": "[-1,1]"},
            "inputs": inputs, "outputs": outputs, "conditions": {}, "training": {"fixture": True},
            "metrics": {}, "license": "MIT", "data": "none", **extra}
    (folder / f"{name}.json").write_text(json.dumps(card, indent=1))


def export_generator(folder: Path, name: str, task: str, size: int = 128, margin: float = 0.1,
                     dynamic: bool = True, neutral: float | None = None) -> Path:
    """out = clip(image + (condition - neutral) * blob, -1, 1); neutral 0.5 for gender, 0 for age."""
    neutral = (0.5 if task == "gender" else 0.0) if neutral is None else neutral
    n = "N" if dynamic else 1
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["condition", "neutral"], ["c"]),
            helper.make_node("Reshape", ["c", "shape4"], ["c4"]),
            helper.make_node("Mul", ["c4", "blob"], ["shift"]),
            helper.make_node("Add", ["image", "shift"], ["moved"]),
            helper.make_node("Clip", ["moved", "lo", "hi"], ["output"]),
        ],
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, 3, size, size]),
         helper.make_tensor_value_info("condition", TensorProto.FLOAT, [n, 1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [n, 3, size, size])],
        [numpy_helper.from_array(np.array([neutral], np.float32), "neutral"),
         numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape4"),
         numpy_helper.from_array(blob(size), "blob"),
         numpy_helper.from_array(np.array(-1, np.float32), "lo"),
         numpy_helper.from_array(np.array(1, np.float32), "hi")],
    )
    _save(graph, folder / f"{name}.onnx")
    b = -1 if dynamic else 1  # as the trainer writes a dynamic batch
    _card(folder, name, task, size, margin, {"image": [b, 3, size, size], "condition": [b, 1]},
          {"output": [b, 3, size, size]}, **({"age_span_years": 40} if task == "age" else {}))
    return folder / f"{name}.onnx"


def export_classifier(folder: Path, name: str = "attrs-fixture", female: float = 0.9, age: float = 30.0,
                      size: int = 128, margin: float = 0.1) -> Path:
    """Says P(female) = `female` and `age` years for every face (through the image, so the batch
    size follows it)."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Mul", ["m", "zero"], ["z"]),
            helper.make_node("Unsqueeze", ["z", "axis1"], ["z1"]),
            helper.make_node("Add", ["z1", "p"], ["female"]),
            helper.make_node("Add", ["z1", "years"], ["age"]),
        ],
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("female", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("age", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array(0, np.float32), "zero"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1"),
         numpy_helper.from_array(np.array(female, np.float32), "p"),
         numpy_helper.from_array(np.array(age, np.float32), "years")],
    )
    _save(graph, folder / f"{name}.onnx")
    _card(folder, name, "attributes", size, margin, {"image": [-1, 3, size, size]},
          {"female": [-1, 1], "age": [-1, 1]})
    return folder / f"{name}.onnx"


def _save(graph, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by any onnxruntime >= 1.14
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_all(folder: Path, female: float = 0.9) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    export_generator(folder, "gender-fixture", "gender")
    export_generator(folder, "age-fixture", "age")
    export_classifier(folder, female=female)
    return folder


def redness(image: np.ndarray, alignment) -> float:
    """Mean (R - B) in a disc at the centre of the face's crop, where the fixture's blob is strongest."""
    n = alignment.spec.size
    (cx, cy), = alignment.to_frame(np.array([[n / 2, n / 2]]))
    radius = 0.1 * n / np.sqrt(abs(np.linalg.det(alignment.matrix[:, :2])))
    disc = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(disc, (int(round(cx)), int(round(cy))), max(1, int(radius)), 1, -1)
    b, _, r = cv2.split(image.astype(np.float32))
    return float((r - b)[disc > 0].mean())


# -- for tests that run the command line, cameras and clips (no real video exists here) ------------

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the console scripts beside this Python


def run_cli(capsys, *args) -> tuple[int, list[str]]:
    from mirror import cli

    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err.strip().splitlines()


def one_error(lines: list[str], message: str) -> None:
    lines = [line for line in lines if "frame/s" not in line]  # the progress bar's, on the way
    assert len(lines) == 1 and lines[0].startswith("mirror: error: ") and message in lines[0], lines


def still_clip(path: Path, frames: int = 6) -> Path:
    """A short MJPG clip of the astronaut, standing still (no real video exists here)."""
    image = cv2.resize(photo("astronaut.png"), (320, 320))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 320))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


class FakeCamera(Source):
    """A camera that gives `frames` frames of the astronaut, then nothing, as when unplugged."""

    kind = "camera"

    def __init__(self, frames: int, pace: float = 0.0):
        self.frames, self.pace = frames, pace
        self.image = cv2.resize(photo("astronaut.png"), (320, 320))

    def __iter__(self):
        for i in range(self.frames):
            time.sleep(self.pace)
            yield Frame(self.image, i, f"frame-{i:06d}")


def good_gender(tmp_path: Path, models_dir: Path) -> Path:
    """A model folder with the good gender model alone, for bad ones to go beside."""
    folder = tmp_path / "models"
    folder.mkdir()
    for ext in (".onnx", ".json"):
        shutil.copy(models_dir / f"gender-fixture{ext}", folder)
    return folder


def script(name: str, *args, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # as a user's shell has it
    done = subprocess.run([str(BIN / name), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)
    return done, time.monotonic() - start


def make_sample():
    """assets/make_sample.py, which builds the bundled clip, as a module."""
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "assets" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
