"""torch.distributed helpers: set-up from torchrun's environment, rank queries, gathering."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed(use_cuda: bool = True) -> int:
    """Join the process group torchrun describes (WORLD_SIZE > 1); nccl on GPUs, gloo on CPUs.

    Returns the world size (1 when not launched by torchrun).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return get_world_size()
    cuda = use_cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return world


def run_device(cfg) -> torch.device:
    """The run's device: CUDA (the process's current GPU) when available and ``USE_CUDA``, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() and cfg.USE_CUDA else torch.device("cpu")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def all_gather_objects(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed."""
    if not is_distributed():
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
