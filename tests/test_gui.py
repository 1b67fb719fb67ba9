"""The desktop app, run offscreen on a clip of a real photo.

There is no video among the test media: the clip is astronaut.png moved by the same synthetic
camera (sway, zoom, tilt) that builds the bundled sample (assets/make_sample.py). Every window
keeps its settings in a temporary INI file, never in the user's.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mirror import live, output
from mirror.models import Registry
from mirror.errors import MirrorError
from mirror.gui import app, settings, sources
from mirror.gui.files import new_file
from mirror.gui.actions import SPECS
from mirror.gui.sources import Choice
from mirror.gui.window import NO_FACE_FRAMES, Window
from mirror.source import Source
from gui_fixtures import changed_pixels, next_frames, wait
from runtime_fixtures import MEDIA, FakeCamera, make_sample, still_clip
from test_video import read_video

REPO = Path(__file__).resolve().parents[1]
FPS = 30.0


def test_frames_arrive_with_readouts(open_window, looping):
    w = open_window(looping)
    shown = next_frames(w, 10)
    assert all(s.after.shape == (240, 320, 3) for s in shown)
    assert sum(bool(s.faces) for s in shown) >= 8, "the astronaut's face is found"
    assert all(s.timings["total"] > 0 and s.timings["landmarks"] > 0 for s in shown)
    wait(lambda: "fps" in w.panel.fps.text() and w.panel.timings["landmarks"].text() != "–")
    assert "ms" in w.panel.timings["total"].text()
    assert "ONNX Runtime: CPU" in w.panel.models.text()
    assert {"gender-fixture", "age-fixture"} <= {n for n in w.registry.models} and "gender-fixture" in w.panel.models.text()
    assert w.view.hint is None and not w.view.banner.isVisible()


def test_gender_age_intensity_change_the_face_only(open_window, looping):
    w = open_window(looping)
    plain = next_frames(w, 1, lambda s: bool(s.faces))[0]
    assert not changed_pixels(plain)[0].any(), "no effect: the frame passes unchanged"

    for act, want in ((lambda: w.actions.gender_female.trigger(), dict(gender="female")),
                      (lambda: (w.actions.gender_off.trigger(), w.panel.age.setValue(80)), dict(gender=None, age=0.8))):
        act()
        shown = next_frames(w, 1, lambda s: bool(s.faces) and all(getattr(s.prefs, k) == v for k, v in want.items()))[0]
        changed, in_faces = changed_pixels(shown)
        assert not (changed & ~in_faces).any(), "nothing outside the faces changes"
        assert changed[in_faces].mean() > 0.05, "the face changes"

    w.panel.intensity.setValue(0)
    shown = next_frames(w, 1, lambda s: s.prefs.intensity == 0)[0]
    assert not changed_pixels(shown)[0].any(), "intensity 0 is the original"


def test_a_change_shows_in_the_next_frame(open_window, looping):
    w = open_window(looping)
    next_frames(w, 3)
    w.set_age(-0.5)
    after = next_frames(w, 5)
    # Begun before the slider moved: at most the frame waiting to be shown and one in each stage.
    assert all(s.prefs.age == -0.5 for s in after[3:])


def test_mirror_toggle_flips_the_camera(open_window, looping, clip):
    w = open_window(looping)
    cap = cv2.VideoCapture(str(clip))
    raw = []
    while (frame := cap.read()[1]) is not None:
        raw.append(frame)
    mirrored = next_frames(w, 1)[0]
    assert mirrored.prefs.mirrored and np.array_equal(mirrored.before, cv2.flip(raw[mirrored.index], 1))
    w.actions.mirrored.trigger()
    plain = next_frames(w, 1, lambda s: not s.prefs.mirrored)[0]
    assert np.array_equal(plain.before, raw[plain.index])


def test_split_view_and_its_divider(open_window, looping):
    w = open_window(looping)
    w.actions.gender_male.trigger()
    w.actions.split.trigger()
    shown = next_frames(w, 1, lambda s: s.prefs.split and s.prefs.gender == "male" and bool(s.faces))[0]
    view = w.view.shown()  # no events since: still this frame
    x = round(w.prefs.divider * view.shape[1])
    assert np.array_equal(view[:, :x], shown.before[:, :x]) and np.array_equal(view[:, x:], shown.after[:, x:])
    assert (view != shown.after).any() and (view != shown.before).any(), "both halves of the face show"
    # Drag the divider with the mouse to a quarter of the picture.
    target = w.view.image_rect()
    at = lambda f: QPoint(round(target.left() + f * target.width()), round(target.center().y()))
    QTest.mousePress(w.view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(0.5))
    QTest.mouseMove(w.view, at(0.25))
    QTest.mouseRelease(w.view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(0.25))
    assert abs(w.prefs.divider - 0.25) < 0.02
    assert next_frames(w, 1, lambda s: abs(s.prefs.divider - 0.25) < 0.02)
    w.actions.divider_right.trigger()
    assert abs(w.prefs.divider - 0.30) < 0.02


def test_landmarks_overlay_draws_on_the_face(open_window, looping):
    w = open_window(looping)
    w.actions.landmarks.trigger()
    shown = next_frames(w, 1, lambda s: s.prefs.landmarks and bool(s.faces))[0]
    changed, in_faces = changed_pixels(shown)
    assert changed[in_faces].mean() > 0.05


def test_overlays_toggle_follows_the_overlay_module(open_window, looping):
    w = open_window(looping)
    if importlib.util.find_spec("mirror.overlay") is None:  # it comes separately from the app
        assert not w.actions.overlays.isEnabled()
        return
    w.actions.gender_female.trigger()
    w.actions.overlays.trigger()
    shown = next_frames(w, 1, lambda s: s.prefs.overlays and s.prefs.gender == "female" and bool(s.faces))[0]
    changed, in_faces = changed_pixels(shown)
    assert changed[in_faces].any()


def test_every_shortcut_is_wired_and_unique(open_window, looping):
    w = open_window(looping)
    keys = [k for _, ks, _, _ in SPECS.values() for k in ks]
    assert len(keys) == len(set(keys))
    assert all(a.shortcuts() for a in w.actions.all.values())
    w.activateWindow()
    wait(lambda: QApplication.activeWindow() is w, 5)
    QTest.keyClick(w, Qt.Key.Key_F)
    assert w.prefs.gender == "female"
    QTest.keyClick(w, Qt.Key.Key_G)
    assert w.prefs.gender == "male"
    QTest.keyClick(w, Qt.Key.Key_O)
    assert w.prefs.age == pytest.approx(0.1) and w.panel.age.value() == 10
    QTest.keyClick(w, Qt.Key.Key_Minus)
    assert w.prefs.intensity == pytest.approx(0.9)
    QTest.keyClick(w, Qt.Key.Key_B)
    QTest.keyClick(w, Qt.Key.Key_H)
    QTest.keyClick(w, Qt.Key.Key_L)
    assert (w.prefs.split, w.prefs.mirrored, w.prefs.landmarks) == (True, False, True)
    QTest.keyClick(w, Qt.Key.Key_F11)
    wait(lambda: w.isFullScreen() and not w.side.isVisible(), 5)
    QTest.keyClick(w, Qt.Key.Key_Escape)
    wait(lambda: not w.isFullScreen() and w.side.isVisible(), 5)


def test_snapshot_and_recording_write_real_files(open_window, looping, tmp_path):
    w = open_window(looping)
    w.set_folder(str(tmp_path))
    next_frames(w, 2)
    png = w.snapshot()
    assert png is not None and png.parent == tmp_path
    image = cv2.imread(str(png))
    assert image is not None and image.shape == (240, 320, 3)

    w.actions.record.trigger()
    assert w.actions.record.isChecked() and w.view.recording_since is not None
    next_frames(w, 30)
    w.actions.record.trigger()
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1
    frames, fps = read_video(videos[0])
    assert 20 <= len(frames) <= 120, len(frames)
    assert frames[0].shape == (240, 320, 3) and 5 <= fps <= 60


@pytest.mark.parametrize("folder", ["missing", "a-file"])
def test_recording_to_a_bad_folder_says_so_and_goes_on(open_window, looping, tmp_path, folder):
    w = open_window(looping)
    (tmp_path / "a-file").write_text("not a folder")
    w.set_folder(str(tmp_path / folder))
    next_frames(w, 1)
    w.actions.record.trigger()
    assert not w.actions.record.isChecked()
    assert "Cannot record: the folder" in w.view.toast_text and "does not exist" in w.statusBar().currentMessage()
    assert w.snapshot() is None
    next_frames(w, 3)  # the live view goes on


def test_missing_source_shows_the_error_and_can_switch(open_window, looping, tmp_path):
    w = open_window(sources.from_spec(str(tmp_path / "nowhere.mp4")))
    wait(lambda: w.view.banner.isVisible())
    assert "No such file" in w.view.banner.text.text()
    assert w.last is None
    w.open_source(looping)
    next_frames(w, 2)
    assert not w.view.banner.isVisible()


def test_a_video_ends_with_a_message_and_reopens(open_window, tmp_path):
    short = tmp_path / "short.avi"
    make_sample().make_clip(short, MEDIA / "astronaut.png", seconds=0.5, fps=FPS, size=(320, 240))
    w = open_window(sources.from_spec(str(short)))
    wait(lambda: w.view.banner.isVisible())
    assert "End of short.avi" in w.view.banner.text.text() and w.view.banner.button.isVisible()
    assert w.last is not None, "the last frame stays on show"
    shown = w.frames
    w.view.banner.button.click()
    assert not w.view.banner.isVisible()
    wait(lambda: w.frames > shown + 3)


def test_no_face_shows_the_plain_image_and_a_hint(open_window, tmp_path):
    empty = tmp_path / "wall.png"
    cv2.imwrite(str(empty), np.tile(np.linspace(40, 200, 320, dtype=np.uint8), (240, 1)))
    w = open_window(sources.from_spec(str(empty)))
    shown = next_frames(w, NO_FACE_FRAMES + 1)[-1]
    assert not shown.faces and not changed_pixels(shown)[0].any()
    assert w.view.hint and "No face" in w.view.hint


def test_without_models_it_is_a_plain_mirror(open_window, looping):
    w = open_window(looping, registry_=Registry())
    assert not w.actions.gender_female.isEnabled() and not w.panel.age.isEnabled()
    assert "no model" in w.panel.models.text() and "No model for gender, age, swap" in w.panel.model_note.text()
    w.set_gender("female")
    w.set_age(0.5)
    assert w.prefs.gender is None and w.prefs.age == 0
    assert next_frames(w, 3)


def test_settings_are_remembered(qapp, registry, looping, tmp_path):
    path = str(tmp_path / "remember.ini")
    w = Window(registry, QSettings(path, QSettings.Format.IniFormat), looping, cameras=[])
    w.set_gender("swap")
    w.set_age(-0.3)
    w.set_intensity(0.6)
    w.actions.mirrored.trigger()
    w.actions.split.trigger()
    w.set_folder(str(tmp_path))
    w.close()
    again = Window(registry, QSettings(path, QSettings.Format.IniFormat), cameras=[])
    try:
        p = again.prefs
        assert (p.gender, p.age, p.intensity, p.mirrored, p.split, p.folder) == ("swap", -0.3, 0.6, False, True, str(tmp_path))
        assert again.actions.gender_swap.isChecked() and again.panel.age.value() == -30
        assert again.choice.spec == looping.spec, "the last source again"
    finally:
        again.close()


def test_a_slow_model_lowers_the_frame_rate_not_the_responsiveness(open_window, looping, monkeypatch):
    import mirror.gui.worker as worker

    real = worker.Pipeline.back

    def slow(self, work):  # the generator's half
        time.sleep(0.25)
        return real(self, work)

    monkeypatch.setattr(worker.Pipeline, "back", slow)
    w = open_window(looping)
    next_frames(w, 1)
    ticks, start = [], time.monotonic()
    while time.monotonic() - start < 1.5:  # the GUI thread's own loop keeps turning
        QApplication.processEvents()
        ticks.append(time.monotonic())
        time.sleep(0.01)
    assert max(np.diff(ticks)) < 0.2  # a window that waited for the model would stall 0.25 s
    assert w.frames <= 10 and w.worker.dropped > 10, "frames are skipped, not queued"


def test_the_halves_overlap_on_two_threads(open_window, looping, monkeypatch):
    """Stage one (landmarks, crops) on its own thread, the generator and blending on the processing
    thread, with at most one frame between them (as in `mirror run`)."""
    import threading

    import mirror.gui.worker as worker

    lock, threads = threading.Lock(), {"front": set(), "back": set()}
    fronted = []  # after each half: frames through front and not yet through back

    def traced(half, change):
        real = getattr(worker.Pipeline, half)

        def run(self, *args, **kwargs):
            out = real(self, *args, **kwargs)
            with lock:
                threads[half].add(threading.current_thread().name)
                fronted.append((fronted[-1] if fronted else 0) + change)
            return out
        monkeypatch.setattr(worker.Pipeline, half, run)

    traced("front", 1)
    traced("back", -1)
    w = open_window(looping)
    next_frames(w, 10)
    assert threads == {"front": {"mirror-stage-one"}, "back": {"mirror-process"}}
    assert max(fronted) <= 2, "one frame in stage two, at most one more waiting for it"


def test_app_screenshot_mode(qapp, models_dir, clip, tmp_path):
    from mirror import cli

    shot = tmp_path / "app.png"
    args = ["--source", str(clip), "--models", str(models_dir), "--settings", str(tmp_path / "s.ini")]
    # `mirror --source ...` without --out is the GUI.
    assert cli.main([*args, "--screenshot", str(shot), "--quit-after-frames", "5"]) == 0
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 500
    missing = ["--source", str(tmp_path / "none.mp4"), "--settings", str(tmp_path / "s.ini")]
    assert app.main([*missing, "--screenshot", str(shot), "--quit-after-frames", "5"]) == 1


def test_sources_list_v4l2_cameras_and_fall_back_to_the_sample(tmp_path):
    for n, index, name in (("video0", "0", "Webcam"), ("video1", "1", "Webcam"), ("video2", "0", "USB cam")):
        (tmp_path / n).mkdir()
        (tmp_path / n / "index").write_text(index)
        (tmp_path / n / "name").write_text(name)
    found = sources._v4l2_cameras(tmp_path)
    assert [(c.label, c.spec) for c in found] == [("Camera 0: Webcam", "0"), ("Camera 2: USB cam", "2")]
    assert sources.initial("", []) == sources.sample() and sources.sample().loop
    assert sources.initial("", found) == found[0]
    assert sources.initial("/gone.mp4", []) == sources.sample()
    assert sources.SAMPLE.is_file(), "the bundled sample clip"


def test_frames_do_not_drop_references_to_true(open_window, looping):
    """PySide6 6.12's Signal.emit() drops a reference to True on every call, which kills a
    long-running app ("deallocating True"); the app must not emit per frame (CPython 3.12+ makes
    True immortal, so there this cannot fail)."""
    import sys

    w = open_window(looping)
    next_frames(w, 5)
    before = sys.getrefcount(True)
    next_frames(w, 60)
    assert sys.getrefcount(True) > before - 30


def test_an_unplugged_camera_says_so_and_reopens(open_window, monkeypatch):
    """A stand-in camera that gives 10 frames of the astronaut, then nothing (as when unplugged)."""
    from mirror.source import Frame, Source

    still = cv2.resize(cv2.imread(str(MEDIA / "astronaut.png")), (320, 320))
    opened = []

    class Unplugged(Source):
        kind = "camera"

        def __iter__(self):
            for i in range(10):
                time.sleep(1 / FPS)  # a camera paces itself
                yield Frame(still, i, f"frame-{i:06d}")

    monkeypatch.setattr(live, "open_source", lambda spec: opened.append(spec) or Unplugged())
    camera = Choice("Camera 0: Test", "0")
    w = open_window(camera)
    wait(lambda: w.view.banner.isVisible())
    assert "Camera 0: Test stopped sending pictures (unplugged?)" in w.view.banner.text.text()
    wait(lambda: w.last is not None)  # the last frame stays on show
    assert w.frames <= 10
    shown = w.frames
    QTest.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    wait(lambda: w.frames > shown)
    assert opened == ["0", "0"]


def test_new_files_never_overwrite(tmp_path):
    from datetime import datetime

    now = datetime(2026, 1, 2, 3, 4, 5)
    first = new_file(tmp_path, ".png", now)
    first.write_bytes(b"x")
    assert (first.name, new_file(tmp_path, ".png", now).name) == ("mirror-20260102-030405.png", "mirror-20260102-030405-2.png")
    with pytest.raises(MirrorError, match="does not exist"):
        new_file(tmp_path / "gone", ".mp4")


def test_mangled_settings_fall_back_to_sane_values(qapp, tmp_path):
    store = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    for key, value in (("gender", "robot"), ("age", "7"), ("intensity", "lots"), ("mirrored", "false"), ("divider", "-1")):
        store.setValue(key, value)
    prefs = settings.load(store)
    assert (prefs.gender, prefs.age, prefs.intensity, prefs.mirrored, prefs.divider) == (None, 1.0, 1.0, False, 0.0)


# -- the GUI and its sources, when they fail (docs/reliability.md) --------------------------------

def test_gui_camera_comes_back_by_itself(open_window, monkeypatch):
    """Unplugged after 5 frames, missing at the next look, back at the one after: the view resumes
    without a click."""
    from mirror.gui.sources import Choice

    opened = []

    def plug(spec):
        opened.append(spec)
        if len(opened) == 2:
            raise MirrorError(f"cannot open camera {spec}")
        return FakeCamera(5 if len(opened) == 1 else 10_000, pace=1 / FPS)

    monkeypatch.setattr(live, "RETRY_SECONDS", 0.5)
    monkeypatch.setattr(live, "open_source", plug)
    w = open_window(Choice("Camera 0: Test", "0"))
    wait(lambda: w.view.banner.isVisible())
    assert "stopped sending pictures (unplugged?)" in w.view.banner.text.text()
    assert "comes back by itself" in w.view.banner.text.text()
    shown = w.frames
    wait(lambda: w.frames > shown + 3)
    assert not w.view.banner.isVisible() and "is back" in w.statusBar().currentMessage()
    assert len(opened) == 3


def test_gui_a_hung_camera_does_not_hang_the_window(open_window, monkeypatch, tmp_path):
    """A camera stuck inside its driver (its read never returns): the window keeps turning and
    another source opens at once."""
    from mirror.gui.sources import Choice

    release = threading.Event()

    class Stuck(Source):
        kind = "camera"

        def __iter__(self):
            release.wait(60)
            return iter(())

    real = live.open_source
    monkeypatch.setattr(live, "open_source", lambda spec: Stuck() if spec == "0" else real(spec))
    try:
        w = open_window(Choice("Camera 0: Stuck", "0"))
        wait(lambda: w.isVisible())
        start = time.monotonic()
        w.open_source(Choice("clip", str(still_clip(tmp_path / "clip.avi")), loop=True))
        assert time.monotonic() - start < 2
        wait(lambda: w.frames >= 3)
    finally:
        release.set()


@pytest.mark.parametrize("name, content, message", [
    ("empty.mp4", b"", "is empty (0 bytes)"),
    ("text.png", b"not a picture", "Cannot decode image"),
    ("folder", None, "No image in folder could be read"),
])
def test_gui_unreadable_sources_say_so(open_window, tmp_path, name, content, message):
    from mirror.gui import sources

    path = tmp_path / name
    if content is None:
        path.mkdir()
        (path / "a.jpg").write_bytes(b"")
        (path / "b.png").write_bytes(b"torn")
    else:
        path.write_bytes(content)
    w = open_window(sources.from_spec(str(path)))
    wait(lambda: w.view.banner.isVisible())
    assert message in w.view.banner.text.text() and w.last is None


def test_gui_recording_that_fails_midway_stops_and_the_view_goes_on(open_window, tmp_path, monkeypatch):
    """The disk fills up during a recording: it stops with a message; the live view goes on."""
    from mirror.gui.sources import Choice

    real = output.VideoWriter.write

    def filling(self, frame, image):
        if self.frames >= 3:
            raise OSError(28, "No space left on device")
        real(self, frame, image)

    monkeypatch.setattr(output.VideoWriter, "write", filling)
    w = open_window(Choice("clip", str(still_clip(tmp_path / "clip.avi")), loop=True))
    w.set_folder(str(tmp_path))
    wait(lambda: w.frames >= 1)
    w.actions.record.trigger()
    wait(lambda: not w.actions.record.isChecked())
    assert "Recording stopped" in w.statusBar().currentMessage() and "No space left" in w.view.toast_text
    shown = w.frames
    wait(lambda: w.frames > shown + 3)
