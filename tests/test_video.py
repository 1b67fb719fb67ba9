"""Video in, video out. There is no video among the test media: the clips here are built from a
still photo with synthetic motion (shift, scale, rotation), and say so."""

import cv2
import numpy as np
import pytest

from mirror.align import AlignSpec, Alignment
from mirror.cli import main
from mirror.landmarks import Landmarker
from mirror.source import open_source
from runtime_fixtures import photo, redness

FRAMES, FPS = 24, 12.0


def synthetic_clip(path, frames: int = FRAMES, fps: float = FPS) -> list[np.ndarray]:
    """astronaut.png (a frontal face) drifting, zooming and turning, as an MJPG clip; returns the
    frames as decoded from the file."""
    still = photo("astronaut.png")
    h, w = still.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(frames):
        t = i / (frames - 1)
        m = cv2.getRotationMatrix2D((w / 2, h / 3), 12 * np.sin(2 * np.pi * t), 1.0 + 0.15 * t)
        m[:, 2] += (40 * t - 20, 15 * np.sin(np.pi * t))
        writer.write(cv2.warpAffine(still, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    decoded = []
    while (frame := cap.read()[1]) is not None:
        decoded.append(frame)
    return decoded


def read_video(path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), []
    while (frame := cap.read()[1]) is not None:
        frames.append(frame)
    return frames, fps


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_keeps_frame_count_and_rate(tmp_path, models_dir, capsys, suffix):
    clip = tmp_path / "clip.avi"
    frames_in = synthetic_clip(clip)
    assert len(frames_in) == FRAMES
    out = tmp_path / f"out{suffix}"
    assert main(["--source", str(clip), "--effect", "female", "--out", str(out), "--models", str(models_dir)]) == 0
    assert f"{FRAMES} face(s) changed" in capsys.readouterr().err  # the face is found and changed in every frame
    frames_out, fps = read_video(out)
    assert len(frames_out) == FRAMES and fps == pytest.approx(FPS)
    assert frames_out[0].shape == frames_in[0].shape
    # The fixture generator reddens the face centre: check it where the face is, in a few frames.
    with Landmarker(video=False) as lm:
        for i in (0, FRAMES // 2, FRAMES - 1):
            (face,) = lm(frames_in[i])
            a = Alignment.from_landmarks(face.points, AlignSpec())
            assert redness(frames_out[i], a) - redness(frames_in[i], a) > 8


def test_source_reports_video_facts(tmp_path):
    clip = tmp_path / "clip.avi"
    synthetic_clip(clip, frames=5, fps=25)
    with open_source(clip) as source:
        assert source.kind == "video" and source.count == 5 and source.fps == pytest.approx(25)
        names = [f.name for f in source]
    assert names == [f"frame-{i:06d}" for i in range(5)]


def test_frames_limit_and_black_video(tmp_path, models_dir, capsys):
    clip = tmp_path / "black.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for _ in range(6):
        writer.write(np.zeros((120, 160, 3), np.uint8))
    writer.release()
    out = tmp_path / "out.webm"
    assert main(["--source", str(clip), "--age", "1", "--frames", "4", "--out", str(out), "--models", str(models_dir)]) == 0
    frames, _ = read_video(out)
    assert len(frames) == 4 and "0 face(s) changed" in capsys.readouterr().err
