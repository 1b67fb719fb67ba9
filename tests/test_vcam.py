"""The virtual camera: frame conversion through a stand-in device, and the one line this machine
gives (pyvirtualcam installed, no v4l2loopback) from the real library, in `mirror run` and the GUI."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np
import pytest

from mirror import cli, vcam
from mirror.errors import MirrorError
from runtime_fixtures import MEDIA
from gui_fixtures import next_frames, wait


class FakeDevice:
    """Stands in for pyvirtualcam.Camera: keeps what it was opened with and the frames sent."""

    opened: list = []

    def __init__(self, width, height, fps):
        self.width, self.height, self.fps, self.frames, self.closed = width, height, fps, [], False
        self.device = "/dev/video-fake"
        FakeDevice.opened.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        assert frame.flags["C_CONTIGUOUS"]
        self.frames.append(frame.copy())

    def close(self):
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    FakeDevice.opened = []
    monkeypatch.setattr(vcam, "open_pyvirtualcam", FakeDevice)
    return FakeDevice.opened


def test_frames_go_out_at_their_size_mirrored_as_asked(fake):
    image = cv2.imread(str(MEDIA / "obama.jpg"))
    h, w = image.shape[:2]
    with vcam.VirtualCamera(fps=25, mirrored=True) as cam:
        cam.send(image)
        cam.send(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
        cam.send(cv2.resize(image, (320, 240)), fps=30)  # a new source: reopened at its size and rate
    first, second = fake
    assert (first.width, first.height, first.fps, second.width, second.height, second.fps) == (w, h, 25, 320, 240, 30)
    assert np.array_equal(first.frames[0], image[:, ::-1]) and np.array_equal(first.frames[1], image[:, ::-1])
    assert first.closed and second.closed
    cam.send(image)  # after close: dropped, not reopened
    assert len(fake) == 2
    plain = vcam.VirtualCamera(mirrored=False)
    assert np.array_equal(plain.frame(image), image)
    grey = plain.frame(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert grey.shape == image.shape


def real_library_without_a_device() -> str:
    pytest.importorskip("pyvirtualcam")
    try:
        vcam.open_pyvirtualcam(640, 480, 30).close()
    except MirrorError as e:
        return str(e)
    pytest.skip("this machine has a virtual camera device")


def test_no_device_is_one_line_that_says_what_to_load():
    message = real_library_without_a_device()
    assert message == vcam.no_backend("linux")
    assert "sudo modprobe v4l2loopback" in message and "\n" not in message
    assert "OBS" in vcam.no_backend("win32") and "OBS" in vcam.no_backend("darwin")


def test_run_with_the_virtual_camera_only_fails_in_one_line(models_dir, capsys):
    message = real_library_without_a_device()
    code = cli.main(["run", "--source", str(MEDIA / "obama.jpg"), "--effect", "female", "--virtual-camera",
                     "--models", str(models_dir)])
    err = capsys.readouterr().err
    assert code == 1 and err.strip() == f"mirror: error: {message}"


def test_run_goes_on_to_out_without_a_device(models_dir, tmp_path, capsys):
    message = real_library_without_a_device()
    out = tmp_path / "out.png"
    code = cli.main(["--source", str(MEDIA / "obama.jpg"), "--effect", "female", "--virtual-camera",
                     "--out", str(out), "--models", str(models_dir)])
    assert code == 0 and cv2.imread(str(out)) is not None
    assert f"mirror: warning: {message}; writing only {out}" in capsys.readouterr().err


def test_run_sends_the_result_mirrored(models_dir, tmp_path, fake):
    """With a device, the frame sent is the one written, flipped with --mirror."""
    out = tmp_path / "out.png"
    assert cli.main(["--source", str(MEDIA / "obama.jpg"), "--effect", "female", "--virtual-camera", "--mirror",
                     "--out", str(out), "--models", str(models_dir)]) == 0
    written = cv2.imread(str(out))
    probe, device = fake  # the check before the models start, then the real one
    assert probe.closed and not probe.frames
    assert np.array_equal(device.frames[0], written[:, ::-1])
    assert not np.array_equal(written, cv2.imread(str(MEDIA / "obama.jpg"))), "the effect is in it"


def test_gui_toggle_sends_the_view_and_turns_off_without_a_device(open_window, looping, fake, monkeypatch):  # noqa: F811
    w = open_window(looping)
    w.actions.virtual_camera.setChecked(True)
    wait(lambda: fake and len(fake[0].frames) >= 3)
    shown = next_frames(w, 3)
    device = fake[0]
    assert (device.width, device.height, device.fps) == (320, 240, 30.0)  # the clip's size and rate
    # What the view shows after the effect, mirrored as the view is (the default), went out.
    assert all(s.prefs.mirrored and any(np.array_equal(f, s.after) for f in device.frames) for s in shown)
    w.actions.virtual_camera.setChecked(False)
    wait(lambda: device.closed)

    monkeypatch.undo()  # the real library, which finds no device here
    real_library_without_a_device()
    w.actions.virtual_camera.setChecked(True)
    wait(lambda: not w.actions.virtual_camera.isChecked())
    assert "v4l2loopback" in w.statusBar().currentMessage()
    frames = w.frames
    wait(lambda: w.frames > frames + 3)  # the app goes on
