"""`mirror-train`'s entry point: the trainer needs the `train` extra (torch, onnx, tensorboard, openvino),
which `pip install -e ".[cpu]"` (the app alone) leaves out; say so in one line, not a traceback."""

from __future__ import annotations

import sys

# The top-level modules of pyproject.toml's `train` extra.
TRAIN_MODULES = {"torch", "onnx", "onnxscript", "tensorboard", "openvino"}


def main(argv: list[str] | None = None) -> int:
    from .cli import main as cli_main

    try:
        return cli_main(argv)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in TRAIN_MODULES:
            raise
        print(f"mirror-train: error: the trainer needs the `train` extra ({e.name} is missing): "
              f'pip install -e ".[cpu,train]"', file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
