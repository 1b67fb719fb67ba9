"""A first run that never confuses: no display, an unsupported Python, the trainer without its
extra each end in one line, and the GUI takes its start state from the command line."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mirror import preflight

REPO = Path(__file__).resolve().parents[1]


def run_python(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def one_error_line(stderr: str, prog: str = "mirror") -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), stderr
    return lines[0]


def test_gui_without_a_display_says_so_and_names_the_headless_command():
    """The real app with no DISPLAY, no WAYLAND_DISPLAY and no QT_QPA_PLATFORM (as over SSH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "mirror", "--effect", "female"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)})
    line = one_error_line(done.stderr)
    assert done.returncode == 1
    assert "needs a display" in line and "mirror run" in line


def test_missing_xcb_libraries_are_named_with_their_packages():
    present = {"libxcb-cursor.so.0", "libxcb-image.so.0", "libxcb-randr.so.0", "libxcb-render-util.so.0",
               "libxcb-shape.so.0", "libxcb-xkb.so.1", "libxkbcommon-x11.so.0"}

    def load(name):
        if name not in present:
            raise OSError(f"{name}: cannot open shared object file")

    up = lambda display: True  # noqa: E731 - an X server answers
    problem = preflight.display_problem({"DISPLAY": ":0"}, "linux", load, up)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1 missing" in problem
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in problem
    assert preflight.display_problem({"DISPLAY": ":0"}, "linux", lambda name: None, up) is None
    assert preflight.display_problem({}, "darwin", load) is None
    assert preflight.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", load) is None


def test_a_display_without_an_x_server_is_named():
    """DISPLAY set to a display nobody serves (a closed SSH tunnel, a stopped Xvfb) aborted Qt;
    a listening socket in Linux's abstract namespace stands in for a live server."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("\0/tmp/.X11-unix/X4243")
        server.listen(1)
        assert preflight.x_server_answers(":4243") and preflight.x_server_answers("unix:4243.0")
    assert not preflight.x_server_answers(":4243")
    problem = preflight.display_problem({"DISPLAY": ":4243"}, "linux", lambda name: None)
    assert problem.startswith("the GUI needs a display and no X server answers at DISPLAY=:4243")


def test_opencvs_qt_plugin_path_is_dropped(tmp_path):
    """Importing cv2 (opencv-contrib-python's wheel) points Qt at OpenCV's own Qt 5 plugins."""
    env = {"QT_QPA_PLATFORM_PLUGIN_PATH": f"/venv/site-packages/cv2{os.sep}qt{os.sep}plugins",
           "QT_QPA_FONTDIR": f"/venv/site-packages/cv2{os.sep}qt{os.sep}fonts", "OTHER": "kept"}
    preflight.own_qt_plugins(env)
    assert env == {"OTHER": "kept"}
    mine = {"QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/qt6/plugins"}
    preflight.own_qt_plugins(mine)
    assert mine == {"QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/qt6/plugins"}
    # The installed OpenCV, imported in a fresh interpreter.
    done = run_python("-c", "import os, cv2; from mirror.preflight import own_qt_plugins; "
                            "before = os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH'); own_qt_plugins(); "
                            "print(before, os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH'))")
    before, after = done.stdout.split()
    assert after == "None" and (before == "None" or f"cv2{os.sep}qt" in before)


def test_supported_pythons_are_pyprojects():
    tomllib = pytest.importorskip("tomllib")
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    lo, hi = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", spec).groups()
    assert preflight.SUPPORTED == tuple((3, m) for m in range(int(lo), int(hi)))
    assert preflight.python_problem((3, 11, 4)) is None
    problem = preflight.python_problem((3, 13, 0))
    assert problem.startswith("Python 3.13 is not supported") and "3.10, 3.11, 3.12" in problem


def test_make_refuses_an_unsupported_python_before_making_the_venv(tmp_path):
    """`make run` with a Python 3.13 (a stand-in: this interpreter claiming to be 3.13) stops
    with one line and leaves no .venv behind."""
    fake = tmp_path / "python3.13"
    fake.write_text("#!/bin/sh\n"
                    f"exec {sys.executable} -c \"import sys; sys.version_info = (3, 13, 0, 'final', 0); "
                    "import runpy; module = sys.argv[2]; sys.argv = [module, *sys.argv[3:]]; "
                    "runpy.run_module(module, run_name='__main__')\" \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    venv = tmp_path / "venv"
    done = subprocess.run(["make", "-s", "run", f"PYTHON={fake}", f"VENV={venv}"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode != 0
    assert "mirror: error: Python 3.13 is not supported" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "no matching distribution" not in done.stderr.lower()
    assert not venv.exists()


def test_python_check_passes_here():
    done = run_python("-m", "mirror.preflight", "python")
    assert done.returncode == 0 and done.stderr == ""


def test_trainer_without_torch_names_the_train_extra():
    """As installed with the app alone: `import torch` fails."""
    code = ("import sys; sys.modules['torch'] = None; from trainer.entry import main; "
            "sys.exit(main(['prepare', 'nowhere', '--out', 'nowhere-out']))")
    done = run_python("-c", code)
    line = one_error_line(done.stderr, "mirror-train")
    assert done.returncode == 2 and "`train` extra" in line and '.[cpu,train]' in line


def test_trainer_modules_are_the_train_extras():
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    from trainer.entry import TRAIN_MODULES

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    assert TRAIN_MODULES == {Requirement(r).name for r in extra}
