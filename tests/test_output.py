"""Outputs that cannot be written: one line, nothing half-written, an older result untouched
(docs/reliability.md)."""

from __future__ import annotations

import numpy as np
import pytest

from mirror import output
from mirror.errors import MirrorError
from mirror.pipeline import Pipeline
from runtime_fixtures import MEDIA, one_error, run_cli, still_clip

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
