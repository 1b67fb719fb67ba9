"""mirror-train: prepare | train | export | eval."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from mirror.align import AlignSpec
from mirror.args import Parser, count, within
from mirror.errors import MirrorError, exit_code, terminate_as_interrupt


def cmd_prepare(a) -> None:
    from .data import prepare

    summary = prepare(Path(a.dataset), Path(a.out), AlignSpec(a.size, a.margin), a.val_fraction, a.limit)
    print(json.dumps(summary, indent=2))


def cmd_train(a) -> None:
    import torch

    from . import distributed
    from .kinds import KINDS
    from .solver import Config

    torch.set_num_threads(a.threads)
    distributed.init()  # under torchrun: this process is one rank of the run
    try:
        fields = {f.name for f in dataclasses.fields(Config)}
        cfg = Config(**{k: v for k, v in vars(a).items() if k in fields and v is not None})
        solver = KINDS[cfg.kind](cfg, Path(a.run))
        if a.resume and (Path(a.run) / "checkpoint.pt").is_file():
            solver.resume()
        elif (Path(a.run) / "checkpoint.pt").is_file():
            raise MirrorError(f"{a.run} holds a checkpoint already: add --resume to go on, or pick another --run")
        elif a.init:
            solver.init(Path(a.init))
        losses = solver.fit(a.until)
        if distributed.is_main():
            print(json.dumps({"step": solver.step, **losses}))
            if hasattr(solver, "evaluate"):
                print(json.dumps(solver.evaluate()))
    finally:
        distributed.close()


def cmd_export(a) -> None:
    import torch

    from .export import SHAPING, export

    torch.set_num_threads(a.threads)
    tolerance = {} if a.int8_tolerance is None else {"int8_tolerance": a.int8_tolerance}
    card = export(Path(a.run), Path(a.out), a.data and Path(a.data), a.calibration, a.parity, a.latency_runs,
                  **tolerance, serves=tuple(a.serves.split(",")), smooth_colour=a.smooth_colour,
                  shaping={k: getattr(a, k) for k in SHAPING if getattr(a, k) is not None})
    print(json.dumps({k: card[k] for k in ("name", "task", "format", "parity", "latency_ms")}, indent=2))


def share(text: str) -> tuple[int, int]:
    """--share K/N: a whole K in [0, N) over a whole N of at least 1."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise argparse.ArgumentTypeError(f"--share must be K/N with 0 <= K < N, got {text!r}")
    return int(k), int(n)


def cmd_synthesize(a) -> None:
    from mirror.models import default_models

    from .synthesize import Settings, Synthesizer

    settings = Settings(**{f: getattr(a, f) for f in Settings.__dataclass_fields__ if getattr(a, f, None) is not None},
                        age_keeps_gender=not a.raw_age)
    print(json.dumps(Synthesizer(Path(a.out), settings, a.models or default_models()).run(share=a.share), indent=2))


def cmd_eval(a) -> None:
    from .evaluate import evaluate

    command = "mirror-train " + " ".join(a.argv)
    figures = evaluate(a.model, Path(a.data), a.faces, a.sheet and Path(a.sheet), command,
                       a.baseline and Path(a.baseline), a.renders and Path(a.renders))
    print(json.dumps(figures, indent=2))


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="mirror-train", description=__doc__)  # a usage mistake is one error line too
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("prepare", help="align and cache the faces of a dataset (UTKFace, CelebA, folder per domain)")
    q.add_argument("dataset", help="dataset folder")
    q.add_argument("--out", required=True, help="cache folder to write")
    q.add_argument("--size", type=count("--size", 16), default=AlignSpec.size)
    q.add_argument("--margin", type=within("--margin", 0, 2), default=AlignSpec.margin)
    q.add_argument("--val-fraction", type=within("--val-fraction", 0, 0.9), default=0.1)
    q.add_argument("--limit", type=count("--limit"), help="only the first N images (quick tries)")
    q.set_defaults(func=cmd_prepare)

    t = sub.add_parser("train", help="train a model; --resume goes on from the run's checkpoint")
    t.add_argument("--kind", required=True, choices=["attributes", "stargan", "cyclegan", "student", "distil"])
    t.add_argument("--data", required=True, help="a prepared cache folder (student: a synthesize folder)")
    # torchrun reads "--run" anywhere on its command line as its own --run-path: "--run-dir" passes.
    t.add_argument("--run", "--run-dir", dest="run", required=True,
                   help="run folder: checkpoint, TensorBoard logs, samples (--run-dir under torchrun)")
    t.add_argument("--task", choices=["gender", "age"], help="distil: the edits it learns (export it --serves the same)")
    t.add_argument("--arch", help="generator: small, small32, resnet6, resnet9; student, distil: unet16, unet20, unet24, unet32")
    t.add_argument("--classifier", help="frozen attribute classifier checkpoint (stargan; student with --real)")
    t.add_argument("--mimic", help="distil: the trained student (its checkpoint.pt or an exported NAME.pt) whose edits a "
                                   "narrower --arch learns; --init from it too starts from its strongest channels")
    t.add_argument("--real", help="student: a prepared cache of real faces (at the student's margin) trained beside the pairs")
    # The least each count takes: 0 steps, a batch of 0 or a checkpoint every 0 steps would end in a
    # traceback, a NaN checkpoint or a run that silently does nothing.
    for name, least in (("steps", 1), ("batch", 1), ("seed", 0), ("d_ch", 1), ("size", 16), ("every", 1),
                        ("log_every", 1), ("pool", 0), ("real_blur", 1), ("warmup", 0)):
        option = "--" + name.replace("_", "-")
        t.add_argument(option, type=count(option, least))
    for name in ("lr", "decay_from", "age_span", "lambda_cls", "lambda_rec", "lambda_change", "lambda_cyc", "lambda_id",
                 "lambda_proto", "proto_gain", "lambda_adv", "age_floor", "lambda_pair", "lambda_alpha", "lambda_changed", "lambda_older", "lambda_fm",
                 "lambda_reach", "margin", "lambda_real", "lambda_real_adv", "lambda_real_age", "lambda_real_cyc", "lambda_real_alpha", "lambda_real_sparse", "lambda_real_chroma",
                 "real_margin", "lambda_real_outline", "lambda_real_edit", "lambda_real_hairline", "lambda_real_jaw",
                 "lambda_real_tint"):
        t.add_argument("--" + name.replace("_", "-"), type=float)
    t.add_argument("--smooth-colour", type=within("--smooth-colour", 0, 32), metavar="PX",
                   help="student: train and ship the edit with its change's colour blurred by a Gaussian of PX pixels")
    t.add_argument("--tight", type=within("--tight", 0, 1),
                   help="student: the fraction of examples cut to a tight chip whose border repeats (as UTKFace's)")
    t.add_argument("--max-shrink", type=within("--max-shrink", 0, 1), metavar="FRACTION",
                   help="student: leave out pairs whose edit shrinks the person's silhouette by more than FRACTION "
                        "(hair taken away, with a background to invent)")
    t.add_argument("--keep-hair", action="store_true", default=None,
                   help="student: where a gender edit takes the person away (long hair), its target keeps the source")
    t.add_argument("--keep-added-hair", action="store_true", default=None,
                   help="student: where a gender edit adds to the person (long hair), its way back keeps it (a \"to male\" "
                        "that keeps the hair rather than paint the teacher's background)")
    t.add_argument("--coarse-hair", type=within("--coarse-hair", 0, 255), metavar="LEVEL",
                   help="student: outside the face, targets keep only the teacher's coarse change (above about LEVEL "
                        "grey levels blurred), not the strands it re-rendered")
    t.add_argument("--keep-hairline", type=within("--keep-hairline", 0, 255), metavar="LEVEL",
                   help="student: where an age edit moves the hairline (a forehead's brightness changed by about "
                        "LEVEL grey levels or more), its target keeps the source")
    t.add_argument("--drop-glasses", type=within("--drop-glasses", 0, 255), metavar="LEVEL",
                   help="student: leave out the age edits that put glasses on or take them off (the nose bridge's "
                        "horizontal edges changed by more than LEVEL grey levels; 15 catches the teacher's)")
    t.add_argument("--robust", type=within("--robust", 0, 100), metavar="EPS",
                   help="attributes: train on the worst input within an L2 ball of radius EPS ([-1, 1] pixels)")
    t.add_argument("--mask", action="store_true", default=None,
                   help="train on the runtime's composite: changes only inside the face mask count")
    t.add_argument("--real-cyc-face", action="store_true", default=None,
                   help="student: real faces' edit taken back is compared inside the face only, so hair may change")
    t.add_argument("--real-adv-edited", action="store_true", default=None,
                   help="student: the real-photo discriminator's verdict on an edit counts where the alpha is open, "
                        "not averaged over the whole crop")
    t.add_argument("--real-jaw-younger", action="store_true", default=None,
                   help="student: --lambda-real-jaw holds the jaw of real faces made younger only; \"older\" keeps its jowls")
    t.add_argument("--real-edit-output", action="store_true", default=None,
                   help="student: the discriminator of changes (--lambda-real-edit) sees the output beside the change")
    t.add_argument("--real-inside", action="store_true", default=None,
                   help="student: real faces' terms see the edit on the photo's own pixels only, not the border "
                        "a tight chip's crop repeats (a cache prepared with corners)")
    t.add_argument("--clean-change", action="store_true", default=None,
                   help="student: JPEG on the input alone, the target is it plus the teacher's change")
    t.add_argument("--calibrate", action="store_true", default=None,
                   help="student: real faces' asked years are read through the classifier's own age slope")
    t.add_argument("--cls-augment", action="store_true", default=None,
                   help="the frozen classifier sees shifted, antialiased views (against adversarial stripes)")
    t.add_argument("--proto-centre", action="store_true", default=None,
                   help="age prototypes: leave the mean colour change out (the app's colour matching removes it)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--init", help="start from the networks of a checkpoint or an exported NAME.pt (fine-tuning)")
    t.add_argument("--until", type=count("--until"), help="stop at this step (the schedule still runs to --steps)")
    t.add_argument("--threads", type=count("--threads"), default=2)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="ONNX fp32 and int8 of a run, checked and timed; ships the faster with its card")
    e.add_argument("run", help="run folder (its checkpoint.pt)")
    e.add_argument("--out", required=True, help="exported_models/NAME: writes NAME.onnx and NAME.json")
    e.add_argument("--data", help="prepared cache for calibration and checks (default: the run's own)")
    e.add_argument("--calibration", type=count("--calibration"), default=64, help="validation crops that calibrate int8")
    e.add_argument("--parity", type=count("--parity"), default=32, help="validation crops that check ONNX against torch")
    e.add_argument("--latency-runs", type=count("--latency-runs"), default=50, help="timed runs per format and thread count")
    e.add_argument("--int8-tolerance", type=float,
                   help="int8 ships only within this mean error against torch (pixels; classifier: years; default 3)")
    e.add_argument("--serves", choices=["gender,age", "gender", "age"], default="gender,age",
                   help="edit models: the sliders it serves; the other keeps its own model (gender.onnx or age.onnx)")
    e.add_argument("--smooth-colour", type=within("--smooth-colour", 0, 32), metavar="PX",
                   help="edit models: blur the colour of the change by a Gaussian of PX pixels, its brightness kept (default: as trained)")
    e.add_argument("--male-reach", type=within("--male-reach", 0, 1), metavar="FRACTION",
                   help="edit models: \"to male\" changes only the face grown by FRACTION of the crop (0.08: the hairline), "
                        "not the hair past it, which the teacher takes away to a background of its own")
    e.add_argument("--female-reach", type=within("--female-reach", 0, 1), metavar="FRACTION",
                   help="edit models: \"to female\" changes only the face grown by FRACTION of the crop above the eyes, "
                        "less and less down to the chin and not below it, where the teacher's long hair falls onto "
                        "cheeks and collars the photo keeps (0.15)")
    for flag in ("--male-gain", "--female-gain"):
        e.add_argument(flag, type=within(flag, 0.5, 2), metavar="GAIN",
                       help=f"edit models: \"to {flag[2:-5]}\" changes the face GAIN times as much as generated at "
                            "full intensity (after the reach; 1.15: the judges' flip without losing the person)")
    e.add_argument("--threads", type=count("--threads"), default=2)
    e.set_defaults(func=cmd_export)

    s = sub.add_parser("synthesize", help="render before/after pairs with the StyleGAN teacher (resumable)")
    s.add_argument("--out", required=True, help="pairs folder; an existing one is resumed")
    s.add_argument("--identities", type=int, help="identities to render in all (default 1000)")
    s.add_argument("--seed", type=int)
    s.add_argument("--truncation", type=float)
    s.add_argument("--probe", type=int, help="sources whose labels give the gender and age directions")
    s.add_argument("--gender-gain", type=float)
    s.add_argument("--age-span", type=float, help="years of the age shift at a = +-1")
    s.add_argument("--threads", type=int, help="OpenVINO threads (0: all cores)")
    s.add_argument("--raw-age", action="store_true",
                   help="age edits along the raw age direction, gender unchecked (folders made before session 20)")
    s.add_argument("--models", type=Path, help="folder with the attribute classifier (default: exported_models)")
    s.add_argument("--share", type=share, default=(0, 1), metavar="K/N",
                   help="render only identities K modulo N: N processes side by side fill one folder")
    s.set_defaults(func=cmd_synthesize)

    v = sub.add_parser("eval", help="judge an exported model with independent judges; figures go into its card")
    v.add_argument("model", help="a name in exported_models/, or the path of a .onnx with its card beside it")
    v.add_argument("--data", required=True, help="prepared cache; its validation split is judged")
    v.add_argument("--faces", type=count("--faces"), default=200, help="faces judged (per age group for age models)")
    v.add_argument("--sheet", help="contact sheet PNG (default: NAME_sheet.png beside the card)")
    v.add_argument("--baseline", help="edit models: a folder of the models it would replace (for gender and age, as the app picks them), shown on its sheets")
    v.add_argument("--renders", help="edit models: a synthesize folder; its held-out identities judge the student beside the teacher")
    v.set_defaults(func=cmd_eval)
    return p


# What an interrupted command leaves, and how to go on.
AFTER_INTERRUPT = {
    "train": "the last checkpoint is intact; --resume goes on from it",
    "synthesize": "every identity written so far is kept; the same command goes on from the next",
}


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        args = parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # eval records the command in the card
        with terminate_as_interrupt():
            args.func(args)
    except (MirrorError, OSError) as e:  # OSError: an --out that cannot be made, a full disk
        print(f"mirror-train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        after = AFTER_INTERRUPT.get(getattr(args, "command", None))
        print("mirror-train: interrupted" + (f" ({after})" if after else ""), file=sys.stderr)
        return exit_code(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
