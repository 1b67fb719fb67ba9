"""The classic ResNet-9 baseline of `mirror bench --compare-classic`, written without onnx or torch:
valid ONNX, the trainer's very architecture (same outputs from the same weights), and a model the
registry takes."""

import subprocess
import sys

import numpy as np
import pytest

from mirror.bench import classic
from mirror.models import Registry


def test_same_network_as_the_trainers_resnet9():
    onnx = pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from trainer.models import generator

    torch.manual_seed(0)
    net = generator("resnet9", cond=1).eval()
    with torch.no_grad():
        for p in net.parameters():  # norm scales off 1 and shifts off 0, so that every weight counts
            p.add_(0.05 * torch.randn_like(p))
    data = classic.resnet9(size=64, weights=[p.detach().numpy() for p in net.parameters()])
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 64, 64)).astype(np.float32)
    c = np.array([[1.0], [0.0]], np.float32)
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"image": x, "condition": c})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x), torch.from_numpy(c)).numpy()
    assert got.shape == (2, 3, 64, 64)
    assert np.abs(got - want).max() < 1e-4


def test_exported_model_loads_as_a_gender_model(tmp_path):
    classic.export(tmp_path, size=128, margin=0.1)
    model = Registry(tmp_path).require("gender")
    assert model.card.name == classic.NAME and model.batch
    out = model.run(np.zeros((2, 3, 128, 128), np.float32), np.ones((2, 1), np.float32))["image"]
    assert out.shape == (2, 3, 128, 128) and np.abs(out).max() <= 1


def test_needs_neither_onnx_nor_torch(tmp_path):
    code = ("import sys\nfrom mirror.bench import classic\n"
            f"classic.export({str(tmp_path)!r}, size=32)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx')]\n"
            "sys.exit(1 if bad else 0)\n")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
