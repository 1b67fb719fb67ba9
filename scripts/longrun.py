"""Long run: many frames through the headless pipeline, to show that memory stays flat and the frame
rate does not fall over time.

The frames come from a clip played again and again (the bundled sample by default; it has no
real camera motion, only the synthetic sway of assets/make_sample.py), through the same overlapped
halves as `mirror run` and `mirror bench`, with a gender and an age effect and every overlay on, so
that every stage runs on every frame. Prints one JSON object: the resident memory (RSS) after the
warm-up and at the end, sampled every `--every` frames between, and the frame rate and the CPU time
per frame (every thread of the process) of the first and of the last `--every` frames. On a busy
machine the frame rate follows the other programs' load; the CPU time per frame hardly does.

    python scripts/longrun.py --frames 20000 --models DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from mirror.bench import SAMPLE, frames, pick
from mirror.errors import MirrorError
from mirror.models import default_registry
from mirror.overlay import Overlays
from mirror.pipeline import Pipeline, Settings
from mirror.runner import stream
from mirror.translate import Effect


def rss_mb() -> float:
    """This process's resident memory now (not the peak, which only ever grows)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(args: argparse.Namespace) -> dict:
    registry = default_registry(args.models)
    model = pick(registry, None)
    age = registry.serving("age") is not None
    effect = Effect("female" if "gender" in model.card.serves else None, 0.5 if age else 0.0)
    warmup, every = args.warmup, args.every
    rss, rates, cpu, faces, changed = [], [], [], 0, 0
    with Pipeline(registry, Settings(effect), video=True) as pipeline:
        pipeline.overlays.append(Overlays())
        t, c = time.perf_counter(), time.process_time()
        for i, (_, result) in enumerate(stream(pipeline, frames(args.source, warmup + args.frames)), 1 - warmup):
            faces += len(result.faces)
            changed += sum(f.changed for f in result.faces)
            if i >= 0 and i % every == 0:  # i == 0: the warm-up is done
                now, used = time.perf_counter(), time.process_time()
                rss.append(round(rss_mb(), 1))
                if i > 0:
                    rates.append(every / (now - t))
                    cpu.append((used - c) * 1000 / every)
                    print(f"longrun: {i} frames, {rates[-1]:.1f} fps, {cpu[-1]:.1f} CPU ms a frame, "
                          f"RSS {rss[-1]:.0f} MB", file=sys.stderr)
                t, c = now, used
    return {"frames": args.frames, "warmup": warmup, "every": every, "source": str(args.source),
            "models": {m.task: m.card.name for m in registry.models.values()},
            "effect": {"gender": effect.gender, "age": effect.age}, "overlays": sorted(Overlays().enabled),
            "rss_mb_start": rss[0], "rss_mb_end": rss[-1], "rss_mb_growth": round(rss[-1] - rss[0], 1),
            "fps_first": round(rates[0], 2), "fps_last": round(rates[-1], 2),
            "cpu_ms_first": round(cpu[0], 2), "cpu_ms_last": round(cpu[-1], 2), "rss_mb": rss,
            "fps": [round(r, 2) for r in rates], "cpu_ms": [round(v, 2) for v in cpu], "faces_per_frame": round(faces / (warmup + args.frames), 3),
            "faces_changed": changed, "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20000, help="frames measured (default 20000)")
    p.add_argument("--warmup", type=int, default=200, help="frames run first, not measured (default 200)")
    p.add_argument("--every", type=int, default=1000, help="frames per memory and rate sample (default 1000)")
    p.add_argument("--source", type=Path, default=SAMPLE, help="clip, played in a loop (default: the sample)")
    p.add_argument("--models", type=Path, help="exported models (default: ./exported_models)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.frames < args.every or args.every < 1 or args.warmup < 0:
        p.error("--frames must be at least --every, which must be at least 1")
    try:
        report = run(args)
    except MirrorError as e:
        print(f"longrun: error: {e}", file=sys.stderr)
        return 1
    text = json.dumps(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
