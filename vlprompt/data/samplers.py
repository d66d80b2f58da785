"""Samplers for distributed runs that keep a single process's batches and evaluation results.

``GlobalBatchSampler`` draws the same permutation a single-process ``RandomSampler`` would (from the
global torch RNG, identical on every rank) and gives each rank its slice of every global batch, so a
run on N processes sees the same global batches, hence the same gradients, as one process with the
same DATALOADER.TRAIN_X.BATCH_SIZE. ``ShardSampler`` splits evaluation data without padding, so no
sample is counted twice.
"""
from __future__ import annotations

from typing import Iterator, List

import torch
from torch.utils.data import Sampler


class GlobalBatchSampler(Sampler):
    def __init__(self, num_samples: int, global_batch: int, rank: int, world_size: int):
        if global_batch % world_size != 0:
            raise ValueError(
                f"DATALOADER.TRAIN_X.BATCH_SIZE ({global_batch}) is the global batch and must be divisible by "
                f"the number of processes ({world_size})"
            )
        self.num_samples = num_samples
        self.global_batch = global_batch
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        if self.num_samples >= self.global_batch:
            return self.num_samples // self.global_batch  # drop_last, as the single-process loader
        return 1

    def __iter__(self) -> Iterator[List[int]]:
        # Same draw as RandomSampler without a generator (one int64 from the global RNG, lazily at
        # the first batch), so the global RNG stays in step with a single-process run.
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(seed)).tolist()
        g = min(self.global_batch, self.num_samples)
        per_rank = g // self.world_size
        for start in range(0, len(self) * g, g):
            batch = order[start:start + g]
            if self.num_samples < self.global_batch:  # one short batch: split it as evenly as possible
                yield batch[self.rank::self.world_size]
            else:
                yield batch[self.rank * per_rank:(self.rank + 1) * per_rank]


class ShardSampler(Sampler):
    """Indices rank, rank + world, rank + 2·world, ... (no padding, no repetition)."""

    def __init__(self, num_samples: int, rank: int, world_size: int):
        self.indices = list(range(rank, num_samples, world_size))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        return iter(self.indices)
