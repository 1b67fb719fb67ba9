"""Untrained stand-ins for the real generators, to time the pipeline before training ends: the
trainer's own export (ONNX fp32 and int8 QDQ, the faster shipped, its card) of checkpoints whose
weights are the seeded initial ones, with the real models' architecture (`small`: 16ch depthwise,
128 px, a condition input). Their cards say 0 training steps, and `mirror bench` labels them so.

    python docs/untrained_models.py OUT [DATA]     # DATA: a prepared cache (default data/utkface-128)
    mirror bench --models OUT/models
"""

import sys
from dataclasses import asdict
from pathlib import Path

import torch

from trainer import checkpoint
from trainer.export import export
from trainer.models import generator
from trainer.solver import Config

out = Path(sys.argv[1])
data = sys.argv[2] if len(sys.argv) > 2 else "data/utkface-128"
torch.set_num_threads(1)
for name, task in (("gender", "gender"), ("age", "age")):
    run = out / "runs" / name
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # the trainer's own seeded start
    cfg = Config(kind="stargan", data=data, task=task, arch="small")
    checkpoint.save(run / "checkpoint.pt", {"config": asdict(cfg), "step": 0, "time": 0.0,
                                           "nets": {"G": generator("small", cond=1).state_dict()}})
    card = export(run, out / "models" / f"untrained-{name}", calibration=32, parity=8, runs=30)
    print(name, card["format"], card["latency_ms"])
