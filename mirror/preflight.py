"""Checks before anything heavy starts, so that a first run fails with one clear line: the Python
version (run by `make` with the system's python3, before `.venv` exists: standard library only)
and, for the GUI, a display and the Qt libraries it needs.

    python3 -m mirror.preflight python     # exit 1 with one line when this Python is unsupported
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import sys

# As pyproject.toml's requires-python: mediapipe 0.10.21 has wheels for these only.
SUPPORTED = ((3, 10), (3, 11), (3, 12))

# What Qt 6's xcb platform plugin loads beyond a plain X11 client, with the Debian/Ubuntu package
# of each: these are the ones a server or a minimal image lacks.
XCB_LIBS = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
HEADLESS = "`mirror run --source S --out O` works without one"


def python_problem(version: tuple[int, ...] = tuple(sys.version_info)) -> str | None:
    if tuple(version[:2]) in SUPPORTED:
        return None
    names = ", ".join(f"{a}.{b}" for a, b in SUPPORTED)
    return (f"Python {version[0]}.{version[1]} is not supported (mediapipe 0.10.21 has no wheel for it); "
            f"use Python {names}: make PYTHON=python3.12")


def display_problem(env: dict | None = None, platform: str = sys.platform, load=ctypes.CDLL,
                    answers=None) -> str | None:
    """Why the GUI cannot open a window here, or None. Only Linux (and the BSDs) need an X11 or
    Wayland display; QT_QPA_PLATFORM set (offscreen, vnc, ...) is the user's own choice."""
    env = os.environ if env is None else env
    if platform in ("win32", "darwin") or env.get("QT_QPA_PLATFORM"):
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return (f"the GUI needs a display and none is set (DISPLAY, WAYLAND_DISPLAY: SSH without -X, a "
                f"server, WSL without WSLg); {HEADLESS}")
    if env.get("WAYLAND_DISPLAY"):
        return None  # Qt picks its Wayland plugin, which needs none of the xcb libraries
    if not (answers or x_server_answers)(env["DISPLAY"]):
        return f"the GUI needs a display and no X server answers at DISPLAY={env['DISPLAY']}; {HEADLESS}"
    missing = [name for name in XCB_LIBS if not _loads(load, name)]
    if missing:
        return (f"the GUI needs Qt's X11 (xcb) libraries: {', '.join(missing)} missing (Debian/Ubuntu: "
                f"sudo apt-get install {' '.join(XCB_LIBS[m] for m in missing)}); {HEADLESS}")
    return None


def x_server_answers(display: str, timeout: float = 1.0) -> bool:
    """Whether an X server takes connections at `display` (":0", "unix:1", "host:10.0"): its
    socket, in the file system or Linux's abstract namespace, or TCP port 6000 + n."""
    found = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?|([^:/]+):(\d+)(?:\.\d+)?", display)
    if not found:
        return True  # a form we do not know (launchd's on macOS, ...): let Qt try
    local, host, remote = found.groups()
    targets = ([(socket.AF_UNIX, f"/tmp/.X11-unix/X{local}"), (socket.AF_UNIX, f"\0/tmp/.X11-unix/X{local}")]
               if local is not None else [(socket.AF_INET, (host, 6000 + int(remote)))])
    for family, address in targets:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            try:
                s.connect(address)
                return True
            except OSError:
                continue
    return False


def _loads(load, name: str) -> bool:
    try:
        load(name)
    except OSError:
        return False
    return True


def own_qt_plugins(env: dict | None = None) -> None:
    """opencv-python's wheels set QT_QPA_PLATFORM_PLUGIN_PATH (and QT_QPA_FONTDIR) to their own
    Qt 5 plugins when cv2 is imported; Qt 6 then tries those first and, when its own xcb plugin
    fails, reports OpenCV's folder. Drop them so that PySide6 uses its own."""
    env = os.environ if env is None else env
    for key in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if f"cv2{os.sep}qt" in env.get(key, ""):
            del env[key]


def main(argv: list[str]) -> int:
    if argv != ["python"]:
        print("usage: python -m mirror.preflight python", file=sys.stderr)
        return 2
    problem = python_problem()
    if problem:
        print(f"mirror: error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
