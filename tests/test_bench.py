"""`mirror bench` with the fixture models on a few frames of the sample clip: every field there and
sane. Speed itself is what the benchmark shows, not what a test asserts."""

import json
import shutil

import pytest

from mirror.bench import SAMPLE
from mirror.cli import main

STAGES = {"capture", "landmarks", "align", "generator", "blend", "overlay"}
FEW = ["--frames", "4", "--warmup", "2"]


def bench(capsys, *args) -> tuple[int, str, str]:
    code = main(["bench", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def timed(r: dict) -> None:
    assert r["fps"] > 0 and 0 < r["latency_ms_p50"] <= r["latency_ms_p95"]
    assert set(r["stages_ms"]) == STAGES and all(v >= 0 for v in r["stages_ms"].values())
    assert r["stages_ms"]["landmarks"] > 0 and r["stages_ms"]["generator"] > 0
    assert r["cpu_ms_per_frame"] > 0


def test_json_has_every_field(models_dir, capsys):
    code, out, _ = bench(capsys, "--json", *FEW, "--models", models_dir)
    assert code == 0
    r = json.loads(out)
    timed(r)
    assert r["provider"] == "CPUExecutionProvider"
    assert 50 < r["peak_rss_mb"] < 4000
    assert r["faces"] == 1 and r["faces_changed"] == 4
    assert r["size"] == "640x480" and r["frames"] == 4 and r["mode"] == "overlapped"
    assert r["model"]["name"] == "gender-fixture" and not r["model"]["untrained"]
    assert "classic_fps" not in r and "serial" not in r


def test_compare_classic_adds_its_rate_and_the_speedup(models_dir, capsys):
    code, out, _ = bench(capsys, "--json", "--frames", "2", "--warmup", "1", "--compare-classic", "--models", models_dir)
    assert code == 0
    r = json.loads(out)
    assert r["classic_fps"] > 0 and r["speedup"] == pytest.approx(r["fps"] / r["classic_fps"], rel=0.02)
    timed(r["classic"])
    assert "ResNet-9" in r["classic"]["describe"]


def test_two_faces_a_larger_frame_serial_and_overlays(models_dir, capsys):
    code, out, _ = bench(capsys, "--json", *FEW, "--faces", "2", "--size", "1280x720", "--serial", "--overlays",
                         "--models", models_dir)
    assert code == 0
    r = json.loads(out)
    assert r["faces"] == 2 and r["size"] == "1280x720" and r["overlays"]
    assert r["stages_ms"]["overlay"] > 0.05  # drawn, not the empty stage
    timed(r["serial"])
    assert r["overlap_gain"] > 0


def test_table_names_an_untrained_model(models_dir, tmp_path, capsys):
    for f in models_dir.iterdir():
        shutil.copy(f, tmp_path)
    card = json.loads((tmp_path / "age-fixture.json").read_text())
    card["training"] = {"steps": 0}
    (tmp_path / "age-fixture.json").write_text(json.dumps(card))
    code, out, _ = bench(capsys, *FEW, "--model", "age-fixture", "--models", tmp_path)
    assert code == 0
    assert "age-fixture (age" in out and "UNTRAINED" in out and "timing only" in out
    assert "overlapped" in out and "peak memory" in out and "generator" in out


@pytest.mark.parametrize("args, message", [
    (["--model", "nope"], "no generator named 'nope'"),
    (["--source", "nowhere.mp4"], "no such clip: nowhere.mp4"),
    (["--source", SAMPLE.parent / "README.md"], "cannot open video"),
    (["--frames", "0"], "--frames must be at least 1"),
])
def test_errors_are_one_line(models_dir, capsys, args, message):
    code, _, err = bench(capsys, *args, "--models", models_dir)
    assert code == 1 and err.strip().startswith("mirror: error: ") and message in err, err


def test_no_generator_says_how_to_get_one(tmp_path, capsys):
    code, _, err = bench(capsys, "--models", tmp_path)
    assert code == 1 and "no gender or age model" in err and "docs/performance.md" in err
