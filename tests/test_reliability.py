"""Bad input, faults and odd frames: a clear one-line message, nothing lost, nothing half-written,
no crash, no hang. Only what the runtime, GUI and trainer tests do not cover already
(docs/reliability.md lists every case and where its test is).

There is no real video here: clips and cameras are stand-ins fed with the test photos, and any
motion is synthetic."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np
import pytest

from mirror import cli, output
from mirror.errors import MirrorError
from mirror.models import Registry
from mirror.overlay import OVERLAYS, Overlays
from mirror.pipeline import Pipeline, Settings
from mirror.source import Frame, Source
from mirror.translate import Effect
from runtime_fixtures import MEDIA, _card, export_generator, photo
from test_gui import open_window, qapp, store, wait  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FPS = 30.0


def run_cli(capsys, *args) -> tuple[int, list[str]]:
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err.strip().splitlines()


def one_error(lines: list[str], message: str) -> None:
    lines = [line for line in lines if "frame/s" not in line]  # the progress bar's, on the way
    assert len(lines) == 1 and lines[0].startswith("mirror: error: ") and message in lines[0], lines


def still_clip(path: Path, frames: int = 6) -> Path:
    """A short MJPG clip of the astronaut, standing still (no real video exists here)."""
    image = cv2.resize(photo("astronaut.png"), (320, 320))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 320))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


class FakeCamera(Source):
    """A camera that gives `frames` frames of the astronaut, then nothing, as when unplugged."""

    kind = "camera"

    def __init__(self, frames: int, pace: float = 0.0):
        self.frames, self.pace = frames, pace
        self.image = cv2.resize(photo("astronaut.png"), (320, 320))

    def __iter__(self):
        for i in range(self.frames):
            time.sleep(self.pace)
            yield Frame(self.image, i, f"frame-{i:06d}")


# -- models ----------------------------------------------------------------------------------------

def good_gender(tmp_path: Path, models_dir: Path) -> Path:
    """A model folder with the good gender model alone, for bad ones to go beside."""
    folder = tmp_path / "models"
    folder.mkdir()
    for ext in (".onnx", ".json"):
        shutil.copy(models_dir / f"gender-fixture{ext}", folder)
    return folder


@pytest.fixture
def mixed_models(tmp_path, models_dir) -> Path:
    """The good gender model beside damaged ones of every kind the registry must refuse."""
    folder = good_gender(tmp_path, models_dir)
    good = (models_dir / "age-fixture.onnx").read_bytes()
    (folder / "truncated.onnx").write_bytes(good[: len(good) // 2])
    shutil.copy(models_dir / "age-fixture.json", folder / "truncated.json")
    # A card that lacks a field the runtime needs.
    export_generator(folder, "no-align", "age")
    card = (folder / "no-align.json").read_text().replace('"align"', '"alignment"')
    (folder / "no-align.json").write_text(card)
    # A classifier's card beside a generator's graph: the graph's inputs are not the card's.
    export_generator(folder, "not-a-classifier", "gender")
    _card(folder, "not-a-classifier", "attributes", 128, 0.1, {"image": [-1, 3, 128, 128]},
          {"female": [-1, 1], "age": [-1, 1]})
    # Declared inputs of any size, but built for 128 px inside; its card says 96.
    export_generator(folder, "inner-size", "age")
    graph = (folder / "inner-size.onnx").read_bytes()
    import onnx

    model = onnx.load_from_string(graph)
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        for d, name in zip(dims[2:], "HW"):
            d.dim_param = name
    onnx.save(model, str(folder / "inner-size.onnx"))
    _card(folder, "inner-size", "age", 96, 0.1, {"image": [-1, 3, 96, 96], "condition": [-1, 1]},
          {"output": [-1, 3, 96, 96]}, age_span_years=40)
    return folder


BAD_MODELS = {"truncated.onnx": "ONNX Runtime cannot load it", "no-align.json": "lacks or mangles 'align'",
              "not-a-classifier.onnx": "are not the card's", "inner-size.onnx": "failed to run"}


def test_damaged_models_are_one_line_each_and_the_good_one_stays(mixed_models):
    registry = Registry(mixed_models)
    assert list(registry.models) == ["gender-fixture"]
    problems = {Path(str(p).split(": ")[0]).name: str(p) for p in registry.problems}
    assert problems.keys() == BAD_MODELS.keys()
    for name, message in BAD_MODELS.items():
        assert message in problems[name] and "\n" not in problems[name], problems[name]
        assert problems[name].startswith(str(mixed_models / name))


def test_cli_runs_with_the_good_models_and_names_the_bad(mixed_models, tmp_path, capsys):
    out = tmp_path / "out.png"
    code, lines = run_cli(capsys, "--source", MEDIA / "obama.jpg", "--effect", "female", "--out", out,
                          "--models", mixed_models)
    assert code == 0 and out.is_file()
    warnings = [line for line in lines if line.startswith("mirror: warning: ")]
    assert len(warnings) == len(BAD_MODELS) == len(lines) - 1 and "1 face(s) changed" in lines[-1]
    assert all(any(name in w for w in warnings) for name in BAD_MODELS)
    # Asking for what only a bad model would give says there is none, and where.
    code, lines = run_cli(capsys, "--source", MEDIA / "obama.jpg", "--age", "1", "--out", out, "--models", mixed_models)
    assert code == 1 and lines[-1].startswith("mirror: error: no age model")


def test_gui_starts_with_the_good_models_and_reports_the_bad(open_window, mixed_models, tmp_path, capsys):
    shot = tmp_path / "app.png"
    assert cli.main(["--source", str(MEDIA / "astronaut.png"), "--models", str(mixed_models), "--settings",
                     str(tmp_path / "s.ini"), "--screenshot", str(shot), "--quit-after-frames", "2"]) == 0
    assert shot.is_file()
    err = capsys.readouterr().err
    assert all(name in err for name in BAD_MODELS)
    w = open_window(registry_=Registry(mixed_models))
    assert "4 unusable file(s)" in w.panel.models.text() and "gender-fixture" in w.panel.models.text()
    assert all(name in w.panel.models.toolTip() for name in BAD_MODELS)
    assert w.actions.gender_female.isEnabled() and not w.panel.age.isEnabled()


# -- sources ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("empty.jpg", b"", "is empty (0 bytes)"),
    ("empty.mp4", b"", "is empty (0 bytes)"),
    ("text.jpg", b"just some words", "cannot decode image"),
    ("noise.mp4", bytes(range(256)) * 40, "cannot open video"),
])
def test_unreadable_sources_are_one_line(tmp_path, models_dir, capsys, name, content, message):
    (tmp_path / name).write_bytes(content)
    out = tmp_path / ("o.png" if name.endswith(".jpg") else "o.avi")
    code, lines = run_cli(capsys, "--source", tmp_path / name, "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 1 and not out.exists()
    one_error(lines, message)


def test_broken_images_in_a_folder_are_skipped(tmp_path, models_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(MEDIA / "obama.jpg", src)
    (src / "empty.png").write_bytes(b"")
    (src / "torn.jpg").write_bytes((MEDIA / "biden.jpg").read_bytes()[:300])
    code, lines = run_cli(capsys, "--source", src, "--effect", "female", "--out", tmp_path / "out", "--models", models_dir)
    assert code == 0 and [p.name for p in (tmp_path / "out").iterdir()] == ["obama.jpg"]
    assert sum("warning: skipped" in line for line in lines) == 2 and "1 frame(s)" in lines[-1]
    os.remove(src / "obama.jpg")
    code, lines = run_cli(capsys, "--source", src, "--effect", "female", "--out", tmp_path / "none", "--models", models_dir)
    assert code == 1 and not (tmp_path / "none").exists()
    one_error(lines, "none of the 2 image(s)")


def test_a_camera_that_stops_keeps_its_frames(tmp_path, models_dir, capsys, monkeypatch):
    import mirror.source

    monkeypatch.setattr(mirror.source, "open_source", lambda spec: FakeCamera(5))
    out = tmp_path / "camera.avi"
    code, lines = run_cli(capsys, "--source", "0", "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 1
    one_error(lines, f"camera 0 stopped sending frames (unplugged?); the 5 before are in {out}")
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    # Asked for fewer frames than it gives: no error.
    code, lines = run_cli(capsys, "--source", "0", "--effect", "female", "--frames", "3", "--out", out,
                          "--models", models_dir)
    assert code == 0 and "3 frame(s)" in lines[-1]


# -- the GUI and its sources -----------------------------------------------------------------------

def test_gui_camera_comes_back_by_itself(open_window, monkeypatch):
    """Unplugged after 5 frames, missing at the next look, back at the one after: the view resumes
    without a click."""
    import mirror.gui.worker as worker
    from mirror.gui.sources import Choice

    opened = []

    def plug(spec):
        opened.append(spec)
        if len(opened) == 2:
            raise MirrorError(f"cannot open camera {spec}")
        return FakeCamera(5 if len(opened) == 1 else 10_000, pace=1 / FPS)

    monkeypatch.setattr(worker, "RETRY_SECONDS", 0.5)
    monkeypatch.setattr(worker, "open_source", plug)
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
    import mirror.gui.worker as worker
    from mirror.gui.sources import Choice

    release = threading.Event()

    class Stuck(Source):
        kind = "camera"

        def __iter__(self):
            release.wait(60)
            return iter(())

    real = worker.open_source
    monkeypatch.setattr(worker, "open_source", lambda spec: Stuck() if spec == "0" else real(spec))
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


# -- frames ----------------------------------------------------------------------------------------

def odd_frames() -> dict[str, np.ndarray]:
    """Frames a camera or a folder can give, each with a face the pipeline may find or not."""
    face = photo("obama.jpg")
    h, w = face.shape[:2]
    tile = cv2.resize(photo("astronaut.png")[20:300, 110:390], (213, 240))
    crowd = np.vstack([np.hstack([tile if (i + j) % 2 else tile[:, ::-1] for i in range(3)]) for j in range(2)])
    tiny = np.full((480, 640, 3), 90, np.uint8)
    tiny[200:236, 300:329] = cv2.resize(face, (29, 36), interpolation=cv2.INTER_AREA)
    bgr = photo("astronaut.png")
    return {
        "crowd of 6 (max 4)": crowd,
        "cut by the edge": photo("obama_partial_face.jpg"),
        "tiny": tiny,
        "huge (70% of the width)": cv2.resize(face, None, fx=2, fy=2)[h // 2: h // 2 + 480, w // 2 - 80: w // 2 + 560],
        "overflowing": cv2.resize(face, None, fx=4, fy=4)[int(1.6 * h): int(1.6 * h) + 480, int(1.6 * w): int(1.6 * w) + 640],
        "rotated 90": cv2.rotate(face, cv2.ROTATE_90_CLOCKWISE),
        "rotated 180": cv2.rotate(face, cv2.ROTATE_180),
        "black": np.zeros((480, 640, 3), np.uint8),
        "grey": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
        "grey, one channel": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None],
        "BGRA": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "1x1": np.zeros((1, 1, 3), np.uint8),
        "2x3 grey": np.zeros((2, 3), np.uint8),
    }


@pytest.mark.parametrize("video", [False, True], ids=["stills", "video"])
def test_odd_frames_never_crash(registry, video):
    """Every overlay (make-up, debug view, the GUI's landmarks) on top of a gender and age change,
    on the frames above one after another: in video the tracker carries faces between them."""
    from mirror.gui import marks

    frames = odd_frames()
    with Pipeline(registry, Settings(Effect("swap", age=0.5)), video=video, max_faces=4) as pipeline:
        pipeline.overlays += [Overlays(OVERLAYS), marks.draw]
        for _ in range(2 if video else 1):
            for name, frame in frames.items():
                result = pipeline(frame)
                assert result.image.shape == frame.shape and result.image.dtype == np.uint8, name
                assert len(result.faces) <= 4, name
                if name == "crowd of 6 (max 4)":
                    assert len(result.faces) == 4
                if name in ("cut by the edge", "grey", "BGRA") and not video:
                    assert len(result.faces) == 1 and result.faces[0].changed, name


def test_frames_the_pipeline_cannot_take_are_one_line(registry):
    with Pipeline(registry, video=False) as pipeline:
        for frame, message in ((np.zeros((8, 8, 3), np.float32), "8-bit"), (np.zeros((8, 8, 2), np.uint8), "shape")):
            with pytest.raises(MirrorError, match=message):
                pipeline(frame)


# -- output ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, out, message", [
    ("astronaut.png", "missing/out.png", "folder {root}/missing does not exist"),
    ("clip", "missing/out.mp4", "folder {root}/missing does not exist"),
    ("clip", "a-file/out.mp4", ": {root}/a-file is not a folder"),
    ("folder", "a-file/out", "Not a directory"),
])
def test_out_into_a_missing_or_unusable_folder(tmp_path, models_dir, capsys, source, out, message):
    (tmp_path / "a-file").write_text("a file, not a folder")
    src = {"clip": still_clip(tmp_path / "clip.avi"), "folder": MEDIA}.get(source, MEDIA / source)
    code, lines = run_cli(capsys, "--source", src, "--effect", "female", "--out", tmp_path / out, "--models", models_dir)
    assert code == 1
    one_error(lines, message.format(root=tmp_path))
    assert {p.name for p in tmp_path.iterdir()} <= {"a-file", "clip.avi"}, "nothing written"


@pytest.mark.parametrize("out", ["out.avi", "out.png"])
def test_a_run_that_fails_leaves_nothing_half_written(tmp_path, models_dir, capsys, monkeypatch, out):
    """The third frame fails (a stand-in for a model or a disk failing mid-run): the error is one
    line, and the older file of that name is still there, untouched."""
    src = still_clip(tmp_path / "clip.avi") if out.endswith(".avi") else MEDIA / "astronaut.png"
    target = tmp_path / "result" / out
    target.parent.mkdir()
    target.write_bytes(b"the older result")
    seen = []

    def failing(self, work):
        seen.append(1)
        if len(seen) == 3 or out.endswith(".png"):
            raise OSError(28, "No space left on device")
        return real(self, work)

    real = Pipeline.back
    monkeypatch.setattr(Pipeline, "back", failing)
    code, lines = run_cli(capsys, "--source", src, "--effect", "female", "--out", target, "--models", models_dir)
    assert code == 1
    one_error(lines, "No space left on device")
    assert [p.name for p in target.parent.iterdir()] == [out] and target.read_bytes() == b"the older result"


def test_an_image_write_that_fails_leaves_nothing(tmp_path, monkeypatch):
    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", full)
    with pytest.raises(MirrorError, match=r"cannot write .*out.png \(\[Errno 28\] No space left on device\)"):
        output.write_image(tmp_path / "out.png", np.zeros((8, 8, 3), np.uint8))
    assert not list(tmp_path.iterdir())


# -- the console scripts, as a user runs them ------------------------------------------------------

def script(name: str, *args, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # as a user's shell has it
    done = subprocess.run([str(BIN / name), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)
    return done, time.monotonic() - start


@pytest.mark.parametrize("args, message", [
    (["--source", "nowhere.mp4", "--effect", "female", "--out", "o.mp4"], "no such file or folder: nowhere.mp4"),
    (["--source", "empty.mp4", "--effect", "female", "--out", "o.mp4"], "empty.mp4 is empty (0 bytes)"),
    (["--source", "noise.mp4", "--effect", "female", "--out", "o.mp4"], "cannot open video noise.mp4"),
    (["--source", "7", "--effect", "female", "--out", "o.mp4"], "cannot open camera 7"),
    (["--source", "text.jpg", "--effect", "female", "--out", "o.jpg"], "cannot decode image text.jpg"),
    (["--source", MEDIA / "obama.jpg", "--effect", "female", "--out", "gone/o.jpg"], "folder gone does not exist"),
    (["run", "--source", "x.jpg", "--overlay", "hat", "--out", "o.jpg"], "invalid choice: 'hat'"),
    (["models", "--frames", "3"], "unrecognized arguments: --frames 3"),
])
def test_mirror_errors_from_the_console_script(tmp_path, args, message):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "noise.mp4").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "text.jpg").write_text("not a picture")
    done, took = script("mirror", *args, cwd=tmp_path)
    assert done.returncode == 1 and took < 60
    assert done.stderr.startswith("mirror: error: ") and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4", "noise.mp4", "text.jpg"]


def test_mirror_train_errors_from_the_console_script(tmp_path):
    faces = tmp_path / "faces" / "female"
    faces.mkdir(parents=True)
    shutil.copy(MEDIA / "obama.jpg", faces)
    (tmp_path / "a-file").write_text("not a folder")
    for args, message in (
        (["train", "--kind", "gan", "--data", "x", "--run", "r"], "argument --kind: invalid choice: 'gan'"),
        # Before the (long) aligning, not after it.
        (["prepare", "faces", "--out", "a-file/cache"], "[Errno 20] Not a directory: 'a-file/cache'"),
    ):
        done, _ = script("mirror-train", *args, cwd=tmp_path)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(lines) == 1 and lines[0].startswith("mirror-train: error: ") and message in lines[0], done.stderr
        assert not (tmp_path / "cache").exists()


# -- training --------------------------------------------------------------------------------------

def test_checkpoint_write_killed_midway_keeps_the_previous(tmp_path):
    """kill -9 in the middle of writing a checkpoint: the one before loads, and the next write
    goes through (its stale temporary file is overwritten, then gone)."""
    path = tmp_path / "checkpoint.pt"
    code = f"""
import os, signal, torch
from pathlib import Path
from trainer import checkpoint
path = Path({str(path)!r})
checkpoint.save(path, {{"step": 1, "w": torch.ones(1000)}})
def dying(obj, f, *a, **k):
    f.write(b"\\0" * 4096)
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying
checkpoint.save(path, {{"step": 2, "w": torch.zeros(1000)}})
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    from trainer import checkpoint

    assert checkpoint.load(path)["step"] == 1
    assert (tmp_path / "checkpoint.pt.tmp").stat().st_size == 4096  # what the kill left
    checkpoint.save(path, {"step": 3})
    assert checkpoint.load(path)["step"] == 3 and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
