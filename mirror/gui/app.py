"""Starting the app: its command-line options, the QApplication, and the automated-screenshot mode.

    mirror [--source 0|FILE] [--models DIR] [--settings FILE]
    mirror --screenshot app.png --quit-after-frames 30
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import MirrorError

SCREENSHOT_TIMEOUT_S = 120  # a screenshot run whose frames never come still ends
SETTINGS_HELP = "~/.config/mirror/mirror.conf on Linux, ~/Library/Preferences/com.mirror.mirror.plist on macOS, " \
                "HKEY_CURRENT_USER\\Software\\mirror\\mirror on Windows"


def add_args(p: argparse.ArgumentParser) -> None:
    """The GUI's options, shared by `mirror gui` and `python -m mirror.gui.app`."""
    from ..args import add_effect_args, add_models_arg
    from ..overlay import OVERLAYS

    p.add_argument("--source", metavar="INDEX|PATH",
                   help="camera index, video or image to start with (default: the last one, else a "
                        "camera, else the bundled sample clip)")
    add_effect_args(p, gui=True)
    p.add_argument("--overlay", action="append", choices=(*OVERLAYS, "all"), metavar="NAME",
                   help="start with the overlays on (the window shows them all together); debug: the "
                        "landmarks and mask")
    add_models_arg(p)
    p.add_argument("--settings", type=Path, metavar="FILE",
                   help=f"keep settings in this INI file instead of the user's ({SETTINGS_HELP})")
    p.add_argument("--reset-settings", action="store_true",
                   help="forget the remembered settings (source, effect, view, folders) and start afresh")
    p.add_argument("--screenshot", type=Path, metavar="PATH",
                   help="save a PNG of the whole window after --quit-after-frames frames, then exit")
    p.add_argument("--quit-after-frames", type=int, metavar="N",
                   help="exit after N frames have been shown")


def run(args: argparse.Namespace) -> int:
    """Shows the window until it is closed; returns the exit status. With --quit-after-frames, 1
    when the frames did not come (the source failed or ended first)."""
    if args.quit_after_frames is not None and args.quit_after_frames < 1:
        raise MirrorError("--quit-after-frames must be at least 1")
    if args.screenshot is not None and args.quit_after_frames is None:
        raise MirrorError("--screenshot needs --quit-after-frames N")
    if args.screenshot is not None and not args.screenshot.parent.is_dir():
        raise MirrorError(f"--screenshot {args.screenshot}: folder {args.screenshot.parent} does not exist")

    from ..preflight import display_problem, own_qt_plugins

    problem = display_problem()
    if problem:
        raise MirrorError(problem)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ..models import default_registry
    from . import sources
    from .window import Window

    own_qt_plugins()  # after cv2's import (through the window), before Qt loads its platform
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("mirror")
    app.setOrganizationName("mirror")
    registry = default_registry(args.models)
    store = QSettings(str(args.settings), QSettings.Format.IniFormat) if args.settings else QSettings()
    if args.reset_settings:
        store.clear()
        print(f"mirror: settings reset ({store.fileName()})", file=sys.stderr)
    for key, value in start_state(args).items():  # read by the window as if remembered
        store.setValue(key, value)
    window = Window(registry, store, sources.from_spec(args.source) if args.source else None)
    window.show()
    if args.quit_after_frames is None:
        return app.exec()

    outcome = {"status": 1}

    def finish(status: int) -> None:
        if outcome.get("done"):
            return
        outcome.update(done=True, status=status)
        if args.screenshot is not None:
            window.grab().save(str(args.screenshot))
        window.close()

    window.on_frame.append(lambda n: n >= args.quit_after_frames and finish(0))
    # A source that fails or ends first: wait a moment so the message is in the screenshot.
    window.on_ended.append(lambda _: QTimer.singleShot(300, lambda: finish(1)))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: finish(1))
    app.exec()
    if outcome["status"]:
        print(f"mirror: {window.frames} of {args.quit_after_frames} frame(s) shown", file=sys.stderr)
    return outcome["status"]


def start_state(args: argparse.Namespace) -> dict:
    """The settings the command line asks to start with, as the settings store holds them."""
    state = {"gender": args.effect, "age": args.age, "intensity": args.intensity}
    state = {k: v for k, v in state.items() if v is not None}
    names = set(args.overlay or ())
    if names - {"debug"}:
        state["overlays"] = True
    if "debug" in names:
        state["landmarks"] = True
    return state


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's start-up chatter
    p = argparse.ArgumentParser(prog="mirror", description="The mirror desktop app.")
    add_args(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except MirrorError as e:
        print(f"mirror: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
