"""Sources that cannot be read, or stop: one line, and what was read is kept (docs/reliability.md)."""

from __future__ import annotations

import os
import shutil

import cv2
import pytest

from runtime_fixtures import MEDIA, FakeCamera, one_error, run_cli

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
