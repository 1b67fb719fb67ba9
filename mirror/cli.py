"""mirror's command line: one parser per command, and options without a command mean `run`."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager, nullcontext
from itertools import islice
from pathlib import Path

from . import __version__
from .args import Parser, add_effect_args, add_models_arg, count, within  # noqa: F401 - shared with the other CLIs
from .errors import MirrorError, Terminated, exit_code, stopped_how, terminate_as_interrupt

DESCRIPTION = """\
A real-time magic mirror: other-gender and older/younger faces.

  mirror [gui] [--source S] [...]         start the GUI (`mirror gui --help` for its options)
  mirror run --source S --out O [...]     transform a camera, video, image or folder, headless
  mirror --source S --out O [...]         the same: options without a command mean `run` when
                                          they name an --out, and the GUI when they do not
  mirror models [--models DIR]            list the models, where they run, and unusable files
  mirror bench [--frames N] [--json]      time the pipeline on the sample clip (`mirror bench --help`)

`mirror run --help` lists the effect options. On a terminal the native libraries' log lines are
hidden; MIRROR_NATIVE_LOGS=1 shows them."""

RUN_EXAMPLES = """\
examples:
  mirror --source photo.jpg --effect female --out out.jpg
  mirror --source clip.mp4 --age 0.6 --intensity 0.8 --out older.mp4
  mirror --source photos/ --effect swap --out swapped/
  mirror --source 0 --effect male --frames 300 --out camera.avi
  mirror --source photo.jpg --effect female --overlay lips --overlay eyeliner --out made-up.jpg
  mirror --source clip.mp4 --overlay debug --out mesh.mp4

outputs: an image source gives an image (or a file of that name in an existing folder), a folder
gives a folder with the same file names, a video or camera gives a video at the input's frame rate
(.mp4 mp4v, .avi/.mkv MJPG, .webm VP8)."""


@contextmanager
def _quiet_native_logs():
    """MediaPipe (absl) and OpenCV write warnings straight to file descriptor 2 on every start:
    on a terminal, send that descriptor to /dev/null and keep Python's own stderr (errors, the
    progress bar) on the terminal. MIRROR_NATIVE_LOGS=1 keeps them."""
    if os.environ.get("MIRROR_NATIVE_LOGS") or not sys.stderr.isatty():
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(saved)
        os.close(null)


def add_run_args(p: argparse.ArgumentParser) -> None:
    # Not at the top: OpenCV reads its log level when it loads, after `main` has set it.
    from .overlay import OVERLAYS

    p.add_argument("--source", required=True, metavar="PATH|INDEX",
                   help="camera index (0), video file, image file or folder of images")
    p.add_argument("--out", type=Path, metavar="PATH", help="where to write the result")
    add_effect_args(p)
    add_models_arg(p)
    p.add_argument("--max-faces", type=count("--max-faces"), default=4, metavar="N", help="faces per frame at most (default 4)")
    p.add_argument("--blend", choices=("soft", "seamless"), default="soft",
                   help="soft: feathered face mask (default); seamless: cv2.seamlessClone")
    p.add_argument("--frames", type=count("--frames"), default=None, metavar="N", help="stop after N frames (a camera runs until Ctrl-C)")
    p.add_argument("--overlay", action="append", choices=(*OVERLAYS, "all"), metavar="NAME",
                   help=f"draw a landmark-anchored overlay, repeatable: {', '.join(OVERLAYS)}; all: every one "
                        "but debug. The make-up and stubble follow the gender effect, the others the age; "
                        "debug (mesh, mask, crop) needs no effect")
    p.add_argument("--overlay-strength", type=within("--overlay-strength", 0, 1), default=1.0, metavar="X",
                   help="0 none .. 1 full overlays (default 1), on top of --intensity")
    from .vcam import add_args as add_vcam_args

    add_vcam_args(p)


def overlay_names(chosen: list[str] | None) -> set[str]:
    """The overlays named by --overlay; "all" stands for every one but the debug view."""
    from .overlay import DEFAULT

    names = set(chosen or ())
    if "all" in names:
        names = (names - {"all"}) | DEFAULT
    return names


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .models import default_registry
    from .output import open_writer
    from .overlay import Overlays
    from .pipeline import STAGES, Pipeline, Settings
    from .runner import stream
    from .source import open_source
    from .translate import Effect
    from .vcam import for_run as virtual_camera

    if args.out is None and not args.virtual_camera:
        raise MirrorError("give --out PATH, --virtual-camera, or both")
    effect = Effect(args.effect, args.age, args.intensity)
    overlays = overlay_names(args.overlay)
    if args.effect is None and args.age == 0 and "debug" not in overlays:
        raise MirrorError("nothing to do: give --effect and/or a non-zero --age (or --overlay debug)")

    with open_source(args.source) as source:
        registry = default_registry(args.models)
        video = source.kind in ("video", "camera")
        camera = virtual_camera(args, source.fps, lambda w: print(f"mirror: warning: {w}", file=sys.stderr))
        # The writer first: a bad --out is said before the models and MediaPipe start.
        with open_writer(args.out, source) if args.out else nullcontext() as writer, \
                camera or nullcontext(), Pipeline(
                registry, Settings(effect, args.blend), video=video, max_faces=args.max_faces,
                fps=source.fps) as pipeline:
            if overlays:
                pipeline.overlays.append(Overlays(overlays, args.overlay_strength))
            total = source.count if args.frames is None else min(args.frames, source.count or args.frames)
            sums, frames, changed = dict.fromkeys((*STAGES, "total"), 0.0), 0, 0
            bar = tqdm(total=total, unit="frame", desc="mirror", disable=total == 1, file=sys.stderr)
            stopped: KeyboardInterrupt | None = None
            try:
                # Several frames: the landmarks of the next are found while this one is translated.
                for frame, result in stream(pipeline, islice(source, args.frames), overlapped=source.count != 1):
                    if writer:
                        writer.write(frame, result.image)
                    if camera:
                        camera.send(result.image)
                    frames += 1
                    changed += sum(f.changed for f in result.faces)
                    for k, v in result.timings.items():
                        sums[k] += v
                    bar.update()
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
                stopped = e
            finally:
                bar.close()
            if not frames and source.skipped:
                raise MirrorError(f"none of the {len(source.skipped)} image(s) in {args.source} could be read "
                                  f"({source.skipped[0]})")
            if stopped is not None and source.kind != "camera":
                # Cut short: what is complete is kept, never under the name of a complete result.
                kept = writer.interrupted()
                of = f" of {total}" if total else ""
                print(f"mirror: {stopped_how(stopped)} after "
                      f"{frames}{of} frame(s): {kept}", file=sys.stderr)
                return exit_code(stopped)
    # A camera has no end of its own: Ctrl-C (or SIGTERM) is its end, and the video is complete.
    if stopped is not None:
        print("mirror: stopped", file=sys.stderr)
    for problem in source.skipped:
        print(f"mirror: warning: skipped: {problem}", file=sys.stderr)
    for note in (*source.notes, *writer.notes):
        print(f"mirror: warning: {note}", file=sys.stderr)
    if source.kind == "camera" and stopped is None and frames < (args.frames or float("inf")):
        # What came before is a complete video: kept, but the run did not end as asked.
        kept = f"the {frames} before are in {args.out}" if frames and args.out else f"{frames} frame(s) were sent"
        raise MirrorError(f"camera {args.source} stopped sending frames (unplugged?); {kept}")
    providers = sorted({m.provider for m in registry.models.values()})
    per_stage = ", ".join(f"{k} {v / max(frames, 1):.1f}" for k, v in sums.items())
    out = " and ".join([*([str(args.out)] if args.out else []), *([camera.device] if camera else [])])
    print(f"mirror: {frames} frame(s) -> {out}; {changed} face(s) changed; models on "
          f"{', '.join(providers) or '-'}; ms per frame: {per_stage}", file=sys.stderr)
    return exit_code(stopped) if isinstance(stopped, Terminated) else 0


def models(args: argparse.Namespace) -> int:
    from .models import Registry, choose_providers, default_models

    registry = Registry(args.models or default_models())
    print(f"models in {registry.folder} (providers tried: {', '.join(choose_providers())})")
    for line in registry.describe() or ["(none)"]:
        print(f"  {line}")
    return 0


def add_gui_args(p: argparse.ArgumentParser) -> None:
    try:
        from .gui.app import add_args
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("mirror.gui"):
            raise
        return
    add_args(p)


def gui(args: argparse.Namespace) -> int:
    try:
        from .gui.app import run as gui_run
    except ModuleNotFoundError as e:
        if (e.name or "").startswith("mirror.gui"):
            raise MirrorError("the GUI is not part of this version; use `mirror run --help`") from None
        raise
    return gui_run(args)


def add_bench_args(p: argparse.ArgumentParser) -> None:
    from .bench import add_args

    add_args(p)


def bench(args: argparse.Namespace) -> int:
    from .bench import run as bench_run

    return bench_run(args)


# name -> (help, argument adder, handler).
COMMANDS = {
    "gui": ("start the GUI (the default)", add_gui_args, gui),
    "run": ("transform a camera, video, image or folder, headless", add_run_args, run),
    "models": ("list the exported models and where they run", add_models_arg, models),
    "bench": ("time the pipeline on a clip: fps, latency, stages, memory", add_bench_args, bench),
}


def route(argv: list[str]) -> list[str]:
    """The command a command line means: none given, `run` when it names an --out, else the GUI."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return argv
    headless = any(a in ("--out", "--virtual-camera") or a.startswith("--out=") for a in argv)
    return ["run" if headless else "gui", *argv]


def parser() -> Parser:
    p = Parser(prog="mirror", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mirror {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (text, add, _) in COMMANDS.items():
        epilog = RUN_EXAMPLES if name == "run" else None
        add(sub.add_parser(name, help=text, description=text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = route(list(sys.argv[1:] if argv is None else argv))
    # OpenCV logs every failed camera probe; the error line below says what matters.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own ("moov atom not found"): quiet
    try:
        with _quiet_native_logs():
            args = parser().parse_args(argv)
            if args.command == "gui":  # Qt ends on SIGTERM by itself; an exception in its loop would not
                return gui(args)
            with terminate_as_interrupt():
                return COMMANDS[args.command][2](args)
    except MirrorError as e:
        print(f"mirror: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full disk, a folder without write permission
        print(f"mirror: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"mirror: {stopped_how(e)}", file=sys.stderr)
        return exit_code(e)


if __name__ == "__main__":
    sys.exit(main())
