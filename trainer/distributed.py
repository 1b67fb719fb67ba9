"""Data-parallel training under `torchrun`: one process per device (gloo on CPU, NCCL on GPU).

Every rank builds the same step's batch (a pure function of seed and step) and keeps its own
contiguous shard of it; DistributedDataParallel averages the gradients, so N ranks follow the
same path as one process with the whole batch. Rank 0 alone writes checkpoints, logs and samples.
Without torchrun's environment all of this is a no-op: world 1, rank 0.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from mirror.errors import MirrorError


def init() -> None:
    """Joins the process group torchrun describes in the environment (WORLD_SIZE, RANK, ...)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def check_batch(batch: int) -> None:
    if batch % world():
        raise MirrorError(f"--batch {batch} does not split evenly over {world()} processes")


def shard(x):
    """This rank's contiguous share of a batch (tensors of the batch's length; anything else as is).
    Contiguous, so that gathering the shards in rank order rebuilds the batch."""
    n = world()
    if n == 1:
        return x
    if isinstance(x, dict):
        return {k: shard(v) for k, v in x.items()}
    if isinstance(x, torch.Tensor) and x.ndim:
        size = len(x) // n
        return x[rank() * size:(rank() + 1) * size]
    return x


def gather(x: torch.Tensor) -> torch.Tensor:
    """The whole batch from every rank's shard, in rank order (no gradient flows back)."""
    if world() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    if world() == 1:
        return module
    return torch.nn.parallel.DistributedDataParallel(module)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)


def mean(values: dict[str, float]) -> dict[str, float]:
    """Losses averaged over the ranks (what one process with the whole batch would log)."""
    if world() == 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(values, (t / world()).tolist()))


def barrier() -> None:
    if world() > 1:
        dist.barrier()
