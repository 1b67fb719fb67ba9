"""`mirror bench`: the whole pipeline, headless, on a clip: frames per second, end-to-end latency,
the time of each stage, the provider and the peak memory.

Frames are read from a video file (its decoding is the "capture" stage) as fast as the pipeline
takes them, so the frame rate is the most this machine sustains; latency runs from the start of a
frame's read to its finished result, waits between the stages included. The first frames warm up
(model sessions, the face detector) and are not counted. `--compare-classic` runs the classic
CycleGAN generator (ResNet-9, 64 channels, random weights: mirror.bench.classic) in the same harness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from . import classic
from ..args import add_models_arg, count
from ..errors import MirrorError
from ..models import GENERATORS, Model, Registry, default_registry
from ..overlay import Overlays
from ..pipeline import Overlay, Pipeline, Settings
from ..runner import stream
from ..translate import Effect

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "sample.mp4"
SIZES = ("640x480", "1280x720", "1920x1080")
# The pipeline's stage names as a reader of the issue knows them: "translate" is the generator.
STAGES = {"capture": "capture", "landmarks": "landmarks", "align": "align", "generator": "translate",
          "blend": "blend", "overlay": "overlay"}
CLASSIC_THREADS = 2  # the classic generator is nearly all of its pipeline's time: give it both cores


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", type=Path, default=None, metavar="PATH",
                   help="video clip (default: the bundled assets/sample.mp4)")
    p.add_argument("--frames", type=count("--frames"), default=300, metavar="N", help="frames measured (default 300)")
    p.add_argument("--warmup", type=count("--warmup", 0), default=20, metavar="N",
                   help="frames run first, not counted (default 20)")
    p.add_argument("--model", default=None, metavar="NAME",
                   help="generator to time, by its card's name (default: the gender model, else the age model)")
    add_models_arg(p)
    p.add_argument("--faces", type=int, choices=(1, 2), default=1,
                   help="2: the clip's face twice, side by side (the second mirrored)")
    p.add_argument("--size", choices=SIZES, default=None,
                   help="resize (letterboxed) the clip to this frame size (default: the clip's own)")
    p.add_argument("--overlays", action="store_true",
                   help="also draw the make-up/age overlays on each face (mirror.overlay), as the GUI can")
    p.add_argument("--serial", action="store_true",
                   help="also run without overlapping the stages, for comparison")
    p.add_argument("--compare-classic", action="store_true",
                   help="also time the classic CycleGAN generator (ResNet-9 64ch, random weights)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


@dataclass
class Item:
    image: np.ndarray
    start: float  # perf_counter before the frame was read
    capture_ms: float


@dataclass
class Measured:
    mode: str
    fps: float
    latency_p50: float
    latency_p95: float
    stages: dict[str, float]  # median ms
    cpu_ms: float  # this process's CPU time per frame, every thread: what a busy machine hardly changes
    faces: float  # median faces found per frame
    changed: int  # faces changed, over the measured frames

    def summary(self) -> dict:
        return {"fps": round(self.fps, 2), "latency_ms_p50": round(self.latency_p50, 2),
                "latency_ms_p95": round(self.latency_p95, 2),
                "stages_ms": {k: round(v, 2) for k, v in self.stages.items()},
                "cpu_ms_per_frame": round(self.cpu_ms, 2), "faces": self.faces}


def frames(path: Path, n: int) -> Iterator[Item]:
    """`n` frames of the clip, from its start again when it ends."""
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(n):
            start = time.perf_counter()
            ok, image = cap.read()
            if not ok:
                cap.release()
                cap = cv2.VideoCapture(str(path))
                ok, image = cap.read()
                if not ok:
                    raise MirrorError(f"cannot read a frame from {path}")
            yield Item(image, start, (time.perf_counter() - start) * 1000)
    finally:
        cap.release()


def arrange(image: np.ndarray, faces: int, size: tuple[int, int] | None) -> np.ndarray:
    """Two faces: the middle half of the frame beside its mirror image. Then letterboxed to `size`."""
    if faces == 2:
        w = image.shape[1]
        middle = image[:, w // 4: w // 4 + w // 2]
        image = np.hstack([middle, middle[:, ::-1]])
    if size is None or image.shape[1::-1] == size:
        return image
    (w, h), (iw, ih) = size, image.shape[1::-1]
    s = min(w / iw, h / ih)
    fw, fh = round(iw * s), round(ih * s)
    out = np.zeros((h, w, 3), np.uint8)
    x, y = (w - fw) // 2, (h - fh) // 2
    out[y:y + fh, x:x + fw] = cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out


def prepare(source: Path, faces: int, size: tuple[int, int] | None, folder: Path) -> tuple[Path, float, tuple[int, int]]:
    """The clip to time: `source` itself, or a copy arranged for `faces` and `size` in `folder`
    (written once, so that its frames cost only their decoding, as a camera's would).
    Returns the clip, its frame rate and frame size."""
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise MirrorError(f"cannot open video {source}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if 0 < fps < 1000 else 30.0
    ok, image = cap.read()
    if not ok:
        cap.release()
        raise MirrorError(f"cannot read a frame from {source}")
    if faces == 1 and (size is None or image.shape[1::-1] == size):
        cap.release()
        return source, fps, image.shape[1::-1]
    out = folder / "clip.mp4"
    first = arrange(image, faces, size)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, first.shape[1::-1])
    try:
        while ok:
            writer.write(arrange(image, faces, size))
            ok, image = cap.read()
    finally:
        writer.release()
        cap.release()
    return out, fps, first.shape[1::-1]


def measure(registry: Registry, effect: Effect, clip: Path, fps: float, n: int, warmup: int, mode: str,
            overlays: Sequence[Overlay] = ()) -> Measured:
    """Runs warmup + n frames of the clip through a fresh pipeline, overlapped or serial. The
    clock starts when the last warm-up frame is done (without warm-up: at the first read)."""
    done, latency, capture, timings, faces = [], [], [], [], []
    with Pipeline(registry, Settings(effect), video=True, fps=fps) as pipeline:
        pipeline.overlays = list(overlays)
        start, cpu = time.perf_counter(), time.process_time()
        for i, (item, result) in enumerate(stream(pipeline, frames(clip, warmup + n), mode == "overlapped")):
            now = time.perf_counter()
            if i < warmup:
                start, cpu = now, time.process_time()
                continue
            done.append(now)
            latency.append((now - item.start) * 1000)
            capture.append(item.capture_ms)
            timings.append(result.timings)
            faces.append(result.faces)
        cpu = time.process_time() - cpu
    median = {stage: statistics.median(t[key] for t in timings) for stage, key in STAGES.items() if key != "capture"}
    return Measured(mode, n / (done[-1] - start), statistics.median(latency), percentile(latency, 95),
                    {"capture": statistics.median(capture), **median}, cpu * 1000 / n,
                    statistics.median(len(f) for f in faces), sum(r.changed for f in faces for r in f))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def pick(registry: Registry, name: str | None) -> Model:
    """The generator to time: the one named, else the one the app runs for gender, else for age."""
    generators = [m for m in registry.models.values() if m.task in GENERATORS]
    if name is not None:
        found = [m for m in generators if m.card.name == name]
        if not found:
            known = ", ".join(m.card.name for m in generators) or "none"
            raise MirrorError(f"no generator named {name!r} in {registry.folder} (generators: {known})")
        return found[0]
    for task in ("gender", "age"):
        if (model := registry.serving(task)) is not None:
            return model
    raise MirrorError(f"no gender or age model in {registry.folder} to time (export one with mirror-train export; "
                      f"docs/performance.md shows how to export an untrained stand-in)")


def alone(model: Model) -> Registry:
    """A registry with just this model, so that the pipeline runs it and no other of its task."""
    only = Registry(providers=[model.provider])
    only.folder, only.models = model.path.parent, {model.card.name: model}
    return only


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far; None where `resource` is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)  # bytes there, KiB on Linux


def untrained(model: Model) -> bool:
    return model.card.data.get("training", {}).get("steps") == 0


def effect_for(model: Model) -> Effect:
    return Effect("female") if "gender" in model.card.serves else Effect(age=0.5)


def describe(model: Model) -> str:
    """The model in a line; an untrained one says so, so that nobody takes its figures for the
    real model's quality."""
    card = model.card.data
    training = card.get("training", {})
    steps = training.get("steps")
    if untrained(model):
        trained = "UNTRAINED stand-in: random weights, 0 training steps (timing only)"
    elif training.get("fixture"):
        trained = "test fixture (timing only)"
    else:
        trained = f"{steps} training steps" if steps is not None else "training unknown"
    return f"{model.card.name} ({model.task}, {card.get('format', '?')}, {card.get('architecture', '?')}; {trained})"


def run(args: argparse.Namespace) -> int:
    source = args.source or SAMPLE
    if not Path(source).is_file():
        raise MirrorError(f"no such clip: {source}" + ("" if args.source else " (give one with --source)"))
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None
    registry = default_registry(args.models)
    model = pick(registry, args.model)
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None  # not on Windows
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp:
        clip, fps, shape = prepare(Path(source), args.faces, size, Path(tmp))
        overlays = [Overlays()] if args.overlays else []
        runs = [measure(alone(model), effect_for(model), clip, fps, args.frames, args.warmup, mode, overlays)
                for mode in ("overlapped", "serial")[: 2 if args.serial else 1]]
        report = {**runs[0].summary(), "provider": model.provider, "peak_rss_mb": peak_rss_mb(),
                  "mode": runs[0].mode, "frames": args.frames, "warmup": args.warmup,
                  "size": f"{shape[0]}x{shape[1]}", "source": str(source),
                  "model": {"name": model.card.name, "task": model.task, "format": model.card.data.get("format"),
                            "untrained": untrained(model), "describe": describe(model)},
                  "faces_changed": runs[0].changed, "overlays": args.overlays,
                  "cores": os.cpu_count(), "load_average": load}
        if args.serial:
            report["serial"] = runs[1].summary()
            report["overlap_gain"] = round(runs[0].fps / runs[1].fps, 2)
        if args.compare_classic:
            classic.export(Path(tmp) / "classic", model.spec.size, model.spec.margin)
            base = Registry(Path(tmp) / "classic", threads=CLASSIC_THREADS)
            slow = measure(base, Effect("female"), clip, fps, args.frames, args.warmup, runs[0].mode, overlays)
            report["classic"] = {**slow.summary(), "threads": CLASSIC_THREADS,
                                 "describe": describe(base.require("gender"))}
            report["classic_fps"] = round(slow.fps, 2)
            report["speedup"] = round(runs[0].fps / slow.fps, 2)
    if args.json:
        print(json.dumps(report))
    else:
        print(table(report, runs))
    return 0


def table(report: dict, runs: list[Measured]) -> str:
    lines = [f"mirror bench: {report['source']} at {report['size']}, {report['faces']:g} face(s) per frame, "
             f"{report['frames']} frames after {report['warmup']} warm-up",
             f"model: {report['model']['describe']}, on {report['provider']}"]
    if (report["load_average"] or 0) > 0.5 * (report["cores"] or 1):
        lines.append(f"note: load average {report['load_average']} on {report['cores']} cores: other programs "
                     f"share the CPU, so these times are inflated (cpu ms/frame is the steadier figure)")
    rows = [(m.mode, m.summary()) for m in runs]
    if "classic" in report:
        rows.append((f"classic ResNet-9 ({report['classic']['threads']} threads)", report["classic"]))
    width = max(len(name) for name, _ in rows)
    stages = list(STAGES)
    lines.append(f"{'':{width}}  {'fps':>6} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7}   median ms: "
                 + " ".join(f"{s:>9}" for s in stages))
    for name, r in rows:
        lines.append(f"{name:{width}}  {r['fps']:6.1f} {r['latency_ms_p50']:7.1f} {r['latency_ms_p95']:7.1f} "
                     f"{r['cpu_ms_per_frame']:7.1f}              " + " ".join(f"{r['stages_ms'][s]:9.2f}" for s in stages))
    if "overlap_gain" in report:
        lines.append(f"overlapping the stages: {report['overlap_gain']}x the serial frame rate")
    if "speedup" in report:
        lines.append(f"speedup over the classic ResNet-9 pipeline: {report['speedup']}x "
                     f"({report['fps']:.1f} vs {report['classic_fps']:.1f} fps)")
    peak = report["peak_rss_mb"]
    lines.append(f"peak memory (RSS): {'unknown here' if peak is None else f'{peak:.0f} MB'}")
    return "\n".join(lines)
