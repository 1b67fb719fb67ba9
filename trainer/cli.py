"""mirror-train: prepare | train | export | eval."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from mirror.align import AlignSpec
from mirror.errors import MirrorError


def cmd_prepare(a) -> None:
    from .data import prepare

    summary = prepare(Path(a.dataset), Path(a.out), AlignSpec(a.size, a.margin), a.val_fraction, a.limit)
    print(json.dumps(summary, indent=2))


def cmd_train(a) -> None:
    import torch

    from .solver import SOLVERS, Config

    torch.set_num_threads(a.threads)
    fields = {f.name for f in dataclasses.fields(Config)}
    cfg = Config(**{k: v for k, v in vars(a).items() if k in fields and v is not None})
    solver = SOLVERS[cfg.kind](cfg, Path(a.run))
    if a.resume and (Path(a.run) / "checkpoint.pt").is_file():
        solver.resume()
    elif (Path(a.run) / "checkpoint.pt").is_file():
        raise MirrorError(f"{a.run} holds a checkpoint already: add --resume to go on, or pick another --run")
    solver.fit(a.until)
    if hasattr(solver, "evaluate"):
        print(json.dumps(solver.evaluate()))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mirror-train", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("prepare", help="align and cache the faces of a dataset (UTKFace, CelebA, folder per domain)")
    q.add_argument("dataset", help="dataset folder")
    q.add_argument("--out", required=True, help="cache folder to write")
    q.add_argument("--size", type=int, default=AlignSpec.size)
    q.add_argument("--margin", type=float, default=AlignSpec.margin)
    q.add_argument("--val-fraction", type=float, default=0.1)
    q.add_argument("--limit", type=int, help="only the first N images (quick tries)")
    q.set_defaults(func=cmd_prepare)

    t = sub.add_parser("train", help="train a model; --resume goes on from the run's checkpoint")
    t.add_argument("--kind", required=True, choices=["attributes", "stargan", "cyclegan"])
    t.add_argument("--data", required=True, help="a prepared cache folder")
    t.add_argument("--run", required=True, help="run folder: checkpoint, TensorBoard logs, samples")
    t.add_argument("--task", choices=["gender", "age"])
    t.add_argument("--arch", help="generator: small, small32, resnet6, resnet9")
    t.add_argument("--classifier", help="frozen attribute classifier checkpoint (stargan)")
    for name in ("steps", "batch", "seed", "d_ch", "size", "every", "log_every", "pool"):
        t.add_argument("--" + name.replace("_", "-"), type=int)
    for name in ("lr", "decay_from", "age_span", "lambda_cls", "lambda_rec", "lambda_change", "lambda_cyc", "lambda_id"):
        t.add_argument("--" + name.replace("_", "-"), type=float)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--until", type=int, help="stop at this step (the schedule still runs to --steps)")
    t.add_argument("--threads", type=int, default=2)
    t.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except MirrorError as e:
        print(f"mirror-train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mirror-train: interrupted (the last checkpoint is intact; --resume goes on from it)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
