"""The model registry: cards checked against the graphs, bad files reported, good ones kept."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mirror.errors import MirrorError
from mirror.models import Model, Registry, choose_providers
from mirror import cli
from runtime_fixtures import MEDIA, export_classifier, export_generator, run_cli


def test_loads_the_fixture_models(registry):
    assert sorted(m.task for m in registry.models.values()) == ["age", "attributes", "gender"]
    assert registry.problems == []
    for m in registry.models.values():
        assert m.provider == m.session.get_providers()[0] == "CPUExecutionProvider"
        assert m.batch
    gender = registry.require("gender")
    x = np.zeros((3, 3, 128, 128), np.float32)
    out = gender.run(x, np.array([[1.0], [0.0], [0.5]]))["image"]
    assert out.shape == (3, 3, 128, 128)
    # condition 1 -> redder at the centre, 0 -> bluer, 0.5 (neutral) -> unchanged
    assert out[0, 0, 64, 64] > 0.3 and out[1, 0, 64, 64] < -0.3 and np.allclose(out[2], 0)
    attrs = registry.require("attributes").run(x)
    assert attrs["female"].shape == (3, 1) and np.allclose(attrs["female"], 0.9)


def test_provider_order_prefers_accelerators():
    available = ["CPUExecutionProvider", "CUDAExecutionProvider", "AzureExecutionProvider", "TensorrtExecutionProvider"]
    assert choose_providers(available) == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["AzureExecutionProvider"]) == ["CPUExecutionProvider"]


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_reports_the_provider_that_really_runs(registry):
    import onnxruntime as ort

    # Asked for CUDA where it is missing, ONNX Runtime runs on the CPU: that is what must be reported.
    m = registry.require("gender")
    cuda_first = Model(m.path, m.card, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert cuda_first.provider == cuda_first.session.get_providers()[0]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert cuda_first.provider == "CPUExecutionProvider"


def test_fixed_batch_model_runs_faces_one_by_one(tmp_path, registry):
    export_generator(tmp_path, "g1", "gender", dynamic=False)
    model = Registry(tmp_path, providers=["CPUExecutionProvider"]).require("gender")
    assert not model.batch
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 128, 128)).astype(np.float32)
    c = np.array([[1.0], [0.0], [1.0]], np.float32)
    assert np.allclose(model.run(x, c)["image"], registry.require("gender").run(x, c)["image"])


def test_bad_models_are_reported_and_good_ones_kept(tmp_path, models_dir):
    shutil.copy(models_dir / "gender-fixture.onnx", tmp_path)
    shutil.copy(models_dir / "gender-fixture.json", tmp_path)
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    shutil.copy(models_dir / "gender-fixture.json", tmp_path / "garbage.json")
    (tmp_path / "orphan.onnx").write_bytes((models_dir / "age-fixture.onnx").read_bytes())
    (tmp_path / "lonely.json").write_text("{}")
    export_generator(tmp_path, "wrong-size", "age")
    card = json.loads((tmp_path / "wrong-size.json").read_text())
    card["align"]["size"] = 96
    card["inputs"]["image"] = [1, 3, 96, 96]
    (tmp_path / "wrong-size.json").write_text(json.dumps(card))
    export_generator(tmp_path, "wrong-names", "age")
    card = json.loads((tmp_path / "wrong-names.json").read_text())
    card["outputs"] = {"generated": [-1, 3, 128, 128]}  # the graph calls it "output"
    (tmp_path / "wrong-names.json").write_text(json.dumps(card))
    export_classifier(tmp_path, "no-task")
    card = json.loads((tmp_path / "no-task.json").read_text())
    card["task"] = "hair"
    (tmp_path / "no-task.json").write_text(json.dumps(card))
    export_generator(tmp_path, "wrong-condition", "gender")
    card = json.loads((tmp_path / "wrong-condition.json").read_text())
    card["inputs"]["condition"] = [-1, 2]
    (tmp_path / "wrong-condition.json").write_text(json.dumps(card))
    (tmp_path / "broken.onnx").write_bytes(b"")
    (tmp_path / "broken.json").write_text("{not json")

    reg = Registry(tmp_path)
    assert list(reg.models) == ["gender-fixture"]
    named = {str(p).split(":")[0].rsplit("/", 1)[-1] for p in reg.problems}
    assert named == {"garbage.onnx", "orphan.onnx", "lonely.json", "wrong-size.onnx", "wrong-names.onnx",
                     "wrong-condition.onnx",
                     "no-task.json", "broken.json"}
    assert all(isinstance(p, MirrorError) for p in reg.problems)
    assert any("unusable" in line for line in reg.describe())


def test_missing_models_are_clear_errors(tmp_path, registry):
    nowhere = Registry(tmp_path / "nowhere")  # a fresh checkout has no exported_models/ yet
    assert nowhere.models == {} and nowhere.problems == []
    with pytest.raises(MirrorError, match=r"no gender model in .*nowhere \(no such folder\)"):
        nowhere.require("gender")
    with pytest.raises(MirrorError, match="no age model"):
        Registry(tmp_path).require("age")
    assert registry.get("gender", name="no-such-name") is None


def test_sessions_take_one_thread_and_every_optimisation(models_dir):
    """One intra-op thread: the runner's other stage has the second core (docs/performance.md)."""
    import onnxruntime as ort

    for threads in (1, 2):
        for model in Registry(models_dir, threads=threads).models.values():
            opts = model.session.get_session_options()
            assert opts.intra_op_num_threads == threads
            assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


# -- damaged models beside good ones (docs/reliability.md) ---------------------------------------

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
