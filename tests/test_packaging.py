"""The runtime install (`pip install mirror[cpu]`) must not pull torch: it is for training only."""

import importlib.util
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
TRAIN_ONLY = {"torch", "torchvision", "onnx", "onnxscript", "tensorboard"}


def norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["cpu"]]


def test_declared_runtime_closure_has_no_torch():
    """Offline: follow Requires-Dist of the installed distributions from mirror[cpu]'s own list."""
    seen, todo = set(), runtime_requirements()
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        todo += [Requirement(r) for r in dist.requires or []]
    assert {"mediapipe", "onnxruntime", "numpy"} <= seen
    assert not seen & TRAIN_ONLY, seen & TRAIN_ONLY


def test_pip_resolves_cpu_extra_without_torch(tmp_path):
    """pip's own resolver, as a user's install would run it (metadata only, nothing installed)."""
    report = tmp_path / "report.json"
    # With setuptools at hand, pip need not fetch a build backend to read mirror's own metadata.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", *isolation,
         "--quiet", "--disable-pip-version-check", "--report", str(report), f"{REPO}[cpu]"],
        capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and any(s in done.stderr for s in ("NewConnectionError", "Network is unreachable",
                                                                "Temporary failure in name resolution")):
        pytest.skip("no package index reachable")
    assert done.returncode == 0, done.stderr[-2000:]
    names = {norm(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    assert {"mirror", "mediapipe", "onnxruntime"} <= names
    assert not names & TRAIN_ONLY, names & TRAIN_ONLY
