"""Nothing lost, round 2 (issue 13): writes that cannot lie, inputs read honestly, cards that cannot
crash. Each class is tested at its root (the shared writer, the source reader, the card reader);
docs/reliability.md lists every case and what the user sees.

There is no real video here: the clips are built from the test photos, and their motion (if any)
is synthetic."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from PIL import Image

from mirror import cli, output
from mirror.models import TASK_STAMP, Registry
from mirror.pipeline import Pipeline
from mirror.source import read_image
from runtime_fixtures import MEDIA, export_generator, photo
from runtime_fixtures import BIN, FakeCamera, good_gender, one_error, run_cli, still_clip


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    return n


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# -- output: complete or absent ---------------------------------------------------------------------

class FullDisk:
    """cv2.VideoWriter as it behaves when the disk fills: every write 'succeeds', and the file on
    disk ends where the space ran out (here: half of it)."""

    real = cv2.VideoWriter

    def __init__(self, path, *args):
        self.path, self.video = path, self.real(path, *args)

    def __getattr__(self, name):
        return getattr(self.video, name)

    def release(self):
        self.video.release()
        with open(self.path, "r+b") as f:
            f.truncate(os.path.getsize(self.path) // 2)


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_a_video_the_disk_cut_short_never_replaces_the_older(tmp_path, models_dir, capsys, monkeypatch, suffix):
    clip = still_clip(tmp_path / "clip.avi", frames=6)
    out = tmp_path / "result" / f"out{suffix}"
    out.parent.mkdir()
    out.write_bytes(b"the older result")
    monkeypatch.setattr(output.cv2, "VideoWriter", FullDisk)
    code, lines = run_cli(capsys, "--source", clip, "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 1
    one_error(lines, f"cannot write {out}: the video written holds ")
    assert "of its 6 frames" in lines[-1] and "MB free on its disk" in lines[-1]
    assert out.read_bytes() == b"the older result" and [p.name for p in out.parent.iterdir()] == [out.name]


def test_two_runs_on_one_out_do_not_share_a_partial_file(tmp_path):
    """Two writers of the same --out at once: each writes its own temporary file, so the last to
    finish leaves a whole video (with one shared name, the second would truncate the first's)."""
    out = tmp_path / "out.avi"
    image = cv2.resize(photo("obama.jpg"), (160, 200))
    first, second = output.VideoWriter(out, 10), output.VideoWriter(out, 10)
    assert first.part != second.part and first.part.parent == out.parent and first.part.name.startswith(".")
    for i in range(7):
        second.write(None, image)
        if i < 4:
            first.write(None, image)
    first.close()
    assert frame_count(out) == 4
    second.close()
    assert frame_count(out) == 7 and not hidden(tmp_path)


@pytest.mark.parametrize("how", ["its folder", "relative path", "symbolic link", "hard link", "folder link"])
def test_out_naming_the_input_is_refused(tmp_path, models_dir, capsys, monkeypatch, how):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(MEDIA / "obama.jpg", photos)
    shutil.copy(MEDIA / "biden.jpg", photos)
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    monkeypatch.chdir(tmp_path)
    source, out = {
        "its folder": (photos / "obama.jpg", photos),
        "relative path": (photos / "obama.jpg", Path("photos/../photos/obama.jpg")),
        "symbolic link": (photos / "obama.jpg", tmp_path / "link.jpg"),
        "hard link": (photos / "obama.jpg", tmp_path / "hard.jpg"),
        "folder link": (photos, tmp_path / "also-photos"),
    }[how]
    (tmp_path / "link.jpg").symlink_to(photos / "obama.jpg")
    os.link(photos / "obama.jpg", tmp_path / "hard.jpg")
    (tmp_path / "also-photos").symlink_to(photos)
    code, lines = run_cli(capsys, "--source", source, "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 1
    one_error(lines, "would overwrite the input")
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def interrupt_on(frame: int, monkeypatch, signal_kind=KeyboardInterrupt):
    """The pipeline is interrupted (Ctrl-C) while it works on frame `frame` (1-based)."""
    real, seen = Pipeline.back, []

    def back(self, work):
        seen.append(1)
        if len(seen) == frame:
            raise signal_kind()
        return real(self, work)

    monkeypatch.setattr(Pipeline, "back", back)


def test_ctrl_c_during_a_video_keeps_the_frames_aside_and_the_older_file(tmp_path, models_dir, capsys, monkeypatch):
    clip = still_clip(tmp_path / "clip.avi", frames=6)
    out = tmp_path / "result" / "out.avi"
    out.parent.mkdir()
    out.write_bytes(b"the older, complete result")
    interrupt_on(4, monkeypatch)
    code, lines = run_cli(capsys, "--source", clip, "--effect", "female", "--out", out, "--models", models_dir)
    kept = out.with_name("out.interrupted.avi")
    assert code == 130
    assert lines[-1] == f"mirror: stopped after 3 of 6 frame(s): the first 3 frame(s) are in {kept}", lines
    assert out.read_bytes() == b"the older, complete result" and frame_count(kept) == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.avi", "out.interrupted.avi"]
    # Again: the first interrupted file is not overwritten either.
    interrupt_on(4, monkeypatch)
    code, lines = run_cli(capsys, "--source", clip, "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 130 and lines[-1].endswith("out.interrupted-2.avi") and frame_count(kept) == 3


def test_ctrl_c_in_a_folder_keeps_the_complete_images(tmp_path, models_dir, capsys, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "biden.jpg", "obama.jpg"):
        shutil.copy(MEDIA / name, photos)
    interrupt_on(3, monkeypatch)
    code, lines = run_cli(capsys, "--source", photos, "--effect", "female", "--out", tmp_path / "out",
                          "--models", models_dir)
    assert code == 130 and lines[-1].endswith(f"2 of the 3 images are in {tmp_path / 'out'}, each complete")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut.png", "biden.jpg"]
    assert read_image(tmp_path / "out" / "biden.jpg").shape == photo("biden.jpg").shape


def test_ctrl_c_ends_a_camera_run_with_its_video_under_its_name(tmp_path, models_dir, capsys, monkeypatch):
    """A camera has no end of its own: Ctrl-C is how a camera run ends, and its video is complete."""
    import mirror.source

    monkeypatch.setattr(mirror.source, "open_source", lambda spec: FakeCamera(10))
    interrupt_on(4, monkeypatch)
    out = tmp_path / "camera.avi"
    code, lines = run_cli(capsys, "--source", "0", "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 0 and "mirror: stopped" in lines and f"3 frame(s) -> {out}" in lines[-1]
    assert frame_count(out) == 3 and not hidden(tmp_path)


def test_sigterm_cleans_up_and_exits_143(tmp_path, models_dir):
    """The console script, terminated as a service manager would while it writes a video."""
    clip = still_clip(tmp_path / "clip.avi", frames=400)
    out = tmp_path / "out.avi"
    out.write_bytes(b"the older result")
    run = subprocess.Popen([str(BIN / "mirror"), "--source", str(clip), "--effect", "female", "--out", str(out),
                            "--models", str(models_dir)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    # Writing has begun: the partial file has grown past what opening it wrote (on a busy machine
    # the first frame can come seconds after the file is opened).
    start, first = time.monotonic(), None
    while run.poll() is None and time.monotonic() - start < 120:
        size = sum((tmp_path / name).stat().st_size for name in hidden(tmp_path) if (tmp_path / name).exists())
        if first is None and hidden(tmp_path):
            first = size
        elif first is not None and size > first:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    err = run.communicate(timeout=120)[1]
    assert run.returncode == 143 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("mirror: terminated after "), err
    assert out.read_bytes() == b"the older result" and not hidden(tmp_path)
    kept = tmp_path / "out.interrupted.avi"
    assert f"frame(s) are in {kept}" in err and frame_count(kept) >= 1


# -- inputs: say what was read ----------------------------------------------------------------------

def damaged_clip(path: Path, frames: int, damaged: range) -> Path:
    """An MJPG clip of obama.jpg drifting (synthetic motion), with the JPEG data of some frames
    overwritten, as a damaged file has them."""
    still = cv2.resize(photo("obama.jpg"), (320, 400))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 400))
    for i in range(frames):
        writer.write(np.roll(still, i, axis=1))
    writer.release()
    data = bytearray(path.read_bytes())
    chunks = [i for i in range(len(data) - 4) if data[i:i + 4] == b"00dc"][:frames]  # the frames, in order
    for k in damaged:
        data[chunks[k] + 8:chunks[k] + 408] = bytes(400)
    path.write_bytes(bytes(data))
    return path


def test_damaged_frames_are_passed_over_and_counted(tmp_path, models_dir, capsys):
    clip = damaged_clip(tmp_path / "clip.avi", 30, range(10, 14))
    out = tmp_path / "out.avi"
    code, lines = run_cli(capsys, "--source", clip, "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 0 and "26 frame(s)" in lines[-1] and frame_count(out) == 26
    assert f"mirror: warning: {clip}: read 26 of the 30 frames it announces, 4 unreadable frame(s) passed over" in lines


def test_exif_orientation_is_honoured(tmp_path, models_dir, capsys):
    """A phone photo: the pixels stored sideways, and the EXIF tag that says to turn them."""
    upright = Image.open(MEDIA / "obama.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == photo("obama.jpg").shape
    assert np.abs(image.astype(int) - photo("obama.jpg")).mean() < 4  # the same picture, upright
    code, lines = run_cli(capsys, "--source", tmp_path / "phone.jpg", "--effect", "female", "--out",
                          tmp_path / "out.jpg", "--models", models_dir)
    assert code == 0 and "1 face(s) changed" in lines[-1]
    assert read_image(tmp_path / "out.jpg").shape == photo("obama.jpg").shape


def moving_gif(path: Path, size: tuple[int, int], frames: int = 3) -> Path:
    """obama.jpg turning a little (synthetic motion), as an animated GIF."""
    face = Image.open(MEDIA / "obama.jpg").convert("RGB").resize(size)
    still = [face.rotate(3 * i) for i in range(frames)]
    still[0].save(path, save_all=True, append_images=still[1:], duration=100)
    return path


def test_odd_frame_sizes_are_said(tmp_path, models_dir, capsys):
    """The video encoders store even sizes only; a clip of odd size says what it loses."""
    clip = moving_gif(tmp_path / "odd.gif", (321, 401))
    out = tmp_path / "out.avi"
    code, lines = run_cli(capsys, "--source", clip, "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 0 and "3 face(s) changed" in lines[-1]
    assert (f"mirror: warning: {out}: video is stored at even sizes: the 321x401 frames are written as 320x400 "
            "(the last column or row left out)") in lines
    assert cv2.VideoCapture(str(out)).read()[1].shape == (400, 320, 3) and frame_count(out) == 3


def test_gifs_one_frame_is_an_image_more_are_a_clip(tmp_path, models_dir, capsys):
    Image.open(MEDIA / "obama.jpg").convert("RGB").save(tmp_path / "still.gif")
    (tmp_path / "out").mkdir()
    code, lines = run_cli(capsys, "--source", tmp_path / "still.gif", "--effect", "female", "--out",
                          tmp_path / "out", "--models", models_dir)
    assert code == 0 and "1 face(s) changed" in lines[-1]
    assert read_image(tmp_path / "out" / "still.png").shape == photo("obama.jpg").shape
    clip = moving_gif(tmp_path / "moving.gif", (320, 400))
    code, lines = run_cli(capsys, "--source", clip, "--effect", "female", "--out", tmp_path / "moving.avi",
                          "--models", models_dir)
    assert code == 0 and "3 face(s) changed" in lines[-1] and frame_count(tmp_path / "moving.avi") == 3


def test_an_image_over_opencvs_pixel_limit_says_so(tmp_path):
    """OpenCV refuses images of more pixels than its limit (1 Gpx by default; the environment sets
    it): the message names the size and the limit, not "damaged". A low limit stands in for a
    huge photo."""
    env = {**os.environ, "OPENCV_IO_MAX_IMAGE_PIXELS": "100000"}
    done = subprocess.run([str(BIN / "mirror"), "--source", str(MEDIA / "obama.jpg"), "--effect", "female",
                           "--out", "o.jpg"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert ("910x1137 is 1,034,670 pixels, more than OpenCV reads: 100,000; "
            "OPENCV_IO_MAX_IMAGE_PIXELS=1034670 raises the limit") in done.stderr


# -- model cards: one bad card hides nothing --------------------------------------------------------

def edit(card: dict, path: str, value) -> dict:
    """The card with `path` ("align.margin") set to `value` (or removed, for ...)."""
    card = json.loads(json.dumps(card))
    *parents, last = path.split(".")
    node = card
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return card


BAD_CARDS = {
    "null-inputs": (("inputs", None), "'inputs' (must map names to shapes, got null)"),
    "number-shape": (("inputs.image", 5), "'inputs' (must map names to shapes (lists of sizes), got \"image\": 5)"),
    "negative-margin": (("align.margin", -0.1), "'align.margin' (must be a number in [0, 2], got -0.1)"),
    "text-size": (("align.size", "128"), "'align.size' (must be a whole number in [16, 1024], got \"128\")"),
    "null-align": (("align", None), "'align' (must be an object with size, margin, got null)"),
    "no-margin": (("align.margin", ...), "'align.margin' (missing)"),
    "list-task": (("task", ["age"]), "unknown task ['age']"),
    "true-span": (("age_span_years", True), "'age_span_years' (must be a number in [1, 200], got true)"),
    "zero-name": (("name", 0), "'name' (must be a non-empty string, got 0)"),
}
RAW_CARDS = {
    "nan-margin": ('"margin": 0.1', '"margin": NaN', "unreadable model card (NaN is not a JSON number)"),
    "deep": (None, "[" * 100_000 + "]" * 100_000, "unreadable model card (maximum recursion depth exceeded"),
    "a-list": (None, "[1, 2]", "unreadable model card (a JSON list, not an object)"),
    "huge": (None, " " * (1 << 21) + "{}", "unreadable model card (2,097,154 bytes, more than a card's 1,048,576)"),
}


@pytest.fixture
def bad_cards(tmp_path, models_dir) -> Path:
    """The good gender model beside an age model under each bad card."""
    folder = good_gender(tmp_path, models_dir)
    export_generator(folder, "template", "age")
    card = json.loads((folder / "template.json").read_text())
    for name, ((path, value), _) in BAD_CARDS.items():
        (folder / f"{name}.json").write_text(json.dumps(edit({**card, "name": name}, path, value)))
    for name, (old, new, _) in RAW_CARDS.items():
        text = json.dumps({**card, "name": name}).replace(old, new) if old else new
        (folder / f"{name}.json").write_text(text)
    for name in (*BAD_CARDS, *RAW_CARDS):
        shutil.copy(folder / "template.onnx", folder / f"{name}.onnx")
    for ext in (".onnx", ".json"):
        (folder / f"template{ext}").unlink()
    return folder


def test_bad_cards_are_one_line_each_and_the_good_model_loads(bad_cards, capsys):
    registry = Registry(bad_cards)
    assert list(registry.models) == ["gender-fixture"]
    problems = {Path(str(p).split(": ")[0]).stem: str(p) for p in registry.problems}
    assert problems.keys() == {*BAD_CARDS, *RAW_CARDS}
    for name, message in [*((n, m) for n, (_, m) in BAD_CARDS.items()), *((n, m) for n, (*_, m) in RAW_CARDS.items())]:
        assert problems[name].startswith(f"{bad_cards / name}.json: ") and message in problems[name], problems[name]
        assert "\n" not in problems[name]
    # `mirror models` and `mirror run` go on with the good one.
    assert cli.main(["models", "--models", str(bad_cards)]) == 0
    out = capsys.readouterr().out
    assert "gender-fixture: gender" in out and out.count("unusable: ") == len(problems)


def test_a_graph_stamped_for_another_task_is_refused(tmp_path, models_dir):
    """A gender graph saved as an age model: same inputs and outputs, so only the stamp the exporter
    writes into the ONNX metadata tells them apart. A graph without a stamp loads on its card's word."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name, stamp in (("age", "gender"), ("unstamped-age", None), ("stamped-age", "age")):
        export_generator(folder, name, "age")
        if stamp:
            model = onnx.load(str(folder / f"{name}.onnx"))
            onnx.helper.set_model_props(model, {TASK_STAMP: stamp})
            onnx.save(model, str(folder / f"{name}.onnx"))
    registry = Registry(folder)
    assert sorted(registry.models) == ["stamped-age", "unstamped-age"]
    (problem,) = map(str, registry.problems)
    assert problem == f"{folder / 'age.onnx'}: the graph is a gender model (mirror.task in its metadata), its card says age"
