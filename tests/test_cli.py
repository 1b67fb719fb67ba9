"""The headless CLI: images, folders and videos in and out, and one-line errors."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirror.cli import main
from runtime_fixtures import MEDIA, photo, script

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_image_in_image_out(tmp_path, models_dir, capsys):
    out = tmp_path / "out.png"
    code, err = run_cli(capsys, "--source", MEDIA / "sample3.jpg", "--effect", "female", "--out", out, "--models", models_dir)
    assert code == 0 and "3 face(s) changed" in err
    image, result = photo("sample3.jpg"), cv2.imread(str(out))
    assert result.shape == image.shape and (result != image).any()


def test_run_subcommand_and_age_alone(tmp_path, models_dir, capsys):
    code, err = run_cli(capsys, "run", "--source", MEDIA / "obama.jpg", "--age", "-0.5", "--intensity", "0.7",
                        "--out", tmp_path, "--models", models_dir)
    assert code == 0 and "1 face(s) changed" in err
    assert cv2.imread(str(tmp_path / "obama.jpg")).shape == photo("obama.jpg").shape


def test_folder_keeps_names(tmp_path, models_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("astronaut.png", "biden.jpg"):
        shutil.copy(MEDIA / name, src)
    (src / "notes.txt").write_text("not an image")
    cv2.imwrite(str(src / "black.png"), np.zeros((64, 64), np.uint8))
    code, err = run_cli(capsys, "--source", src, "--effect", "swap", "--out", tmp_path / "out", "--models", models_dir)
    assert code == 0 and "3 frame(s)" in err and "2 face(s) changed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut.png", "biden.jpg", "black.png"]
    black = cv2.imread(str(tmp_path / "out" / "black.png"), cv2.IMREAD_UNCHANGED)
    assert black.shape == (64, 64) and not black.any()


@pytest.mark.parametrize("args, message", [
    (["--source", "nowhere.jpg", "--effect", "female", "--out", "o.jpg"], "no such file"),
    (["--source", "9", "--effect", "female", "--out", "o.avi"], "cannot open camera 9"),
    (["--source", MEDIA / "obama.jpg", "--age", "2", "--out", "o.jpg"], "--age must lie in [-1, 1]"),
    (["--source", MEDIA / "obama.jpg", "--effect", "old", "--out", "o.jpg"], "invalid choice"),
    (["--source", MEDIA / "obama.jpg", "--out", "o.jpg"], "nothing to do"),
    (["run", "--source", MEDIA / "obama.jpg", "--effect", "male"], "give --out PATH, --virtual-camera, or both"),
    (["--source", MEDIA / "obama.jpg", "--effect", "male", "--out", "o.txt"], "an image needs one of"),
    (["--source", MEDIA / "README.md", "--effect", "male", "--out", "o.avi"], "cannot open video"),
])
def test_errors_are_one_line(tmp_path, models_dir, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(capsys, *args, "--models", models_dir)
    lines = err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("mirror: error: ") and message in lines[0], err


def test_whole_stderr_is_one_line():
    """In a fresh process, nothing else (OpenCV's camera probing logs) reaches stderr either."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # not what main() set in-process
    done = subprocess.run([sys.executable, "-m", "mirror", "--source", "9", "--effect", "male", "--out", "o.avi"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1
    assert done.stderr == "mirror: error: cannot open camera 9\n"


def test_missing_models_are_one_line(tmp_path, capsys):
    code, err = run_cli(capsys, "--source", MEDIA / "obama.jpg", "--effect", "female", "--out", tmp_path / "o.jpg",
                        "--models", tmp_path)
    assert code == 1 and err.strip() == f"mirror: error: no gender model in {tmp_path} (export one with mirror-train export)"
    code, err = run_cli(capsys, "--source", MEDIA / "obama.jpg", "--age", "1", "--out", tmp_path / "o.jpg",
                        "--models", tmp_path / "nowhere")
    assert code == 1 and err.strip().splitlines() == [
        f"mirror: error: no age model in {tmp_path / 'nowhere'} (no such folder) (export one with mirror-train export)"]


def test_routing_without_a_command():
    """Options with an --out mean `run`; none, or options without --out, start the GUI."""
    from mirror.cli import route

    assert route([]) == ["gui"]
    assert route(["--source", "0"]) == ["gui", "--source", "0"]
    assert route(["--source", "a.jpg", "--out=b.jpg"]) == ["run", "--source", "a.jpg", "--out=b.jpg"]
    assert route(["--age", "1", "--out", "b.jpg"])[0] == "run"
    assert route(["models", "--models", "x"]) == ["models", "--models", "x"]
    assert route(["--help"]) == ["--help"]


def test_help_documents_the_forms(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "mirror run --source" in out and "start the GUI" in out and "options without a command mean `run`" in out


def test_models_command_lists_providers(models_dir, capsys):
    assert main(["models", "--models", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert "gender-fixture: gender" in out and "runs on CPUExecutionProvider" in out
    assert main(["models", "--models", str(REPO / "exported_models")]) == 0
    # Which slider the edit model runs, and how its card shapes it.
    assert ("edit: edit (serves gender; to male held to the face + 0.08 of the crop, x1.15; to female held to "
            "the face + 0.15 of the crop, x1.15), edit.onnx") in capsys.readouterr().out


def test_runtime_never_imports_torch(tmp_path, models_dir):
    """The CLI run end to end in a fresh interpreter: neither torch nor onnx (train-only) loads."""
    code = (
        "import sys\n"
        "from mirror.cli import main\n"
        f"assert main(['--source', {str(MEDIA / 'astronaut.png')!r}, '--effect', 'female', '--age', '0.3',\n"
        f"             '--out', {str(tmp_path / 'o.png')!r}, '--models', {str(models_dir)!r}]) == 0\n"
        "import mirror.pipeline, mirror.models, mirror.translate, mirror.blend, mirror.source, mirror.output\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'torchvision')]\n"
        "print('LOADED', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED []" in done.stdout and (tmp_path / "o.png").exists()


def test_overlay_flags(tmp_path, models_dir, capsys):
    """--overlay NAME (repeatable, or all) draws on the faces, scaled by --overlay-strength; the
    debug view alone is something to do."""
    from mirror.cli import overlay_names
    from mirror.overlay import DEFAULT

    assert overlay_names(["all"]) == DEFAULT and overlay_names(["all", "debug"]) == {*DEFAULT, "debug"}
    src = MEDIA / "astronaut.png"
    outs = {}
    for name, extra in (("plain", []), ("made-up", ["--overlay", "lips", "--overlay", "eyeliner"]),
                        ("none", ["--overlay", "all", "--overlay-strength", "0"])):
        outs[name] = tmp_path / f"{name}.png"
        code, err = run_cli(capsys, "--source", src, "--effect", "female", *extra, "--out", outs[name],
                            "--models", models_dir)
        assert code == 0 and "1 face(s) changed" in err, err
    plain, made_up, none = (cv2.imread(str(outs[n])) for n in ("plain", "made-up", "none"))
    assert np.array_equal(plain, none), "strength 0 draws nothing"
    changed = (plain != made_up).any(2)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 200 and 150 < xs.mean() < 300 and 50 < ys.mean() < 200, "on the astronaut's face"

    code, err = run_cli(capsys, "--source", src, "--overlay", "debug", "--out", tmp_path / "debug.png",
                        "--models", models_dir)
    assert code == 0 and "0 face(s) changed" in err
    assert (cv2.imread(str(tmp_path / "debug.png")) != photo("astronaut.png")).any(), "the mesh is drawn"


@pytest.mark.parametrize("args, message", [
    (["--effect", "female", "--overlay", "hair"], "invalid choice: 'hair'"),
    (["--effect", "female", "--overlay", "lips", "--overlay-strength", "2"], "--overlay-strength must lie in [0, 1]"),
    (["--overlay", "lips"], "nothing to do: give --effect and/or a non-zero --age (or --overlay debug)"),
])
def test_overlay_flag_errors(tmp_path, models_dir, capsys, args, message):
    code, err = run_cli(capsys, "--source", MEDIA / "obama.jpg", *args, "--out", tmp_path / "o.jpg", "--models", models_dir)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("mirror: error: ") and message in err, err
    assert not (tmp_path / "o.jpg").exists()


# -- the console script, as a user runs it (docs/reliability.md) ----------------------------------

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
