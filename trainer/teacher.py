"""The teacher: MobileStyleGAN (FFHQ, 1024 px) as the `random-face` wheel ships it, in OpenVINO IR.

Only the two graphs of that wheel are used (`random_face/data/{Mapping,Synthesis}Network.xml|bin`),
through OpenVINO 2024.6, the last release that accepts numpy < 2 and so shares the trainer's
environment with mediapipe. The package's own Python is never imported: it needs the removed
`openvino.inference_engine` API and a downloader. Its weights derive from StyleGAN2 trained on
FFHQ: non-commercial terms, which every model trained on its renders inherits.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mirror.contract import to_pixels
from mirror.errors import MirrorError

INSTALL = "pip install 'openvino==2024.6.0' && pip install --no-deps random-face==2021.7.21.1"
LICENSE = ("renders of MobileStyleGAN (random-face 2021.7.21.1), distilled from StyleGAN2 trained on FFHQ: "
           "non-commercial terms (NVIDIA Source Code License-NC, FFHQ by-nc-sa 4.0)")
STYLE_DIM = 512


def graphs() -> Path:
    """The folder with the wheel's IR files, found without importing the package."""
    spec = importlib.util.find_spec("random_face")
    if spec is None or not spec.submodule_search_locations:
        raise MirrorError(f"the teacher needs the random-face wheel: {INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (folder / "SynthesisNetwork.xml").is_file():
        raise MirrorError(f"{folder}: random-face is installed without its generator files; reinstall: {INSTALL}")
    return folder


class Teacher:
    """z -> w (mapping) and w -> image (synthesis). `threads` bounds OpenVINO's CPU threads, so a
    render can run beside training."""

    def __init__(self, threads: int = 0):
        try:
            import openvino as ov
        except ImportError:
            raise MirrorError(f"the teacher needs OpenVINO: {INSTALL}") from None
        folder = graphs()
        core = ov.Core()
        # Bounded, it must not pin: OpenVINO pins a one-thread run to core 0, every process alike,
        # so two renders side by side (--share) or a render beside training shared one core.
        config = {"INFERENCE_NUM_THREADS": threads, "ENABLE_CPU_PINNING": False} if threads else {}
        self.mapping = core.compile_model(core.read_model(folder / "MappingNetwork.xml"), "CPU", config)
        self.synthesis = core.compile_model(core.read_model(folder / "SynthesisNetwork.xml"), "CPU", config)

    def styles(self, z: np.ndarray) -> np.ndarray:
        """(N, 512) latents -> (N, 512) styles w."""
        return np.concatenate([self.mapping(z[i:i + 1].astype(np.float32))[0] for i in range(len(z))])

    def mean_style(self, n: int = 4096, seed: int = 0) -> np.ndarray:
        """The centre of w space, the origin of the truncation trick."""
        z = np.random.default_rng(seed).standard_normal((n, STYLE_DIM)).astype(np.float32)
        return self.styles(z).mean(0)

    def render(self, w: np.ndarray) -> np.ndarray:
        """One style (512,) -> a 1024x1024 BGR uint8 face."""
        img = self.synthesis(w.reshape(1, STYLE_DIM).astype(np.float32))[0][0]
        return np.ascontiguousarray(to_pixels(img[None], bgr=True)[0])
