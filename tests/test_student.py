"""The teacher-student path on the real teacher: synthesize a handful of identities with
MobileStyleGAN, resume a killed synthesis exactly, keep every image of an identity on the source's
alignment, train the student a few steps, export it, and run it in the runtime with the alpha paste."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from mirror import blend
from mirror.align import Alignment, AlignSpec
from mirror.errors import MirrorError
from mirror.landmarks import Landmarker
from mirror.models import Registry
from mirror.pipeline import Pipeline, Settings
from mirror.translate import Effect
from test_trainer import MEDIA, REPO, run_cli, utk_sample
from trainer.export import to_onnx
from trainer.models import ARCHS, Student, generator
from trainer.synthesize import STORE, Settings as SynthSettings, Synthesizer, stored_alignment, summary

pytest.importorskip("openvino")
SMALL = SynthSettings(identities=9, probe=8, threads=2)


def synthesizer(out: Path, settings: SynthSettings = SMALL) -> Synthesizer:
    return Synthesizer(out, settings, REPO / "exported_models")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "pairs"
    result = synthesizer(out).run()
    assert result["identities"] == 9 and result["with_face"] >= 8, result
    return out


def test_synthesize_resumes_a_killed_run_exactly(pairs, monkeypatch):
    done = pairs / "pairs" / "000008.npz"
    before = dict(np.load(done))
    done.unlink()  # killed before the last identity was written...
    (pairs / "pairs" / ".000008.999.tmp.npz").write_bytes(b"half a file")  # ...in the middle of a write
    renders = []
    from trainer.teacher import Teacher

    real = Teacher.render
    monkeypatch.setattr(Teacher, "render", lambda self, w: renders.append(1) or real(self, w))
    assert synthesizer(pairs).run()["identities"] == 9
    after = dict(np.load(done))
    # Only identity 8's edits were rendered again (its source was kept), and to the same pixels.
    assert len(renders) == len(before.get("conditions", [])) and renders
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    renders.clear()
    synthesizer(pairs).run()
    assert not renders  # nothing left to do: the teacher is not even started


def test_a_teacher_held_to_one_thread_is_not_pinned_to_a_core():
    from trainer.teacher import Teacher

    # Pinned, every one-thread render ran on core 0: two processes side by side got half a core each.
    synthesis = Teacher(1).synthesis
    assert synthesis.get_property("INFERENCE_NUM_THREADS") == 1
    assert synthesis.get_property("ENABLE_CPU_PINNING") is False


def test_other_settings_do_not_mix_into_a_folder(pairs, capsys):
    code, _, err = run_cli(capsys, "synthesize", "--out", pairs, "--identities", "9", "--truncation", "0.5")
    assert code == 2 and err.count("\n") == 1 and "truncation" in err and "other settings" in err


def test_every_image_of_an_identity_is_cut_by_the_source_alignment(pairs):
    syn = synthesizer(pairs)
    syn.mean = np.load(pairs / "mean.npy")
    d = dict(np.load(pairs / "directions.npz"))
    i = next(int(p.stem) for p in sorted((pairs / "pairs").glob("0*.npz")) if np.load(p)["found"])
    rec = dict(np.load(pairs / "pairs" / f"{i:06d}.npz"))
    # The one transform is the source render's own landmarks' ...
    np.testing.assert_allclose(rec["matrix"], stored_alignment(rec["points"]).matrix)
    teacher, looker = syn.tools()
    source = dict(np.load(pairs / "sources" / f"{i:06d}.npz"))
    align = Alignment(rec["matrix"], STORE)
    for k, (w, _) in enumerate(syn.edits(i, source, d), 1):
        image = teacher.render(w)
        # ... and each edit is cut by it, not by its own landmarks, so a longer jaw or more hair
        # stays in the pair instead of being aligned away.
        np.testing.assert_array_equal(rec["crops"][k], align.crop(image, cv2.BORDER_REFLECT_101))
        own = looker.landmarks(image)
        if own is not None:
            assert not np.allclose(stored_alignment(own).matrix, rec["matrix"])
    looker.close()


def test_an_age_edit_that_changes_the_gender_is_dropped(pairs):
    syn = synthesizer(pairs)
    syn.mean = np.load(pairs / "mean.npy")
    d = dict(np.load(pairs / "directions.npz"))
    done = [(int(p.stem), dict(np.load(p))) for p in sorted((pairs / "pairs").glob("0*.npz"))]
    i, rec = next((i, r) for i, r in done if r["found"] and r["kept"][0])  # its gender edit was kept
    source = syn.source(i)
    teacher, looker = syn.tools()
    w, cond = syn.edits(i, source, d)[0]
    image = teacher.render(w)  # our classifier reads the other gender in it
    align = Alignment(rec["matrix"], STORE)
    assert syn.judge_edit(image, source, cond, align) == ""
    # The same render offered as an age edit (gender not asked) is dropped for the gender it changed...
    aged = np.array([float(source["female"] > 0.5), 0.0, 0.5], np.float32)
    assert syn.judge_edit(image, source, aged, align) == "gender changed"
    # ... which a folder made with the raw age direction never checked.
    raw = synthesizer(pairs, replace(SMALL, age_keeps_gender=False))
    raw.looker = looker
    assert raw.judge_edit(image, source, aged, align) != "gender changed"
    looker.close()


def test_a_folder_made_before_age_kept_the_gender_resumes_with_raw_age(pairs, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(pairs, old)
    settings = json.loads((old / "settings.json").read_text())
    del settings["age_keeps_gender"]
    (old / "settings.json").write_text(json.dumps(settings))
    code, _, err = run_cli(capsys, "synthesize", "--out", old, "--identities", "9", "--probe", "8")
    assert code == 2 and err.count("\n") == 1 and "age_keeps_gender: False there, True now" in err
    code, out, _ = run_cli(capsys, "synthesize", "--out", old, "--identities", "9", "--probe", "8", "--raw-age")
    assert code == 0 and json.loads(out)["identities"] == 9


def test_summary_counts_kept_and_dropped(pairs):
    s = summary(pairs)
    kept = sum(int(np.load(p)["kept"].sum()) for p in (pairs / "pairs").glob("0*.npz") if np.load(p)["found"])
    assert s["pairs_kept"] == kept and s["identities"] == 9
    edits = sum(len(np.load(p)["kept"]) for p in (pairs / "pairs").glob("0*.npz") if np.load(p)["found"])
    assert kept + sum(s["dropped"].values()) == edits


@pytest.fixture(scope="module")
def student(pairs, tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    from trainer.cli import main

    assert main(["prepare", str(utk_sample(root / "utk", per_group=3)), "--out", str(root / "real"),
                 "--size", "64", "--margin", "0.3", "--val-fraction", "0.5"]) == 0
    # A large learning rate: four steps must move the student off "no change", where it starts.
    assert main(["train", "--kind", "student", "--data", str(pairs), "--run", str(root / "run"), "--arch", "unet16",
                 "--size", "64", "--margin", "0.3", "--steps", "4", "--batch", "4", "--every", "2", "--threads", "1",
                 "--lr", "0.02"]) == 0
    models = root / "models"
    assert main(["export", str(root / "run"), "--out", str(models / "edit"), "--data", str(root / "real"),
                 "--calibration", "8", "--parity", "4", "--latency-runs", "3"]) == 0
    for f in ("attributes.onnx", "attributes.json"):
        (models / f).write_bytes((REPO / "exported_models" / f).read_bytes())
    return models, root / "real"


@pytest.mark.parametrize("arch", [a for a, (cls, _) in ARCHS.items() if cls is Student])
def test_student_starts_at_no_change_and_matches_its_onnx(arch, tmp_path):
    torch.manual_seed(0)
    g = generator(arch, cond=3).eval()
    x, c = torch.rand(2, 3, 64, 64) * 2 - 1, torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.0, -1.0]])
    out, alpha = g(x, c)
    assert out.shape == x.shape and alpha.shape == (2, 1, 64, 64)
    assert (out - x).abs().max() < 0.01 and 0.05 < alpha.mean() < 0.2  # unchanged, but free to move
    example = {"image": x.numpy(), "condition": c.numpy()}
    to_onnx(g, example, "edit", tmp_path / "s.onnx")
    got = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"]).run(None, example)
    assert np.abs(got[0] - out.detach().numpy()).max() < 1e-4 and np.abs(got[1] - alpha.detach().numpy()).max() < 1e-4


def test_student_card_says_alpha_and_the_teacher_terms(student):
    card = json.loads((student[0] / "edit.json").read_text())
    assert card["task"] == "edit" and card["paste"] == "alpha" and card["serves"] == ["gender", "age"]
    assert card["outputs"]["alpha"] == [-1, 1, 64, 64] and card["inputs"]["condition"] == [-1, 3]
    assert card["align"] == {"size": 64, "margin": 0.3}
    assert "non-commercial" in card["license"] and "FFHQ" in card["license"]
    assert "teacher pairs" in card["training"]["data"]


def test_one_pass_serves_both_sliders(student):
    registry = Registry(student[0])
    pipeline = Pipeline(registry, Settings(Effect("female", age=0.5)), video=False)
    steps = pipeline.translator.plan(Effect("female", age=0.5))
    assert [(m.task, what) for m, what in steps] == [("edit", ("gender", "age"))]


def test_an_edit_model_can_serve_one_slider_beside_the_others_own_model(student, classifier, tmp_path, capsys):
    """Exported with --serves gender, the student runs the gender slider and the shipped age model
    the age slider, each face through both; --serves on a model of one task is a one-line error."""
    models = tmp_path / "models"
    code, _, err = run_cli(capsys, "export", student[0].parent / "run", "--out", models / "edit", "--data", student[1],
                           "--calibration", "8", "--parity", "4", "--latency-runs", "1", "--serves", "gender")
    assert code == 0, err
    assert json.loads((models / "edit.json").read_text())["serves"] == ["gender"]
    for f in ("age.onnx", "age.json"):
        (models / f).write_bytes((REPO / "exported_models" / f).read_bytes())
    effect = Effect("female", age=0.5)
    with Pipeline(Registry(models), Settings(effect), video=False) as pipeline:
        steps = pipeline.translator.plan(effect)
        assert [(m.task, what) for m, what in steps] == [("edit", ("gender",)), ("age", ("age",))]
        image = cv2.imread(str(MEDIA / "obama.jpg"))
        assert pipeline(image).faces[0].changed
    code, _, err = run_cli(capsys, "export", classifier.parent, "--out", tmp_path / "x", "--serves", "age")
    assert code == 2 and "--serves" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def shaped_and_plain(student, tmp_path: Path, capsys, shaping: dict, kept: dict | None = None) -> tuple[Path, Path, dict]:
    """The test student exported with card-shaping flags (`shaping` and `kept`: field -> value), and
    beside it the same model whose card lacks the `shaping` fields: (plain folder, shaped folder,
    the shaped card, which says every field as asked)."""
    shaped, plain = tmp_path / "shaped", tmp_path / "plain"
    kept = kept or {}
    flags = [x for k, v in {**shaping, **kept}.items() for x in ("--" + k.replace("_", "-"), str(v))]
    code, _, err = run_cli(capsys, "export", student[0].parent / "run", "--out", shaped / "edit", "--data", student[1],
                           "--calibration", "8", "--parity", "4", "--latency-runs", "1", *flags)
    assert code == 0, err
    card = json.loads((shaped / "edit.json").read_text())
    assert all(card[k] == v for k, v in {**shaping, **kept}.items()), card
    plain.mkdir()
    shutil.copy(shaped / "edit.onnx", plain / "edit.onnx")
    (plain / "edit.json").write_text(json.dumps({k: v for k, v in card.items() if k not in shaping}))
    return plain, shaped, card


def astronaut(spec) -> tuple[np.ndarray, list[np.ndarray]]:
    """The astronaut photo's face cut at `spec`: (a batch of one crop, its landmarks in the crop)."""
    image = cv2.imread(str(MEDIA / "astronaut.png"))
    with Landmarker(video=False) as lm:
        (face,) = lm(image)
    a = Alignment.from_landmarks(face.points, spec)
    return a.crop(image)[None], [a.to_crop(face.points)]


def test_gender_edits_are_held_to_the_face_when_the_card_says(student, classifier, tmp_path, capsys):
    """Exported with --male-reach and --female-reach, an edit model's "to male" ("to female")
    changes only the face grown by that much of the crop, below the chin not past the face (no
    hair painted on a collar) and "to female" less and less beside the jaw, in the runtime and in
    what the judges see; the model itself is
    as before; a reach on a model of one task, or out of range, is a one-line error."""
    from mirror.translate import Translator
    from trainer.evaluate import Runner

    free, held, card = shaped_and_plain(student, tmp_path, capsys, {"male_reach": 0.08, "female_reach": 0.15})
    reaches = {"male": card["male_reach"], "female": card["female_reach"]}
    plain_t, held_t = Translator(Registry(free)), Translator(Registry(held))
    spec = plain_t.spec(Effect("male"))
    crop, points = astronaut(spec)
    runners = [Runner(f / "edit.onnx", f / "edit.json") for f in (free, held)]
    inputs = runners[0].inputs(crop).astype(int)
    chin = int(points[0][:, 1].max())
    for gender, reach in reaches.items():
        near = blend.grown_face(points[0], spec.size, reach, jaw=gender == "male")
        far = near == 0  # (its soft edge lets a thousandth of a large change through)
        assert far.mean() > 0.2
        assert near[chin + 6:].max() < 0.01  # not grown below the chin (past its feather)...
        assert (near > 0.5).sum() > 1.2 * (blend.hull(points[0], spec.size) > 127).sum()  # ...but above it
        plain = plain_t(crop, spec, Effect(gender), None, points).images[0] - crop[0]
        kept = held_t(crop, spec, Effect(gender), None, points).images[0] - crop[0]
        assert np.abs(plain[far]).mean() > 0.5  # the model changes the hair past the face...
        assert np.abs(kept[far]).max() < 0.05  # ...which the card's reach keeps
        # Above the eyes the change keeps the source's hue: past the face for "to male" (the
        # glint it paints on hair), inside it for "to female" (the green it paints on brows).
        eyes = points[0][[33, 263], 1].mean()
        rows = np.arange(spec.size)[:, None]
        below = (near > 0.999) & (rows > eyes + 2)
        np.testing.assert_allclose(kept[below], plain[below], atol=0.05)
        face = blend.grown_face(points[0], spec.size, 0.0)
        held_hue = (near > 0.5) & (rows < eyes - spec.size / 16) & ((face > 0.98) if gender == "female" else (face < 0.02))
        lab = [cv2.cvtColor(np.clip(crop[0] + d, 0, 255).astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
               for d in (0 * plain, plain, kept)]
        hue = [np.abs(x[..., 1:] - lab[0][..., 1:])[held_hue].mean() for x in lab[1:]]
        assert hue[0] > 0.5 and hue[1] < 0.2 * hue[0], (gender, hue, held_hue.sum())  # (Lab's float tables: ~0.1)
        target = np.full(1, float(gender == "female"))
        shown = [r.shown(crop, np.stack(points), r.condition("gender", target)) for r in runners]
        small = cv2.resize(near, (runners[0].size, runners[0].size), interpolation=cv2.INTER_AREA)[None]
        assert np.abs(shown[0] - inputs)[small < 1e-3].mean() > 0.5
        assert np.abs(shown[1] - inputs)[small < 1e-3].max() <= 1
    # "To female" grows less and less from the eyes down beside the jaw, where "to male" grows its jaw.
    mouth = int(points[0][[61, 291], 1].mean())
    wide = [(blend.grown_face(points[0], spec.size, 0.15, jaw)[mouth] > 0.5).sum() for jaw in (True, False)]
    assert wide[0] > wide[1] + 0.1 * spec.size, wide
    for flag in ("--male-reach", "--female-reach"):
        for run, value in ((student[0].parent / "run", "2"), (classifier.parent, "0.1")):
            code, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "x", "--data", student[1], flag, value)
            assert code == 2 and flag in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_gender_edits_are_scaled_by_the_cards_gain(student, classifier, tmp_path, capsys):
    """Exported with --male-gain and --female-gain, an edit model's change to that gender is that
    many times the model's own, after its reach, in the runtime (at any intensity) and in what the
    judges see; a gain on a model of one task, or out of range, is a one-line error."""
    from mirror.translate import Translator
    from trainer.evaluate import Runner

    plain, gained, card = shaped_and_plain(student, tmp_path, capsys, {"male_gain": 1.3, "female_gain": 1.2},
                                           {"male_reach": 0.08})
    gains = {"male": card["male_gain"], "female": card["female_gain"]}
    translators = [Translator(Registry(f)) for f in (plain, gained)]
    runners = [Runner(f / "edit.onnx", f / "edit.json") for f in (plain, gained)]
    spec = translators[0].spec(Effect("male"))
    crop, points = astronaut(spec)
    inputs = runners[0].inputs(crop).astype(float)
    for gender, gain in gains.items():
        for intensity in (1.0, 0.5):
            effect = Effect(gender, intensity=intensity)
            mine, scaled = (t(crop, spec, effect, None, points).images[0] - crop[0] for t in translators)
            assert np.abs(mine).mean() > 0.2  # the few steps' model changes the face
            np.testing.assert_allclose(scaled, gain * mine, atol=1e-2)
        target = np.full(1, float(gender == "female"))
        mine, scaled = (r.shown(crop, np.stack(points), r.condition("gender", target))[0] - inputs[0] for r in runners)
        unclipped = (inputs[0] + gain * mine > 1) & (inputs[0] + gain * mine < 254)
        assert np.abs(scaled - gain * mine)[unclipped].max() <= 1.5  # each rounded to whole grey levels
    for flag in ("--male-gain", "--female-gain"):
        for run, value in ((student[0].parent / "run", "3"), (classifier.parent, "1.2")):
            code, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "x", "--data", student[1], flag, value)
            assert code == 2 and flag in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_student_runs_in_the_runtime_with_the_alpha_paste(student):
    image = cv2.imread(str(MEDIA / "obama.jpg"))
    with Pipeline(Registry(student[0]), Settings(Effect("swap", age=-0.5)), video=False) as pipeline:
        result = pipeline(image)
    (face,) = result.faces
    assert face.changed and face.female is not None
    x0, y0, x1, y1 = face.box
    moved = np.abs(result.image.astype(int) - image).max(2) > 0
    assert moved[y0:y1, x0:x1].any()
    outside = moved.copy()
    outside[y0:y1, x0:x1] = False
    assert not outside.any()  # nothing outside the crop's box ...
    ring = np.zeros(moved.shape, bool)  # ... nor on its border: the alpha is feathered to 0 there
    corners = face.alignment.to_frame(np.array([[0, 0], [63, 0], [63, 63], [0, 63]], float))
    cv2.polylines(ring.view(np.uint8), [np.round(corners).astype(np.int32)], True, 1, 1)
    assert not moved[ring].any()


def test_eval_judges_both_effects_of_an_edit_model(student, tmp_path, capsys):
    from trainer.cli import main

    models, real = student
    code, out, _ = run_cli(capsys, "eval", models / "edit.onnx", "--data", real, "--faces", "3",
                           "--sheet", tmp_path / "sheet.png")
    assert code == 0
    figures = json.loads(out)
    assert {"gender", "age"} <= set(figures) and figures["gender"]["faces"] >= 1
    assert (tmp_path / "sheet_gender.png").is_file() and (tmp_path / "sheet_age.png").is_file()
    # Beside the models the app would run instead: here an edit model serves both sliders, no
    # gender.onnx or age.onnx is there, and its outputs add rows to both sheets. On crops larger
    # than the model's, as UTKFace's at 160 px.
    wide = tmp_path / "wide"
    assert main(["prepare", str(real.parent / "utk"), "--out", str(wide), "--size", "96", "--margin", "0.3",
                 "--val-fraction", "0.5"]) == 0
    code, _, err = run_cli(capsys, "eval", models / "edit.onnx", "--data", wide, "--faces", "3",
                           "--sheet", tmp_path / "with.png", "--baseline", models)
    assert code == 0, err
    for what, today, student in (("gender", 1, 2), ("age", 1, 3)):  # today a=-1 above the student's a=-1
        rows = [cv2.imread(str(tmp_path / f"{name}_{what}.png")).shape[0] for name in ("sheet", "with")]
        assert rows[1] > rows[0], (what, rows)
        # The same model above and below: the same faces, framed alike (a cell is 96 px here).
        sheet = cv2.imread(str(tmp_path / f"with_{what}.png")).astype(float)[:, 120:]
        row = lambda i: sheet[i * 96:(i + 1) * 96]  # noqa: E731
        assert np.abs(row(today) - row(student)).mean() < 0.5 * np.abs(row(0) - row(student)).mean(), what
    # A cache at another margin would show the model its faces at the wrong scale: refused.
    tight = tmp_path / "tight"
    assert main(["prepare", str(real.parent / "utk"), "--out", str(tight), "--size", "64", "--margin", "0.1",
                 "--val-fraction", "0.5"]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "eval", models / "edit.onnx", "--data", tight, "--faces", "3")
    assert code != 0 and "margin" in err and len(err.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "eval", models / "edit.onnx", "--data", real, "--faces", "3",
                           "--sheet", tmp_path / "x.png", "--baseline", empty)
    assert code != 0 and "--baseline" in err and len(err.strip().splitlines()) == 1


def test_alpha_paste_reaches_past_the_face_oval():
    """Hair above the forehead: the face-oval mask never lets it change, the alpha does."""
    image = cv2.imread(str(MEDIA / "obama.jpg"))
    with Landmarker(max_faces=1, video=False) as mesh:
        (face,) = mesh(image)
    spec = AlignSpec(160, 0.3)
    a = Alignment.from_landmarks(face.points, spec)
    crop, box = a.crop(image), a.box(image.shape)
    generated = 255.0 - crop.astype(np.float32)
    alpha = np.zeros((160, 160), np.float32)
    alpha[8:40, 30:130] = 1.0  # above the brows: hair and forehead top
    top = a.to_frame(np.array([[80.0, 24.0]]))[0].round().astype(int)
    inside = image.copy()
    blend.paste(inside, a, box, crop, generated, blend.face_mask(a.to_crop(face.points), 160), colour=False)
    hair = image.copy()
    blend.paste(hair, a, box, crop, generated, alpha * blend.border(160), colour=False)
    y, x = top[1], top[0]
    assert np.abs(hair[y, x].astype(int) - image[y, x]).max() > 60
    assert np.abs(inside[y, x].astype(int) - image[y, x]).max() == 0
    edge = blend.border(160)
    assert edge[0].max() == 0 and edge[:, 0].max() == 0 and edge[80, 80] == 1.0
    # An alpha model's own output is pasted whole inside the border, after a masked model its
    # change reaches past the oval only where its alpha does.
    oval = blend.face_mask(a.to_crop(face.points), 160)
    assert blend.model_mask(oval, alpha, masked=False) is edge
    both = blend.model_mask(oval, alpha, masked=True)
    assert both[24, 80] == alpha[24, 80] * edge[24, 80] and both[100, 80] == oval[100, 80]


def test_synthesize_without_the_teacher_says_what_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "random_face" else real(name, *a))
    code, _, err = run_cli(capsys, "synthesize", "--out", tmp_path / "p", "--identities", "2", "--probe", "2")
    assert code == 2 and err.count("\n") == 1 and "random-face" in err and "--no-deps" in err
    with pytest.raises(MirrorError):
        from trainer.teacher import graphs

        graphs()


def test_pair_loss_counts_what_the_teacher_changed_more():
    from trainer.losses import changed, pair_l1

    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = x.clone()
    y[:, :, :8] = -x[:, :, :8]  # the teacher changed the top rows (say, the hair)
    moved = changed(x, y)
    assert moved[:, :, :6].min() == 1 and moved[:, :, 16:].max() == 0
    # Uniform weights are the plain multi-scale L1; more weight on the change makes leaving it
    # unchanged (fake = x) cost more, and a fake that gets it right cost nothing either way.
    assert torch.isclose(pair_l1(x, y, torch.ones_like(moved)), pair_l1(x, y))
    assert pair_l1(x, y, 1 + 4 * moved) > 1.5 * pair_l1(x, y)
    assert pair_l1(y, y, 1 + 4 * moved) == 0


def photo(size: int) -> torch.Tensor:
    """A real photo squeezed to size x size, as a [1, 3, size, size] tensor in [-1, 1]."""
    x = torch.from_numpy(cv2.resize(cv2.imread(str(MEDIA / "obama.jpg")), (size, size))).permute(2, 0, 1)[None]
    return x.float() / 127.5 - 1


def test_speckle_counts_fine_colour_texture_not_strands_or_a_tint():
    """On a real photo: coloured noise counts; the same noise in grey (strands are light and dark),
    a tint over the whole crop and a smooth colour ramp (a new hair colour) count next to nothing."""
    from trainer.losses import speckle

    x = photo(128)
    noise = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 0.1
    ramp = torch.linspace(0, 0.4, 128).view(1, 1, 1, 128) * torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1)
    coloured = speckle(x + noise, x)
    assert coloured > 0.05
    for smooth in (noise[:, :1].expand(-1, 3, -1, -1), torch.tensor([0.2, 0.0, -0.2]).view(1, 3, 1, 1), ramp):
        assert speckle(x + smooth, x) < 0.02 * coloured


def test_tone_counts_a_dark_forehead_not_lines_or_the_rest_of_the_face():
    """On a real photo: a darker band inside the forehead mask counts its depth; grey noise there
    (lines, strands) and the same band outside the mask count next to nothing."""
    from trainer.losses import tone

    x = photo(128)
    band = torch.zeros(1, 1, 128, 128)
    band[..., 20:36, 40:88] = 1
    dark = torch.zeros_like(x)
    dark[..., 20:36, 40:88] = -0.4
    lines = torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(0)).expand(-1, 3, -1, -1) * 0.2
    assert 0.3 < tone(x + dark, x, band) <= 0.4
    assert tone(x + lines * band, x, band) < 0.05
    assert tone(x + dark.roll(60, 2), x, band) == 0
    assert tone(x, x, band) == 0


def test_smooth_colour_takes_the_specks_and_keeps_strands_and_a_new_colour():
    """On a real photo, an edit's change through SmoothColour: coloured noise loses most of its
    fine texture; grey noise (strands, lines), a tint and a colour ramp come through unchanged."""
    from trainer.losses import speckle
    from trainer.models import ColourBlur, SmoothColour

    x = photo(128)
    noise = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 0.1
    ramp = torch.linspace(0, 0.4, 128).view(1, 1, 1, 128) * torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1)
    for change, kept in ((noise, False), (noise[:, :1].expand(-1, 3, -1, -1), True),
                         (torch.tensor([0.2, 0.0, -0.2]).view(1, 3, 1, 1).expand(1, 3, 128, 128), True), (ramp, True)):
        alpha = torch.rand(1, 1, 128, 128)
        edit = SmoothColour(lambda x, c: (torch.clamp(x + change, -1, 1), alpha), sigma=2.0)
        out, a = edit(x, torch.zeros(1, 3))
        assert a is alpha
        want = torch.clamp(x + change, -1, 1)
        # away from the border and from clamped pixels (what clamping takes is not the blur's to keep)
        clamped = ((x + change).abs() > 1).any(1, keepdim=True).float()
        inside = F.max_pool2d(F.pad(clamped, (8, 8, 8, 8), value=1.0), 17, 1) == 0
        inside = inside.expand(-1, 3, -1, -1)
        if kept:
            assert (out - want)[inside].abs().max() < 0.02
        else:
            assert speckle(out, x) < 0.2 * speckle(want, x)
            # its brightness stays: the luma of the change is the noise's own
            luma = torch.tensor(ColourBlur.LUMA).view(1, 3, 1, 1)
            assert torch.allclose(((out - x) * luma).sum(1)[inside[:, 0]], ((want - x) * luma).sum(1)[inside[:, 0]], atol=1e-4)


def smoothed_as_exported(run: Path, models: Path, sigma: float) -> None:
    """The exported edit.onnx computes the run's generator with its colour smoothed by `sigma`."""
    from trainer.export import deployable, load_run
    from trainer.models import SmoothColour

    assert json.loads((models / "edit.json").read_text())["smooth_colour_px"] == sigma
    cfg, state = load_run(run)
    plain = deployable(replace(cfg, smooth_colour=0.0), state, run / "checkpoint.pt")
    x = photo(64)
    c = torch.tensor([[1.0, 1.0, 0.0]])
    with torch.no_grad():
        want, raw = SmoothColour(plain, sigma)(x, c)[0].numpy(), plain(x, c)[0].numpy()
    got = ort.InferenceSession(str(models / "edit.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy(), "condition": c.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4 < np.abs(got - raw).max()


def test_an_edit_models_colour_is_smoothed_as_trained_or_as_exported(student, pairs, classifier, tmp_path, capsys):
    """--smooth-colour PX on export ships the edit model with its change's colour blurred (the
    ONNX agrees with torch, the card says it); a run trained with it exports with it by itself;
    on a model of one task it is a one-line error."""
    small = ["--calibration", "8", "--parity", "4", "--latency-runs", "1", "--int8-tolerance", "0"]
    run, models = student[0].parent / "run", tmp_path / "models"
    code, _, err = run_cli(capsys, "export", run, "--out", models / "edit", "--data", student[1], "--smooth-colour", "1.5", *small)
    assert code == 0, err
    smoothed_as_exported(run, models, 1.5)
    code, _, err = run_cli(capsys, "train", "--kind", "student", "--data", pairs, "--run", tmp_path / "ft", "--arch", "unet16",
                           "--size", "64", "--margin", "0.3", "--steps", "2", "--batch", "2", "--threads", "1",
                           "--init", student[0] / "edit.pt", "--smooth-colour", "2")
    assert code == 0, err
    code, _, err = run_cli(capsys, "export", tmp_path / "ft", "--out", tmp_path / "ft-models" / "edit", "--data", student[1], *small)
    assert code == 0, err
    smoothed_as_exported(tmp_path / "ft", tmp_path / "ft-models", 2.0)
    code, _, err = run_cli(capsys, "export", classifier.parent, "--out", tmp_path / "x", "--smooth-colour", "2")
    assert code == 2 and "--smooth-colour" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_export_ships_weights_that_a_new_run_starts_from(student, pairs, tmp_path, capsys):
    models, _ = student
    saved = torch.load(models / "edit.pt", weights_only=False)
    assert set(saved["nets"]) == {"G"}  # the generator alone: no discriminator, no optimiser state
    assert (models / "edit.pt").stat().st_size < 2_000_000
    code, _, err = run_cli(capsys, "train", "--kind", "student", "--data", pairs, "--run", tmp_path / "ft",
                           "--arch", "unet16", "--size", "64", "--margin", "0.3", "--steps", "1", "--batch", "2",
                           "--threads", "1", "--lr", "1e-9", "--init", models / "edit.pt")
    assert code == 0, err
    tuned = torch.load(tmp_path / "ft" / "checkpoint.pt", weights_only=False)["nets"]["G"]
    for k, v in saved["nets"]["G"].items():
        if v.is_floating_point() and "running" not in k:  # batch-norm statistics move with the one step
            assert torch.allclose(tuned[k], v, atol=1e-5), k


def test_reach_opens_the_alpha_where_the_teacher_changed_the_picture(pairs, tmp_path):
    """GANimation's slow start: output = x + alpha (colour - x) begins at alpha ~ 0.12 and colour ~
    x, where each head's gradient is scaled by the other's small value. The pairs say where the
    change is: a few steps with the reach term open the alpha there (that it stays shut elsewhere
    takes hundreds of steps: the run's sample grids)."""
    from trainer.losses import changed
    from trainer.solver import Config
    from trainer.student import StudentSolver

    opened = {}
    for reach in (0.0, 5.0):
        cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=12, batch=4,
                     lr=0.003, lambda_adv=0.0, lambda_reach=reach)
        solver = StudentSolver(cfg, tmp_path / f"reach{reach}")
        for step in range(cfg.steps):
            solver.train_step(solver.train_batch(step))
        b = solver.pick(solver.data, 0, len(solver.data), False)
        with torch.no_grad():
            _, alpha = solver.G(b["x"], b["c"])
        moved = changed(b["x"], b["y"], dilate=False)
        opened[reach] = ((alpha * moved).sum() / moved.sum()).item()
    assert opened[5.0] > max(2 * opened[0.0], opened[0.0] + 0.15), opened


def test_tight_chips_repeat_their_border_in_input_and_target_alike(pairs):
    """UTKFace's chips hold only the middle of a wide crop (the crop repeats their border beyond):
    a fraction of the training examples are cut so, the same cut for the input and its target."""
    from trainer.pairs import PairSet, augment, chip, replicate

    data = PairSet(pairs, AlignSpec(64, 0.3))
    i = int(np.flatnonzero(data.forward)[0])
    x, y = data.inputs[i], data.targets[i]
    rng = np.random.default_rng(1)
    inside = chip(64, rng)
    assert 0.15 < inside.mean() < 0.7 and inside[40, 32] == 1 and inside[0, 0] == 0
    cut = [replicate(v, inside) for v in (x, y)]
    for v, c in zip((x, y), cut):
        assert (c[inside > 0] == v[inside > 0]).all()
        # Outside, nothing of the image's own: every pixel repeats one on the chip's edge.
        edge = cv2.dilate(1 - inside, np.ones((3, 3), np.uint8)) & inside
        assert set(map(tuple, c[inside == 0].reshape(-1, 3))) <= set(map(tuple, v[edge > 0].reshape(-1, 3)))
    # In augment, the input and its target are cut by the same chip, then go through the same camera.
    seed = np.random.default_rng(5)
    got = augment(x, y, np.random.default_rng(5), tight=1.0)
    seed.random()
    inside = chip(64, seed)
    want = augment(replicate(x, inside), replicate(y, inside), seed, tight=0.0)
    assert all((g == w).all() for g, w in zip(got, want))


def test_a_clean_change_keeps_jpeg_noise_out_of_the_edit(pairs, monkeypatch):
    """--clean-change: the input is compressed as before, and the target is that input plus the
    teacher's change as the camera saw it uncompressed. Compressed apart, input and target differ
    by JPEG's block noise too, wherever the teacher changed the face: noise the student learned to
    paint as part of the edit."""
    from trainer import pairs as module

    data = module.PairSet(pairs, AlignSpec(64, 0.3))
    i = int(np.flatnonzero(data.forward)[0])
    x, y = data.inputs[i], data.targets[i]
    cameras = [module.augment(x, y, np.random.default_rng(seed), clean_change=c) for seed in range(30) for c in (False, True)]
    monkeypatch.setattr(module, "jpeg", lambda img, quality: img)
    bare = [module.augment(x, y, np.random.default_rng(seed)) for seed in range(30)]
    off = {False: [], True: []}
    for k, (bx, by) in enumerate(bare):
        for clean in (False, True):
            cx, cy = cameras[2 * k + clean]
            if not (cx == bx).all():  # this camera compressed
                off[clean].append(np.abs((cy.astype(np.float32) - cx) - (by.astype(np.float32) - bx)).mean())
    assert len(off[True]) >= 8
    assert max(off[True]) < 0.5 and min(off[False]) > 2, off  # grey levels, mean over the crop


def test_a_wider_student_starts_from_a_narrower_one(student, pairs, tmp_path, capsys):
    """--init from a narrower student (Net2Net): the wider one computes the same edits on teacher
    renders at first, then trains on, its new channels feeding the output."""
    from trainer.cli import main

    weights = student[0] / "edit.pt"
    narrow, wide = generator("unet16", cond=3), generator("unet32", cond=3)
    narrow.load_state_dict(torch.load(weights)["nets"]["G"])
    wide.grow(torch.load(weights)["nets"]["G"])
    x = render_crops(pairs)
    c = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])[: len(x)]
    with torch.no_grad():
        (a, alpha_a), (b, alpha_b) = narrow.eval()(x, c), wide.eval()(x, c)
    assert (a - x).abs().mean() > 0.01  # the narrow student does edit
    assert (a - b).abs().max() < 1e-5 and (alpha_a - alpha_b).abs().max() < 1e-5
    run = tmp_path / "wide"
    assert main(["train", "--kind", "student", "--data", str(pairs), "--run", str(run), "--arch", "unet32", "--init",
                 str(weights), "--size", "64", "--margin", "0.3", "--steps", "2", "--batch", "4", "--threads", "1"]) == 0
    head = torch.load(run / "checkpoint.pt", weights_only=False)["nets"]["G"]["head.weight"]
    assert head[:, 16:].abs().max() > 0  # what the new channels learned reaches the output


def render_crops(pairs: Path, size: int = 64) -> torch.Tensor:
    crops = np.load(next((pairs / "pairs").glob("0*.npz")))["crops"]
    x = torch.from_numpy(np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]))
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1


def test_a_narrower_student_learns_a_wider_ones_edits(student, pairs, tmp_path, capsys):
    """--kind distil: a narrower student starts from a wider one's strongest channels (--init) and
    learns its edits (--mimic); it exports as an edit model and runs in the app."""
    from trainer.cli import main

    saved = torch.load(student[0] / "edit.pt")
    narrow, wide = generator("unet16", cond=3), generator("unet24", cond=3)
    narrow.load_state_dict(saved["nets"]["G"])
    wide.grow(saved["nets"]["G"])
    # The grown channels barely count (small batch-norm scales): the strongest 16 are the narrow net's.
    modules = dict(wide.named_modules())
    for layer in wide.wiring():
        norm = modules[layer]
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.weight.data[16 * norm.weight.numel() // 24:] = 0.01
    x = render_crops(pairs)
    c = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])[: len(x)]
    cut = generator("unet16", cond=3)
    cut.adopt(wide.state_dict())
    with torch.no_grad():
        (a, alpha_a), (b, alpha_b) = narrow.eval()(x, c), cut.eval()(x, c)
    assert (a - x).abs().mean() > 0.01 and (a - b).abs().max() < 1e-5 and (alpha_a - alpha_b).abs().max() < 1e-5
    # Then, as a long run leaves them, the norms' running statistics are the batches' (four steps leave them at 0 and 1).
    norms = [m for m in modules.values() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # the plain mean over the batches seen
    with torch.no_grad():
        wide.train()(x, c)
    for m in norms:
        m.momentum = 0.1
    torch.save({**saved, "config": {**saved["config"], "arch": "unet24"}, "nets": {"G": wide.state_dict()}}, tmp_path / "wide.pt")

    def distil(name: str, *init: str) -> dict:
        code = main(["train", "--kind", "distil", "--data", str(pairs), "--real", str(student[1]), "--run", str(tmp_path / name),
                     "--mimic", str(tmp_path / "wide.pt"), *init, "--arch", "unet16", "--size", "64", "--margin", "0.3",
                     "--steps", "2", "--batch", "4", "--threads", "1", "--lambda-pair", "1", "--lambda-alpha", "1"])
        out = capsys.readouterr().out
        assert code == 0, out
        return json.loads(out.strip().splitlines()[-1])

    # From its strongest channels it computes the wide net's edits nearly at once; from scratch it starts at "no change".
    started, fresh = distil("cut", "--init", str(tmp_path / "wide.pt")), distil("fresh")
    assert started["G/image"] < fresh["G/image"] / 2, (started, fresh)
    models = tmp_path / "models"
    assert main(["export", str(tmp_path / "cut"), "--out", str(models / "edit"), "--data", str(student[1]), "--serves", "gender",
                 "--calibration", "8", "--parity", "4", "--latency-runs", "1"]) == 0
    card = json.loads((models / "edit.json").read_text())
    assert card["task"] == "edit" and card["paste"] == "alpha" and "wider student (wide.pt)" in card["architecture"]
    with Pipeline(Registry(models), Settings(Effect("female")), video=False) as pipeline:
        assert pipeline(cv2.imread(str(MEDIA / "obama.jpg"))).faces[0].changed


@pytest.fixture(scope="module")
def classifier(student, tmp_path_factory):
    """A frozen attribute classifier at the student's crop, for the real faces to answer to."""
    from trainer.cli import main

    run = tmp_path_factory.mktemp("attributes")
    assert main(["train", "--kind", "attributes", "--data", str(student[1]), "--run", str(run), "--size", "64",
                 "--steps", "30", "--batch", "4", "--lr", "0.003", "--threads", "1"]) == 0
    return run / "checkpoint.pt"


def test_the_committed_classifier_reads_real_faces(tmp_path):
    """exported_models/candidates/classifier: the classifier student runs answer to, committed (as
    fp16) so that a run need not train it first; at its card's crop it tells gender and age."""
    from trainer.attributes import frozen_classifier
    from trainer.cli import main
    from trainer.data import FaceSet, fit_size, to_unit

    folder = REPO / "exported_models" / "candidates" / "classifier"
    card = json.loads((folder / "classifier.json").read_text())
    assert main(["prepare", str(utk_sample(tmp_path / "utk")), "--out", str(tmp_path / "real"), "--size", "160",
                 "--margin", str(card["align"]["margin"])]) == 0
    faces = FaceSet(tmp_path / "real", None)
    net = frozen_classifier(str(folder / "classifier.pt"))
    with torch.no_grad():
        logit, age = net(fit_size(to_unit(faces.crops), card["align"]["size"]))
    right = ((logit > 0).numpy() == (faces.female > 0.5)).mean()
    young, old = faces.age < 35, faces.age >= 50
    read = age.numpy() * 10
    assert right >= 0.85, right  # 32 faces: young and old, men and women
    assert read[old].mean() - read[young].mean() > 15, (read[young].mean(), read[old].mean())


SEEDS = 3


def trained_on_real(pairs, real, classifier, run: Path, **options):
    """A small student trained 10 steps with real faces beside the pairs (a large lambda_real: the
    real faces' terms must show in so few steps)."""
    from trainer.solver import Config
    from trainer.student import StudentSolver

    cfg = Config(**{"kind": "student", "data": str(pairs), "arch": "unet16", "size": 64, "margin": 0.3, "steps": 10,
                    "batch": 4, "lr": 0.003, "real": str(real), "lambda_real": 10.0, "classifier": str(classifier),
                    "every": 10, **options})
    solver = StudentSolver(cfg, run)
    solver.fit()
    return solver


def test_real_faces_answer_to_the_classifier_and_a_discriminator(student, pairs, classifier, tmp_path, capsys):
    """Real faces have no pairs: with --real, their edits answer to the frozen attribute classifier
    (and to a discriminator of real photos). The same few steps from the same start move the
    classifier's reading of real faces asked for the other gender towards it, and further than
    pairs alone do; the card names the real faces and their terms."""
    from trainer.cli import main
    from trainer.losses import softened

    real = student[1]
    # The classifier's term alone over 20 steps: at 10 steps the margin was left to the machine's
    # rounding (seeds 0-4 on this set: 0.2-0.9 at 10 steps, 0.7-2.5 at 20).
    steps = {"steps": 20, "every": 20, "lambda_real_adv": 0.0}
    solvers = {"pairs": trained_on_real(pairs, "", classifier, tmp_path / "pairs", **steps),
               "real": trained_on_real(pairs, real, classifier, tmp_path / "real", **steps)}
    trained = solvers["real"]
    assert trained.nets == ("G", "D", "R") and solvers["pairs"].nets == ("G", "D")
    # Every training face asked for the other gender: one batch's gender half (a face or two) left
    # the comparison to whether a classifier of 30 steps misread it.
    r = trained.real_batch(0, n=len(trained.real), augment=False)
    female = r["female"].reshape(-1).float()
    c = torch.stack([1 - female, torch.ones_like(female), torch.zeros_like(female)], 1)
    got = {}
    with torch.no_grad():
        for name, solver in solvers.items():
            logit = trained.C(softened(solver.G(r["x"], c)[0], (0, 0)))[0].reshape(-1)
            got[name] = torch.where(c[:, 0] > 0.5, logit, -logit).mean().item()  # the asked gender's logit
    assert got["real"] > got["pairs"] + 0.5, got
    # Exported, the card says what it learned from and under whose terms.
    assert main(["export", str(tmp_path / "real"), "--out", str(tmp_path / "m" / "edit"), "--data", str(real),
                 "--calibration", "4", "--parity", "2", "--latency-runs", "2"]) == 0
    card = json.loads((tmp_path / "m" / "edit.json").read_text())
    assert "real faces: UTKFace" in card["training"]["data"] and "UTKFace" in card["license"]
    assert "FFHQ" in card["license"]


def test_real_faces_at_another_margin_or_without_a_classifier_are_one_line_errors(student, pairs, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--kind", "student", "--data", pairs, "--run", tmp_path / "r", "--real",
                           student[1], "--margin", "0.5", "--size", "64", "--steps", "1", "--threads", "1")
    assert code == 2 and "prepare it with --margin 0.5" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "train", "--kind", "student", "--data", pairs, "--run", tmp_path / "r", "--real",
                           student[1], "--size", "64", "--batch", "4", "--steps", "1", "--threads", "1")
    assert code == 2 and "give --classifier" in err and len(err.strip().splitlines()) == 1


def test_terms_without_what_they_need_are_one_line_errors(student, pairs, classifier, tmp_path, capsys):
    """Feature matching without the pairs' discriminator; the teacher's changes judged, the alpha
    shut or the real-photo verdict weighed without real faces; the output shown to a discriminator
    of changes that is not there, the jaw held on "younger" only without the jaw held; photo edges from a cache without corners: one line each, before
    any training."""
    import shutil

    base = ["train", "--kind", "student", "--data", pairs, "--run", tmp_path / "r", "--size", "64", "--batch", "4",
            "--steps", "1", "--threads", "1"]
    code, _, err = run_cli(capsys, *base, "--lambda-fm", "1", "--lambda-adv", "0")
    assert code == 2 and "--lambda-fm" in err and "--lambda-adv" in err and len(err.strip().splitlines()) == 1
    for flags in (["--lambda-real-edit", "1"], ["--lambda-real-sparse", "1"], ["--lambda-real-chroma", "1"],
                  ["--lambda-real-hairline", "1"], ["--lambda-real-jaw", "1"], ["--real-adv-edited"]):
        code, _, err = run_cli(capsys, *base, *flags)
        assert code == 2 and flags[0] in err and "needs --real" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, *base, "--real", student[1], "--classifier", classifier, "--real-edit-output")
    assert code == 2 and "needs --lambda-real-edit" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, *base, "--real", student[1], "--classifier", classifier, "--real-jaw-younger")
    assert code == 2 and "needs --lambda-real-jaw" in err and len(err.strip().splitlines()) == 1
    old = tmp_path / "old"  # a cache prepared before the corners were kept
    shutil.copytree(student[1], old)
    (old / "corners.npy").unlink()
    code, _, err = run_cli(capsys, *base, "--real", old, "--classifier", classifier, "--real-inside")
    assert code == 2 and "prepare it again" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_feature_matching_moves_the_generator_and_leaves_the_discriminator_alone(pairs, tmp_path):
    """--lambda-fm: the pairs' discriminator's activations on the output are pulled towards those
    on the target. From the same start and batch, one step with it moves the generator elsewhere
    than one without, and the discriminator exactly as far (it learns from its own loss only);
    its layers' activations are what its score is read from."""
    import copy
    from dataclasses import replace

    from trainer.solver import Config
    from trainer.student import StudentSolver, tiled

    cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=4, lr=0.01)
    solver = StudentSolver(cfg, tmp_path / "run")
    b = solver.train_batch(0)
    x = torch.cat([b["x"], tiled(b["c"], b["x"]), b["y"]], 1)
    assert torch.allclose(solver.D.patch(solver.D.taps(x)[-1]), solver.D(x))
    start = {k: copy.deepcopy(getattr(solver, k).state_dict()) for k in ("G", "D")}
    after = {}
    for fm in (0.0, 5.0):
        for k in ("G", "D"):
            getattr(solver, k).load_state_dict(start[k])
        solver.opts = solver.optimizers()
        solver.cfg = replace(cfg, lambda_fm=fm)
        logs = solver.train_step(b)
        assert ("G/fm" in logs) == bool(fm) and logs.get("G/fm", 1) > 0
        after[fm] = {k: copy.deepcopy(getattr(solver, k).state_dict()) for k in ("G", "D")}

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(after[0.0]["D"], after[5.0]["D"]) and not same(after[0.0]["D"], start["D"])
    assert not same(after[0.0]["G"], after[5.0]["G"])


def test_real_faces_taken_back_give_the_face_again(student, pairs, classifier, tmp_path):
    """With --lambda-real-cyc, an edited real face taken back (its own gender again, the opposite
    age shift) comes closer to the face than the same steps without it give: what an edit cannot
    undo is the person it lost."""
    from trainer.student import undone

    solvers = {cyc: trained_on_real(pairs, student[1], classifier, tmp_path / str(cyc), lambda_real_cyc=cyc)
               for cyc in (0.0, 20.0)}
    r = solvers[0.0].real_batch(0, augment=False)
    assert torch.equal(undone(undone(r["c"])), r["c"])
    err = {}
    with torch.no_grad():
        for cyc, solver in solvers.items():
            back = solver.G(solver.G(r["x"], r["c"])[0], undone(r["c"]))[0]
            err[cyc] = (back - r["x"]).abs().mean().item()
    assert err[20.0] < 0.8 * err[0.0], err


def test_asked_years_are_read_through_the_classifiers_own_slope(student, pairs, classifier, tmp_path):
    """--calibrate: real faces are asked for the years the classifier would read, not the true
    years: half for a classifier that reads age at half the scale, whatever its offset."""
    from trainer.attributes import age_slope, frozen_classifier
    from trainer.data import FaceSet
    from trainer.solver import Config
    from trainer.student import StudentSolver

    real = FaceSet(student[1], "train")
    net, scaled = frozen_classifier(str(classifier)), frozen_classifier(str(classifier))
    with torch.no_grad():
        scaled.out.weight[1] *= 0.5
        scaled.out.bias[1] = 0.5 * scaled.out.bias[1] + 3  # reads everyone 30 years older too
    slope = age_slope(net, real, 64)
    assert abs(slope) > 0.01 and abs(age_slope(scaled, real, 64) - 0.5 * slope) < 1e-3 * abs(slope)
    cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=4,
                 real=str(student[1]), classifier=str(classifier))
    assert StudentSolver(cfg, tmp_path / "plain").slope == 1.0
    cfg.calibrate = True
    assert StudentSolver(cfg, tmp_path / "calibrated").slope == pytest.approx(slope)


def test_the_real_photo_discriminator_pulls_the_generator_by_its_own_weight(student, pairs, classifier, tmp_path):
    """--lambda-real-adv weighs the discriminator of real photos on real faces' edits alone: at 0
    the generator's step on real faces is the same whatever that discriminator says (a fresh one
    in its place changes nothing), at 2 it is not; unset, it weighs lambda_adv, as on the pairs."""
    from trainer.models import Discriminator
    from trainer.solver import Config, adam
    from trainer.student import StudentSolver

    def step(solver):
        solver.G.zero_grad()
        loss, logs = solver.real_step(solver.real_batch(0, augment=False))  # a pure function of the step
        loss.backward()
        assert logs["G/real_adv"] > 0
        return torch.cat([p.grad.flatten() for p in solver.G.parameters() if p.grad is not None])

    cases = {"real 0": {"lambda_real_adv": 0.0}, "real 2": {"lambda_real_adv": 2.0},
             "unset, adv 0": {"lambda_adv": 0.0}, "unset, adv 1": {"lambda_adv": 1.0}}
    moved = {}
    for name, weights in cases.items():
        cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=4,
                     real=str(student[1]), classifier=str(classifier), **weights)
        solver = StudentSolver(cfg, tmp_path / name.replace(" ", ""))
        before = step(solver)
        torch.manual_seed(1)
        solver.R = Discriminator(cfg.d_ch)
        solver.opts["R"] = adam(solver.R.parameters(), cfg.lr)
        moved[name] = ((step(solver) - before).abs().max() / before.abs().max()).item()
    assert max(moved["real 0"], moved["unset, adv 0"]) < 1e-5, moved
    assert min(moved["real 2"], moved["unset, adv 1"]) > 1e-3, moved


def test_the_classifier_pulls_real_faces_years_by_their_own_weight(student, pairs, classifier, tmp_path):
    """--lambda-real-age weighs the classifier's years on real faces' age edits apart from its
    gender: the real-face loss grows by that weight times the years term alone, and unset it is
    --lambda-real's, as before."""
    from dataclasses import replace

    from trainer.solver import Config
    from trainer.student import StudentSolver

    cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=6,
                 real=str(student[1]), classifier=str(classifier), lambda_real_adv=0.0)
    solver = StudentSolver(cfg, tmp_path / "run")
    # A step whose batch holds both halves: gender edits and age edits.
    step = next(s for s in range(50) if 0 < solver.real_batch(s, augment=False)["c"][:, 1].sum() < cfg.batch)

    def loss(**weights):
        solver.cfg = replace(cfg, **weights)
        # The batch is a pure function of the step: every call sees the same faces. The real-photo
        # discriminator steps in each call but weighs nothing here (lambda_real_adv 0).
        return solver.real_step(solver.real_batch(step, augment=False))[0].item()

    gender = loss(lambda_real=1.0, lambda_real_age=0.0)
    years = loss(lambda_real=1.0, lambda_real_age=1.0) - gender
    assert gender > 0 and years > 1e-4, (gender, years)
    assert loss(lambda_real=1.0, lambda_real_age=3.0) == pytest.approx(gender + 3 * years, rel=1e-4)
    assert loss(lambda_real=0.0, lambda_real_age=2.0) == pytest.approx(2 * years, rel=1e-4)
    assert loss(lambda_real=2.0) == pytest.approx(2 * (gender + years), rel=1e-4)


def test_the_pairs_that_age_a_face_count_by_their_own_weight(pairs, tmp_path):
    """--lambda-older counts the pairs whose edit makes the face older that many times more: the
    pair loss grows by that weight times those pairs' own L1, and the other pairs' stays."""
    import copy
    from dataclasses import replace

    from trainer.losses import pair_l1
    from trainer.solver import Config
    from trainer.student import StudentSolver

    cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=6, lambda_adv=0.0)
    solver = StudentSolver(cfg, tmp_path / "run")
    # A step whose batch holds pairs that age the face and pairs that do not.
    step = next(s for s in range(50) if 0 < (solver.train_batch(s)["c"][:, 2] > 0).sum() < cfg.batch)
    weights = copy.deepcopy(solver.G.state_dict())

    def pair(older: float) -> float:
        solver.G.load_state_dict(weights)  # each call starts from the same generator
        solver.cfg = replace(cfg, lambda_older=older)
        return solver.train_step(solver.train_batch(step))["G/pair"]

    plain, once, thrice = pair(0.0), pair(1.0), pair(3.0)
    b = solver.train_batch(step)
    solver.G.load_state_dict(weights)
    with torch.no_grad():
        fake, _ = solver.G(b["x"], b["c"])
    own = pair_l1(fake, b["y"], gain=(b["c"][:, 2] > 0).float()).item()
    assert 0 < own < plain, (own, plain)
    assert once == pytest.approx(plain + own, rel=1e-4)
    assert thrice == pytest.approx(plain + 3 * own, rel=1e-4)


def test_warmup_trains_the_discriminators_against_a_generator_held_still(student, pairs, classifier, tmp_path):
    """--warmup N: for the first N steps only the discriminators learn (both of them: the pairs'
    and the real photos'); from step N the generator learns too."""
    from trainer.student import StudentSolver

    held = trained_on_real(pairs, student[1], classifier, tmp_path / "held", steps=3, every=3, warmup=3)
    moved = trained_on_real(pairs, student[1], classifier, tmp_path / "moved", steps=3, every=3, warmup=2)
    start = StudentSolver(held.cfg, tmp_path / "start")  # the weights both runs began from

    def same(a, b) -> bool:  # parameters only: BatchNorm's running statistics move with any forward pass
        return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))

    assert same(held.G, start.G) and not same(moved.G, start.G)
    assert not same(held.D, start.D) and not same(held.R, start.R)


def test_real_faces_taken_back_inside_the_face_only_leave_the_hair_free(student, pairs, classifier, tmp_path):
    """--real-cyc-face: a real face's edit taken back is compared with the face inside the face
    only (the landmarks' mask, mirrored with the face): a way back that differs outside the face
    (the hair) costs next to nothing, one that differs inside costs as much as before or more."""
    from dataclasses import replace

    from trainer.solver import Config
    from trainer.student import StudentSolver

    cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=4,
                 real=str(student[1]), classifier=str(classifier), lambda_real=0.0, lambda_real_adv=0.0,
                 lambda_real_alpha=0.0, lambda_real_cyc=1.0, real_cyc_face=True)
    solver = StudentSolver(cfg, tmp_path / "run")
    r = solver.real_batch(3)
    face = r["face"]
    assert r["flip"].any() and face.shape == (len(r["x"]), 1, 64, 64)
    assert face[..., 28:36, 28:36].min() > 0.9 and face[..., :4, :].max() < 0.1  # the middle in, the top out
    differs = torch.from_numpy(np.random.default_rng(0).normal(0, 0.5, r["x"].shape).astype(np.float32))

    def cycle(back: torch.Tensor, face_only: bool) -> float:
        calls = []

        def G(x, c):  # the edit leaves the face as it was; the way back adds `back`
            calls.append(c)
            return (x if len(calls) == 1 else x + back), torch.zeros_like(x[:, :1])

        solver.G, solver.cfg = G, replace(cfg, real_cyc_face=face_only)
        batch = r if face_only else {k: v for k, v in r.items() if k != "face"}
        return solver.real_step(batch)[1]["G/real_cyc"]

    outside, inside = differs * (1 - face), differs * face
    # Not zero: the mask's feathered edge and the L1's coarse scales reach a little past the face (0.21).
    assert cycle(outside, True) < 0.3 * cycle(outside, False), (cycle(outside, True), cycle(outside, False))
    assert cycle(inside, True) >= cycle(inside, False) > 0


def test_a_gender_margin_stops_pushing_a_face_that_already_reads_as_asked():
    from trainer.losses import gender_loss

    logit = torch.tensor([-3.0, -1.0, 1.0, 3.0], requires_grad=True)
    female = torch.ones(4)
    gender_loss(logit, female, 2.0).sum().backward()
    assert logit.grad.tolist() == [-1.0, -1.0, -1.0, 0.0]  # past the margin: no pull
    unbounded = torch.autograd.grad(gender_loss(logit, female).sum(), logit)[0]
    assert (unbounded < 0).all()  # cross-entropy pulls every face on
    assert torch.allclose(gender_loss(-logit, 1 - female, 2.0), gender_loss(logit, female, 2.0))


def test_a_blurred_view_hides_a_painted_lattice_and_keeps_a_shade():
    """--real-blur: the classifier's view of a real face loses most of a fine lattice painted on
    it (run K's "older" on real faces) and keeps a smooth shade (a darker jaw, greyer hair)."""
    from test_trainer import UTK
    from trainer.losses import softened

    face = cv2.resize(cv2.imread(str(UTK / "images" / "100_0_0_20170112213500903.jpg.chip.jpg")), (128, 128))
    x = torch.from_numpy(face.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1)
    yy, xx = np.mgrid[:128, :128]
    lattice = 0.1 * np.sign(np.sin(2 * np.pi * xx / 5) * np.sin(2 * np.pi * yy / 5))
    shade = -0.1 * np.clip((yy - 64) / 32, 0, 1)  # the lower face darker
    seen = {}
    for name, paint in (("lattice", lattice), ("shade", shade)):
        y = x + torch.from_numpy(paint.astype(np.float32))
        for blur in (1, 2):
            seen[name, blur] = np.mean([(softened(y, s, blur) - softened(x, s, blur)).abs().mean().item()
                                        for s in ((0, 0), (1, -3), (-4, 2))])
    assert seen["lattice", 2] < 0.4 * seen["lattice", 1], seen
    assert seen["shade", 2] > 0.9 * seen["shade", 1], seen


def test_real_faces_keep_their_background_where_the_teacher_never_edits(student, pairs, classifier, tmp_path):
    """With --lambda-real-alpha, a real face's alpha stays closer to "no change" where the
    teacher's edits of the pairs do not reach (the background) than the same steps without it."""
    from trainer.student import reach

    solvers = {w: trained_on_real(pairs, student[1], classifier, tmp_path / str(w), lambda_real_alpha=w)
               for w in (0.0, 60.0)}
    where = reach(solvers[0.0].data)
    assert where.shape == (1, 1, 64, 64) and 0 < where.mean() < 1
    assert where[..., 24:40, 24:40].mean() > where[..., :8, :].mean()  # the face, not the crop's top
    r = solvers[0.0].real_batch(0, augment=False)
    outside = {}
    with torch.no_grad():
        for w, solver in solvers.items():
            outside[w] = (solver.G(r["x"], r["c"])[1] * (1 - where)).mean().item()
    # At 20 the alpha outside kept 0.86 of it on one CPU (0.8 passed on others): too close to the
    # numerics of ten steps. At 60 it keeps 0.65 there, at 200 0.36.
    assert outside[60.0] < 0.8 * outside[0.0], outside


def test_real_faces_alpha_shuts_where_the_edit_does_not_need_it(student, pairs, classifier, tmp_path):
    """With --lambda-real-sparse, a real face's alpha is smaller over the whole crop than after the
    same steps without it, and the classifier's pull still edits the face."""
    # Measured at 20: 0.53 of the alpha and 0.39 of the change stay (at 60: 0.40 and 0.28).
    weight = 20.0
    solvers = {w: trained_on_real(pairs, student[1], classifier, tmp_path / str(w), lambda_real_sparse=w)
               for w in (0.0, weight)}
    r = solvers[0.0].real_batch(0, augment=False)
    with torch.no_grad():
        out = {w: solver.G(r["x"], r["c"]) for w, solver in solvers.items()}
    opened = {w: alpha.mean().item() for w, (_, alpha) in out.items()}
    change = {w: (fake - r["x"]).abs().mean().item() for w, (fake, _) in out.items()}
    assert opened[weight] < 0.7 * opened[0.0], opened
    assert change[weight] > 0.2 * change[0.0], change


def test_real_faces_edits_lose_their_colour_specks(student, pairs, classifier, tmp_path):
    """With --lambda-real-chroma, a real face's edit holds less fine colour texture than after the
    same steps without it, and the face is still edited."""
    from trainer.losses import speckle

    # Measured at 200: 0.41 of the specks and 0.51 of the change stay.
    weight = 200.0
    solvers = {w: trained_on_real(pairs, student[1], classifier, tmp_path / str(w), lambda_real_chroma=w)
               for w in (0.0, weight)}
    r = solvers[0.0].real_batch(0, augment=False)
    with torch.no_grad():
        out = {w: solver.G(r["x"], r["c"])[0] for w, solver in solvers.items()}
    specks = {w: speckle(fake, r["x"]).item() for w, fake in out.items()}
    change = {w: (fake - r["x"]).abs().mean().item() for w, fake in out.items()}
    assert specks[weight] < 0.7 * specks[0.0], specks
    assert change[weight] > 0.2 * change[0.0], change


@pytest.mark.parametrize("flag,region,colour,weight", [("lambda_real_hairline", "forehead", False, 50.0),
                                                        ("lambda_real_jaw", "jaw", False, 50.0),
                                                        ("lambda_real_tint", "face", True, 300.0)])
def test_real_faces_age_edits_hold_their_forehead_jaw_and_tint(student, pairs, classifier, tmp_path, flag, region, colour,
                                                              weight):
    """With --lambda-real-hairline (--lambda-real-jaw), a real face's age edit changes its
    forehead's (jaw's) brightness less than the same steps without it (the band follows the face's
    landmarks), and the face is still edited; with --lambda-real-tint, the face's coarse colour."""
    from trainer import pairs as regions
    from trainer.losses import tone

    smudge, change = {0.0: 0.0, weight: 0.0}, {0.0: 0.0, weight: 0.0}
    for seed in range(SEEDS):  # ten steps move a small net by chance as much as by a term: summed over seeds
        solvers = {w: trained_on_real(pairs, student[1], classifier, tmp_path / f"{seed}-{w}", **{flag: w}, seed=seed)
                   for w in (0.0, weight)}
        r = solvers[weight].real_batch(0, augment=False)
        real = solvers[weight].real
        draw = blend.face_mask if region == "face" else getattr(regions, region)
        for i in range(len(r["x"])):
            want = cv2.resize(draw(real.points[r["index"][i]].astype(np.float32), real.crops.shape[1]), (64, 64),
                              interpolation=cv2.INTER_AREA)
            assert np.abs(r[region][i, 0].numpy() - want).mean() < 0.02 and want.sum() > 10
        c = r["c"].clone()
        c[:, 0], c[:, 1], c[:, 2] = 0.5, 0, -1  # every face younger
        with torch.no_grad():
            out = {w: solver.G(r["x"], c)[0] for w, solver in solvers.items()}
        for w, fake in out.items():
            smudge[w] += tone(fake, r["x"], r[region], colour).item()
            change[w] += (fake - r["x"]).abs().mean().item()
    assert smudge[weight] < 0.7 * smudge[0.0], smudge
    assert change[weight] > 0.2 * change[0.0], change


def test_real_jaw_younger_holds_the_jaws_made_younger_not_older(student, pairs, classifier, tmp_path):
    """With --real-jaw-younger the jaw's hold weighs on real faces made younger only: their jaw's
    smudge is held as with the hold on every age edit, and faces made older keep more of their
    jaw's change than under that hold."""
    from trainer.losses import tone

    smudge = {shift: {"free": 0.0, "both": 0.0, "younger": 0.0} for shift in (-1, 1)}
    for seed in range(SEEDS):
        solvers = {name: trained_on_real(pairs, student[1], classifier, tmp_path / f"{seed}-{name}", **options, seed=seed)
                   for name, options in (("free", {}), ("both", {"lambda_real_jaw": 50.0}),
                                         ("younger", {"lambda_real_jaw": 50.0, "real_jaw_younger": True}))}
        r = solvers["younger"].real_batch(0, augment=False)
        for shift in (-1, 1):
            c = r["c"].clone()
            c[:, 0], c[:, 1], c[:, 2] = 0.5, 0, shift
            with torch.no_grad():
                for name, s in solvers.items():
                    smudge[shift][name] += tone(s.G(r["x"], c)[0], r["x"], r["jaw"]).item()
    assert smudge[-1]["younger"] < 0.7 * smudge[-1]["free"], smudge
    assert smudge[1]["younger"] > smudge[1]["both"], smudge


def test_real_faces_keep_their_outline(student, pairs, classifier, tmp_path):
    """With --lambda-real-outline, a real face's edit moves its outline (the band along the
    landmarks' hull, mirrored with the face when the batch flips it) less than the same steps
    without it, and the middle of the face is still edited."""
    ratios = []
    for seed in range(3):
        solvers = {w: trained_on_real(pairs, student[1], classifier, tmp_path / f"{seed}-{w}",
                                      lambda_real_outline=w, seed=seed) for w in (0.0, 60.0)}
        r = solvers[60.0].real_batch(3)
        band = r["outline"]
        assert r["flip"].any() and band.shape == (len(r["x"]), 1, 64, 64)
        real = solvers[60.0].real
        for i in range(len(band)):  # the band follows each face's own landmarks and its mirroring
            want = torch.from_numpy(cv2.resize(blend.outline(real.points[r["index"][i]].astype(np.float32), real.crops.shape[1]),
                                               (64, 64), interpolation=cv2.INTER_AREA))
            want = want.flip(1) if r["flip"][i] else want
            assert (band[i, 0] - want).abs().mean() < 0.02
        moved, inside = {}, {}
        with torch.no_grad():
            for w, solver in solvers.items():
                change = (solver.G(r["x"], r["c"])[0] - r["x"]).abs().mean(1, keepdim=True)
                moved[w] = ((change * band).sum() / band.sum()).item()
                inside[w] = change[..., 24:40, 24:40].mean().item()
        ratios.append((moved[60.0] / moved[0.0], inside[60.0] / inside[0.0]))
    # Ten steps from one seed are not enough to judge by: seeds 0-4 kept 0.22-0.53 of the outline's
    # change (the middle 0.31-0.66) on one machine, and on another seed 0 kept 0.85 (its middle
    # 1.39) where seeds 1-3 kept 0.17-0.30. The median of three seeds is judged. That the outline
    # loses more in proportion than the middle is not asserted (0.70-0.95 of it for most seeds).
    outline, middle = np.median(np.array(ratios), axis=0)
    assert outline < 0.65 and middle > 0.2, ratios


def test_change_outside_the_face_tells_hair_from_lipstick(student):
    """The eval's `change_outside_face` on real faces: tint the lips and the share is near 0; paint
    the top of the crop (above the forehead, where hair is) and it is near 1."""
    from trainer.data import FaceSet
    from trainer.evaluate import outside_face

    faces = FaceSet(student[1], "val")
    crops, pts = faces.crops, faces.points[..., :2]
    lips, hair = crops.copy(), crops.copy()
    for img, p in zip(lips, pts):
        x, y = np.round(p[[13, 14]].mean(0)).astype(int)  # MediaPipe's inner upper and lower lip
        img[y - 3:y + 4, x - 6:x + 7, 2] = np.clip(img[y - 3:y + 4, x - 6:x + 7, 2].astype(int) + 60, 0, 255)
    hair[:, : crops.shape[1] // 8] //= 2
    assert outside_face(crops, lips, pts) < 0.1
    assert outside_face(crops, hair, pts) > 0.9
    assert outside_face(crops, crops, pts) == 0.0


def test_tone_change_tells_a_painted_fringe_from_glasses_and_a_jaw_shadow(student):
    """The eval's `forehead_change` on real faces: a dark band across the upper forehead (the
    fringe "younger" painted) reads tens of grey levels; dark frames over the eyes and a darker
    chin (glasses, a beard), near none; an unchanged face, none. Its `jaw_change`: a dark band
    along the jaw and under the chin reads tens, the fringe near none."""
    from trainer.data import FaceSet
    from trainer.evaluate import tone_change
    from trainer.pairs import forehead, jaw

    faces = FaceSet(student[1], "val")
    crops, pts = faces.crops, faces.points[..., :2]
    fringe, glasses, shadow = crops.copy(), crops.copy(), crops.copy()
    for f, g, d, p in zip(fringe, glasses, shadow, pts):
        brow = int(p[[105, 334], 1].mean())
        left, right = int(p[:, 0].min()), int(p[:, 0].max())
        f[max(int(p[:, 1].min()) - 3, 0):brow - 3, left:right] //= 3
        eyes = int(p[[159, 386], 1].mean())
        g[eyes - 3:eyes + 4, left:right] //= 3
        g[int(p[152, 1]) - 12:, left:right] //= 2
        band = cv2.dilate(jaw(p, len(d)), np.ones((3, 3), np.uint8)) > 0.05
        d[band] //= 3
        # The band reaches the neck under the chin, not the cheeks or the nose.
        chin, size = p[152], len(d)
        assert jaw(p, size)[min(int(chin[1] + size / 8), size - 1), int(chin[0])] > 0.5
        assert jaw(p, size)[int(p[1, 1]) - 1, int(p[1, 0])] == 0 == jaw(p, size)[int(p[205, 1]), int(p[205, 0])]
    assert tone_change(crops, crops, pts, forehead) == 0.0 == tone_change(crops, crops, pts, jaw)
    assert tone_change(crops, fringe, pts, forehead) > 30 > 5 > tone_change(crops, fringe, pts, jaw)
    assert tone_change(crops, glasses, pts, forehead) < 5
    assert tone_change(crops, shadow, pts, jaw) > 30 > 5 > tone_change(crops, shadow, pts, forehead)


def test_prepare_keeps_where_a_tight_photo_ends(student):
    """A UTKFace chip is tight: at the student's margin its photo covers about a quarter of the
    crop, which repeats the photo's border beyond. The cache keeps the photo's corners: the area
    they draw is where a white photo aligned the same way lands (less its blended edge), and holds
    every landmark of the face."""
    from mirror.landmarks import Landmarker
    from trainer.data import FaceSet, landmarks, photo_area

    faces = FaceSet(student[1], None)
    source = Path(json.loads((student[1] / "prepare.json").read_text())["source"]) / "images"
    side = faces.crops.shape[1]
    with Landmarker(max_faces=1, video=False) as mesh:
        for file, points, corners in list(zip(faces.files, faces.points, faces.corners))[:6]:
            image = cv2.imread(str(source / file))
            align = Alignment.from_landmarks(landmarks(mesh, image), faces.spec)
            white = align.crop(np.full_like(image, 255), border=cv2.BORDER_CONSTANT)[..., 0] > 250
            area = photo_area(corners, side) > 0
            assert not (area & ~white).any() and area.sum() > 0.8 * white.sum(), (area.sum(), white.sum())
            assert 0.1 < area.mean() < 0.6, area.mean()
            at = np.clip(np.round(points[:, :2].astype(np.float32)).astype(int), 0, side - 1)
            assert area[at[:, 1], at[:, 0]].mean() > 0.97


def test_real_faces_answer_only_for_the_photos_own_pixels(student, pairs, classifier, tmp_path):
    """--real-inside: the real faces' terms (the real-photo discriminator, the classifier, the edit
    taken back) see the edit on the photo's own pixels only. An edit drawn beyond the photo's edge,
    where the crop repeats its border, costs what no edit costs; the same drawn inside does not."""
    from trainer.solver import Config
    from trainer.student import StudentSolver

    cfg = Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, steps=1, batch=4, lr=0.0,
                 real=str(student[1]), classifier=str(classifier), lambda_real=1.0, lambda_real_adv=1.0,
                 lambda_real_alpha=0.0, lambda_real_cyc=1.0, real_inside=True)
    solver = StudentSolver(cfg, tmp_path / "run")
    inside = solver.real_batch(3)["inside"]
    assert 0.2 < inside.mean() < 0.95 and inside.shape == (4, 1, 64, 64)
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.5, inside.expand(-1, 3, -1, -1).shape).astype(np.float32))

    def terms(paint: torch.Tensor) -> dict:
        # Each way (the edit, and the edit taken back) adds `paint`; the batch is drawn again each
        # time, as the classifier's view takes its random shift from the batch's own generator.
        solver.G = lambda x, c: (x + paint, torch.zeros_like(x[:, :1]))
        return solver.real_step(solver.real_batch(3))[1]

    none, outside, within = terms(0 * noise), terms(noise * (1 - inside)), terms(noise * inside)
    for key in ("G/real_adv", "G/real_attr"):
        assert outside[key] == pytest.approx(none[key], abs=1e-6) and abs(within[key] - none[key]) > 1e-3, key
    # Not zero: the L1's coarse scales reach a little past the photo's edge.
    assert outside["G/real_cyc"] < 0.2 * within["G/real_cyc"], (outside, within)


def test_real_faces_edits_answer_to_a_discriminator_of_the_teachers_changes(student, pairs, classifier, tmp_path):
    """--lambda-real-edit: a discriminator sees changes alone (output minus input) with their
    condition, the step's teacher pairs as real and the real faces' edits as fake. It learns from
    its own loss only (from the same start it steps alike whatever the weight), the generator's
    loss grows by the weight times its score, and a run keeps it in its checkpoint."""
    import copy
    from dataclasses import replace

    from trainer import checkpoint

    solver = trained_on_real(pairs, student[1], classifier, tmp_path / "run", steps=2, every=2, lambda_real=0.0,
                             lambda_real_adv=0.0, lambda_real_edit=1.0)
    assert "E" in checkpoint.load(tmp_path / "run" / "checkpoint.pt")["nets"]
    b = solver.train_batch(5)
    start = copy.deepcopy(solver.E.state_dict())
    seen = {}
    for weight in (1.0, 3.0):
        solver.E.load_state_dict(start)
        solver.opts = solver.optimizers()
        solver.cfg = replace(solver.cfg, lambda_real_edit=weight)
        loss, logs = solver.real_step(b["real"], b)
        seen[weight] = loss.item(), logs["G/real_edit"], copy.deepcopy(solver.E.state_dict())
    assert "E/adv" in logs and seen[1.0][1] > 0
    assert all(torch.equal(seen[1.0][2][k], seen[3.0][2][k]) for k in start)
    assert not all(torch.equal(seen[1.0][2][k], start[k]) for k in start)
    rest = seen[1.0][0] - seen[1.0][1]  # the real faces' other terms, the same in both calls
    assert seen[3.0][0] == pytest.approx(rest + 3 * seen[1.0][1], rel=1e-4)


def test_the_real_photo_verdict_weighed_where_the_edit_is(student, pairs, classifier, tmp_path):
    """--real-adv-edited: the generator's realism term on real faces counts each of the real-photo
    discriminator's patches by how open the alpha is over it. Patches the alpha leaves shut cannot
    move it; it is the patches' plain mean when the alpha is open evenly; a run trains with it."""
    from trainer.losses import lsgan

    scores = torch.rand(2, 1, 6, 6)
    where = torch.zeros(2, 1, 48, 48)
    where[:, :, :16, :16] = 1.0  # over the top-left 2 x 2 patches alone
    moved = scores.clone()
    moved[:, :, 2:, :] += 5.0
    assert lsgan(moved, True, where) == pytest.approx(lsgan(scores, True, where).item())
    assert lsgan(moved, True, where) == pytest.approx(((scores[:, :, :2, :2] - 1) ** 2).mean().item())
    assert lsgan(moved, True, torch.full_like(where, 0.3)) == pytest.approx(lsgan(moved, True).item())
    assert lsgan(moved, True).item() > 10 * lsgan(scores, True).item()

    solver = trained_on_real(pairs, student[1], classifier, tmp_path / "run", steps=2, every=2, real_adv_edited=True)
    b = solver.train_batch(5)
    _, logs = solver.real_step(b["real"], b)
    assert np.isfinite(logs["G/real_adv"]) and logs["G/real_adv"] > 0


def test_a_discriminator_of_changes_that_sees_the_output(student, pairs, classifier, tmp_path):
    """--real-edit-output: the discriminator of changes sees the output beside the change, so a
    change into colours no face or background has (a hair taken away into green) can be told from
    the teacher's. The same change ending in other colours scores otherwise; without the option
    it cannot."""
    seen = {}
    for shown in (False, True):
        solver = trained_on_real(pairs, student[1], classifier, tmp_path / str(shown), steps=2, every=2,
                                 lambda_real=0.0, lambda_real_edit=1.0, real_edit_output=shown)
        b = solver.pick(solver.val, 0, 4, False)
        change = b["y"] - b["x"]
        other = (b["x"] * torch.tensor([-1.0, 1.0, 1.0])[None, :, None, None]).clamp(-1, 1)  # red turned round
        with torch.no_grad():
            scores = [solver.E(solver.edit_shown(start, start + change, b["c"])) for start in (b["x"], other)]
        seen[shown] = (scores[0] - scores[1]).abs().max().item()
        assert solver.E.features[0].in_channels == (6 if shown else 3) + b["c"].shape[1]
    assert seen[False] < 1e-5 and seen[True] > 1e-2  # 1e-5: the rounding of (start + change) - start


def test_pairs_that_take_hair_away_can_be_left_out(pairs, tmp_path, capsys):
    """--max-shrink F: an edit whose person mask is smaller than its source's by more than F (the
    teacher's "to male" taking long hair away, the background behind it to invent) is left out of
    training with its way back; every other example stays, and the option reaches the student."""
    from trainer.pairs import HOLDOUT, PairSet, silhouette
    from trainer.solver import Config
    from trainer.student import StudentSolver

    spec = AlignSpec(64, 0.3)
    ratios = []
    for path in sorted((pairs / "pairs").glob("[0-9]*.npz")):
        with np.load(path) as f:
            if int(path.stem) % HOLDOUT != HOLDOUT - 1 and f["found"]:
                ratios += [silhouette(f["masks"], k) for k in range(1, len(f["kept"]) + 1) if f["kept"][k - 1]]
    assert min(ratios) < max(ratios)
    cut = 1 - float(np.median(ratios))  # about half the edits shrink more than the median
    gone = sum(r < 1 - cut for r in ratios)
    assert 0 < gone < len(ratios)
    every, fewer = PairSet(pairs, spec), PairSet(pairs, spec, max_shrink=cut)
    assert every.forward.sum() == len(ratios) and fewer.forward.sum() == len(ratios) - gone
    assert len(every) - len(fewer) == 2 * gone  # the edit and its way back
    assert (~fewer.forward).sum() == (~every.forward).sum() - gone
    solver = StudentSolver(Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, batch=2,
                                  max_shrink=cut), tmp_path / "s")
    assert len(solver.data) == len(fewer)
    code, _, err = run_cli(capsys, "train", "--kind", "student", "--data", pairs, "--run", tmp_path / "r",
                           "--size", "64", "--batch", "2", "--steps", "1", "--threads", "1", "--max-shrink", "1.5")
    assert code == 2 and "--max-shrink" in err and len(err.strip().splitlines()) == 1


def test_a_gender_edit_can_keep_the_hair_the_teacher_took(pairs, tmp_path):
    """--keep-hair: where a gender edit's person mask lost what the source's had (long hair, the
    background behind it the teacher's invention), the target is the source; a jaw drawn a little
    narrower is not hair taken, and age edits keep the teacher's target."""
    from trainer.pairs import PairSet, composite, taken
    from trainer.solver import Config
    from trainer.student import StudentSolver

    path = next(p for p in sorted((pairs / "pairs").glob("[0-9]*.npz")) if np.load(p)["found"])
    with np.load(path) as f:
        src, edit, before = f["crops"][0], f["crops"][1], f["masks"][0]
    n = before.shape[0]
    after = cv2.erode(before, np.ones((5, 5), np.uint8))  # the whole outline 2 px narrower...
    after[:, : n // 2] = 0  # ...and the left half of the person gone
    gone = taken(before, after)
    assert gone[:, n // 2 + 8:].sum() == 0  # the narrower outline alone is not taken
    assert gone[:, : n // 2].sum() > 0.9 * (before[:, : n // 2 - 8] > 127).sum()
    valid = np.ones((n, n), np.float32)
    kept, plain = (composite(src, edit, (before, after), valid, keep) for keep in (True, False))
    deep = cv2.erode(gone, np.ones((25, 25), np.uint8)) > 0  # past the grown, feathered border
    assert deep.sum() > 500
    np.testing.assert_array_equal(kept[deep], src[deep])
    assert np.abs(plain[deep].astype(int) - src[deep]).mean() > 2  # the teacher's change there is gone
    far = cv2.dilate(gone, np.ones((25, 25), np.uint8)) == 0
    np.testing.assert_array_equal(kept[far], plain[far])

    spec = AlignSpec(64, 0.3)
    every, hair = PairSet(pairs, spec), PairSet(pairs, spec, keep_hair=True)
    np.testing.assert_array_equal(every.conditions, hair.conditions)
    back = np.flatnonzero(hair.forward) + 1  # an edit's way back starts from the target it kept
    np.testing.assert_array_equal(hair.inputs[back], hair.targets[back - 1])
    age = every.conditions[:, 1] == 0
    np.testing.assert_array_equal(every.targets[age], hair.targets[age])
    solver = StudentSolver(Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, batch=2,
                                  keep_hair=True), tmp_path / "s")
    np.testing.assert_array_equal(solver.data.targets, hair.targets)


def test_a_gender_edits_way_back_can_keep_the_hair_the_teacher_added(pairs, tmp_path):
    """--keep-added-hair: the way back of a gender edit that grew the person (the long hair of a
    "to female") is a "to male" whose target keeps that hair, not the background the teacher
    painted behind it; the person's own pixels still go back to the source, age edits' ways back
    are the plain source, and every target lies between the edit and the source."""
    from trainer.pairs import PairSet, composite, taken
    from trainer.solver import Config
    from trainer.student import StudentSolver

    path = next(p for p in sorted((pairs / "pairs").glob("[0-9]*.npz")) if np.load(p)["found"])
    with np.load(path) as f:
        src, edit, before = f["crops"][0], f["crops"][1], f["masks"][0]
    n = before.shape[0]
    after = before.copy()
    after[:, : n // 3] = 255  # the edit grew the person over the left third: hair down the side
    added = taken(after, before)
    assert added[:, : n // 3].sum() > 0.9 * (before[:, : n // 3 - 8] < 128).sum()
    valid = np.ones((n, n), np.float32)
    back = composite(edit, src, (after, before), valid, keep_hair=True)
    deep = cv2.erode(added, np.ones((25, 25), np.uint8)) > 0
    assert deep.sum() > 500 and np.abs(edit[deep].astype(int) - src[deep]).mean() > 2
    np.testing.assert_array_equal(back[deep], edit[deep])  # the added hair stays
    person = cv2.erode(before, np.ones((25, 25), np.uint8)) > 127
    far = person & (cv2.dilate(added, np.ones((25, 25), np.uint8)) == 0)
    assert far.sum() > 500
    np.testing.assert_array_equal(back[far], src[far])  # the face goes back to the source's

    spec = AlignSpec(64, 0.3)
    every, hair = PairSet(pairs, spec), PairSet(pairs, spec, added_hair=True)
    np.testing.assert_array_equal(every.conditions, hair.conditions)
    np.testing.assert_array_equal(every.inputs, hair.inputs)
    np.testing.assert_array_equal(every.targets[every.forward], hair.targets[hair.forward])
    way_back = ~every.forward
    age = way_back & (every.conditions[:, 1] == 0)
    np.testing.assert_array_equal(every.targets[age], hair.targets[age])
    assert (hair.targets[way_back] != every.targets[way_back]).mean() > 0.01  # the teacher grows hair on men
    to_edit = np.abs(hair.targets[way_back].astype(int) - hair.inputs[way_back])
    assert np.all(to_edit <= np.abs(every.targets[way_back].astype(int) - every.inputs[way_back]) + 1)
    solver = StudentSolver(Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, batch=2,
                                  keep_added_hair=True), tmp_path / "s")
    np.testing.assert_array_equal(solver.data.targets, hair.targets)


def test_keep_hairline_keeps_the_forehead_an_age_edit_covers_and_every_other_change(pairs, tmp_path):
    """--keep-hairline: where an age edit draws a fringe over the forehead (a coarse change of its
    brightness), the target keeps the source's forehead; below the brows (glasses, lines, the eyes)
    and outside the face the teacher's change stays, and gender edits keep all of theirs."""
    from trainer.pairs import PairSet, forehead, hairline, landmarks_in
    from trainer.solver import Config
    from trainer.student import StudentSolver

    path = next(p for p in sorted((pairs / "pairs").glob("[0-9]*.npz")) if np.load(p)["found"])
    with np.load(path) as f:
        src, points, matrix = f["crops"][0], f["points"], f["matrix"]
    n = src.shape[0]
    crop = landmarks_in(points, matrix, AlignSpec(n, 0.5))
    band = forehead(crop, n)
    rows = np.flatnonzero(band.max(1) > 0.5)
    assert len(rows) > n // 40 and rows.max() < crop[[159, 386], 1].min()  # above the eyes
    change = np.zeros((n, n, 1), np.float32)
    change[band > 0.5] = -90  # a dark fringe over the forehead
    below = np.zeros((n, n), bool)
    below[rows.max() + n // 8:] = True
    rng = np.random.default_rng(0)
    change[below] = rng.choice([-40, 40], size=(below.sum(), 1))  # lines, glasses, a beard: all kept
    edit = np.clip(src.astype(np.float32) + change, 0, 255).astype(np.uint8)
    out = hairline(src, edit, band, 30.0).astype(int)
    deep = cv2.erode((band > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert deep.sum() > 50
    assert np.abs(out[deep] - src[deep]).mean() < 4 < np.abs(edit[deep].astype(int) - src[deep]).mean()
    np.testing.assert_array_equal(out[below], edit[below])
    untouched = hairline(src, np.clip(src.astype(int) + change * below[..., None], 0, 255).astype(np.uint8),
                         band, 30.0)
    np.testing.assert_array_equal(untouched[below], edit[below])  # no fringe drawn: nothing kept

    spec = AlignSpec(64, 0.3)
    every, kept = PairSet(pairs, spec), PairSet(pairs, spec, fringe=30.0)
    np.testing.assert_array_equal(every.conditions, kept.conditions)
    gender = every.conditions[:, 1] == 1
    np.testing.assert_array_equal(every.targets[gender], kept.targets[gender])
    back = np.flatnonzero(kept.forward) + 1  # an edit's way back starts from the target it kept
    np.testing.assert_array_equal(kept.inputs[back], kept.targets[back - 1])
    solver = StudentSolver(Config(kind="student", data=str(pairs), arch="unet16", size=64, margin=0.3, batch=2,
                                  keep_hairline=30.0), tmp_path / "s")
    np.testing.assert_array_equal(solver.data.targets, kept.targets)


def test_coarse_hair_keeps_the_face_and_the_hair_the_teacher_changed_not_its_strands(pairs):
    """--coarse-hair: outside the face a target keeps the teacher's coarse change (hair greyed or
    added) and drops the strands it merely re-rendered; inside the face every change stays."""
    from trainer.pairs import PairSet, coarse_only, face_in

    path = next(p for p in sorted((pairs / "pairs").glob("[0-9]*.npz")) if np.load(p)["found"])
    with np.load(path) as f:
        src, points, matrix = f["crops"][0], f["points"], f["matrix"]
    n = src.shape[0]
    face = face_in(points, matrix, AlignSpec(n, 0.5))
    # The face the stored crop was cut around, by the runtime's alignment of the same landmarks.
    a = Alignment.from_landmarks(points, AlignSpec(n, 0.5))
    hull = blend.face_mask(a.to_crop(points), n, feather=0) > 0.5
    assert face[hull].min() > 0.9 and 0.1 < (face > 0.5).mean() < 0.6
    outside = cv2.erode((face < 0.01).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    rng = np.random.default_rng(0)
    strands = rng.choice([-40, 40], size=(n, n, 1)).astype(np.float32)  # fine, zero-mean: strands re-drawn
    grey = np.zeros((n, n, 1), np.float32)
    grey[: n // 4] = 60  # coarse: the top of the head greyed
    change = strands * (np.arange(n)[:, None, None] >= n // 4) + grey
    edit = np.clip(src.astype(np.float32) + change, 0, 255).astype(np.uint8)
    out = coarse_only(src, edit, face, 12.0).astype(int)
    redrawn = outside.copy()
    redrawn[: n // 4 + n // 8] = False  # clear of the greyed band's blurred edge
    assert np.abs(out[redrawn] - src[redrawn]).mean() < 2 < np.abs(edit[redrawn].astype(int) - src[redrawn]).mean()
    top = outside.copy()
    top[n // 4 - n // 16:] = False
    assert np.abs(out[top] - edit[top]).mean() < 2
    inner = face > 0.99
    np.testing.assert_array_equal(out[inner], edit[inner])

    spec = AlignSpec(64, 0.3)
    every, coarse = PairSet(pairs, spec), PairSet(pairs, spec, coarse=12.0)
    np.testing.assert_array_equal(every.conditions, coarse.conditions)
    still = (every.inputs == every.targets).all((1, 2, 3))  # each source's "no change"
    assert still.any()
    np.testing.assert_array_equal(every.inputs[still], coarse.inputs[still])
    moved = np.abs(every.targets.astype(int) - every.inputs).mean()
    assert np.abs(coarse.targets.astype(int) - coarse.inputs).mean() < moved


def test_two_processes_sharing_a_synthesis_render_each_identity_once(pairs, monkeypatch, capsys):
    """--share K/N: processes side by side take the identities K modulo N, and together write what
    one would."""
    before = {i: dict(np.load(pairs / "pairs" / f"{i:06d}.npz")) for i in (6, 7)}
    for i in before:
        (pairs / "pairs" / f"{i:06d}.npz").unlink()
    from trainer.teacher import Teacher

    real, sources = Teacher.render, []
    monkeypatch.setattr(Teacher, "render", lambda self, w: sources.append(1) or real(self, w))
    synthesizer(pairs).run(share=(1, 2))
    assert not (pairs / "pairs" / "000006.npz").exists() and (pairs / "pairs" / "000007.npz").exists()
    synthesizer(pairs).run(share=(0, 2))
    for i, rec in before.items():
        after = dict(np.load(pairs / "pairs" / f"{i:06d}.npz"))
        for key in rec:
            np.testing.assert_array_equal(rec[key], after[key], err_msg=key)
    assert len(sources) == sum(len(r.get("conditions", [])) for r in before.values())
    capsys.readouterr()  # the progress bars above
    code, _, err = run_cli(capsys, "synthesize", "--out", pairs, "--share", "2/2")
    assert code == 2 and err.count("\n") == 1 and "--share" in err


def spectacles(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`image` with dark rims drawn round both eyes and a bridge between them over the nose."""
    out = image.copy()
    eyes = [points[[33, 133], :2], points[[362, 263], :2]]
    t = max(2, image.shape[0] // 100)
    for eye in eyes:
        centre, width = eye.mean(0), np.linalg.norm(eye[1] - eye[0])
        cv2.ellipse(out, (centre * 16).astype(int), (int(width * 16 * 0.8), int(width * 16 * 0.55)), 0, 0, 360,
                    (30, 30, 30), t, cv2.LINE_AA, shift=4)
    inner = [eyes[0].mean(0) + [0.8 * np.linalg.norm(eyes[0][1] - eyes[0][0]), 0],
             eyes[1].mean(0) - [0.8 * np.linalg.norm(eyes[1][1] - eyes[1][0]), 0]]
    cv2.line(out, *(tuple((p * 16).astype(int)) for p in inner), (30, 30, 30), t, cv2.LINE_AA, shift=4)
    return out


def test_drop_glasses_leaves_out_the_age_edits_that_put_glasses_on_not_lines_or_gender(pairs, tmp_path):
    """The teacher's "older" puts glasses on a quarter of its faces and its "younger" takes them
    off: --drop-glasses leaves those age edits out, by the edges on the bridge of the nose. The lines
    an age edit draws (brow, crow's feet) and a changed skin tone do not count, and gender edits stay."""
    from trainer.pairs import PairSet, landmarks_in, worn

    def ages(f):
        return [i for i, c in enumerate(f["conditions"]) if not c[1] and f["kept"][i]] if f["found"] else []

    path = next(p for p in sorted((pairs / "pairs").glob("[0-9]*.npz")) if ages(np.load(p)))
    f = dict(np.load(path))
    src = f["crops"][0]
    at = landmarks_in(f["points"], f["matrix"], STORE)
    on = spectacles(src, at)
    assert worn(src, on, at) > 15 and worn(on, src, at) < -15
    aged = src.copy()
    brow = at[[105, 334], :2].mean(0)
    for dy in (-12, -7, -2):  # lines across the brow, crow's feet, a darker, warmer skin
        cv2.line(aged, (int(at[[70], 0].item()), int(brow[1] + dy)), (int(at[[300], 0].item()), int(brow[1] + dy)), (60, 70, 90), 2)
    for corner in (33, 263):
        x, y = at[corner, :2].astype(int)
        for dy in (-4, 0, 4):
            cv2.line(aged, (x, y), (x + (8 if corner == 263 else -8), y + dy), (60, 70, 90), 1)
    aged = np.clip(aged.astype(int) * [0.9, 0.92, 1.0], 0, 255).astype(np.uint8)
    assert abs(worn(src, aged, at)) < 15

    # One of the teacher's age edits replaced by the source with glasses drawn on: only it goes.
    folder = tmp_path / "with-glasses"
    shutil.copytree(pairs / "pairs", folder / "pairs")
    k = ages(f)[0]
    f["crops"][k + 1] = on
    np.savez(folder / "pairs" / path.name, **f)
    spec = AlignSpec(64, 0.3)
    every, kept = PairSet(folder, spec), PairSet(folder, spec, glasses=15.0)
    def edit(p):  # the drawn edit's place in a pair set: its identity's age edit by the same years
        return p.forward & (p.ids == int(path.stem)) & (p.conditions[:, 1] == 0) & (p.conditions[:, 2] == f["conditions"][k][2])

    assert edit(every).sum() == 1 and edit(kept).sum() == 0
    teacher = every.forward & (every.conditions[:, 1] == 0)
    assert (kept.conditions[kept.forward, 1] == 1).sum() == (every.conditions[every.forward, 1] == 1).sum()
    left = teacher.sum() - (kept.forward & (kept.conditions[:, 1] == 0)).sum()
    assert 0 < left == kept.glasses_left_out < kept.ages == teacher.sum()
