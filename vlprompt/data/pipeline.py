"""Keeping the data pipeline out of the way, without changing a single number.

Three exact speed-ups used by :mod:`vlprompt.data.data_manager`:

- **Decoded training images.** A few-shot training set is small (16 x classes images) but the original
  decodes every JPEG (and resizes it from full size) at every step of every epoch. The images are
  decoded once per run (``DATALOADER.DECODED_CACHE_MB``, in threads) and the training transform is
  applied to the decoded image: decoding is deterministic, so every crop and flip drawn for a seed is
  the one the uncached pipeline draws. Over the budget, the rest is decoded per step (as before), and
  the log says so.
- **Prepared evaluation images.** The deterministic part of the test transform (resize, centre crop:
  everything before ``ToTensor``) is computed once per process per image and kept as uint8
  (``DATALOADER.EVAL_CACHE_MB``), so evaluations after the first one (every epoch with
  ``TEST.FINAL_MODEL best_val``, or every run of a sweep in one process) skip decoding and resizing.
  ``ToTensor`` and ``Normalize`` still run per batch on the same uint8 pixels: the same tensors.
- **Persistent workers with the re-spawned workers' random numbers.** The original rebuilds its
  ``DATALOADER.NUM_WORKERS`` processes every epoch (several seconds of start-up per epoch). We keep them
  alive, and every epoch draw their base seed from the global torch RNG exactly where a fresh
  DataLoader would, and re-seed each worker as torch's worker loop does (``base_seed + worker_id`` for
  ``random`` and torch, torch's NumPy seeding): augmentation, sampler order and the global RNG stream
  are those of the original pipeline, so resumed runs still equal uninterrupted ones.
"""
from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Sampler

from .validation import read_image

_EVAL_CACHE: Dict[Tuple[str, str], np.ndarray] = {}  # (image path, transform prefix) -> uint8 HWC
_EVAL_CACHE_BYTES = [0]
_EVAL_LOCK = threading.Lock()


def _threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def decode_images(paths: Sequence[str], budget_bytes: int, desc: str = "decoding") -> Tuple[Dict[str, Image.Image], int]:
    """Decoded RGB images of ``paths`` (in threads) up to ``budget_bytes``; (cache, images left out)."""
    cache: Dict[str, Image.Image] = {}
    if budget_bytes <= 0 or not paths:
        return cache, len(paths)
    unique = list(dict.fromkeys(paths))
    used = 0
    left = 0
    with ThreadPoolExecutor(_threads()) as pool:
        for path, img in zip(unique, pool.map(_try_decode, unique)):
            if img is None:
                continue  # unreadable: the loader raises (or skips) it with its usual message
            size = img.width * img.height * 3
            if used + size > budget_bytes:
                left += 1
                continue
            cache[path] = img
            used += size
    return cache, left


def _try_decode(path: str) -> Optional[Image.Image]:
    try:
        return read_image(path)
    except RuntimeError:
        return None


def split_transform(transform) -> Tuple[Optional[object], Optional[object]]:
    """(deterministic prefix on PIL images, the rest from ToTensor on) of a Compose transform; (None,
    transform) when it cannot be split or its prefix is random (e.g. augmented views of training images)."""
    from torchvision import transforms as T

    if not isinstance(transform, T.Compose):
        return None, transform
    steps = transform.transforms
    cut = next((i for i, t in enumerate(steps) if isinstance(t, T.ToTensor)), None)
    if not cut or not all(type(t) in (T.Resize, T.CenterCrop) for t in steps[:cut]):
        return None, transform
    return T.Compose(steps[:cut]), T.Compose(steps[cut:])


def prepared_eval_image(path: str, prefix, key: str, budget_bytes: int) -> Image.Image:
    """``prefix(decoded image)`` from the process-level cache, or computed (and kept when it fits)."""
    hit = _EVAL_CACHE.get((path, key))
    if hit is not None:
        return Image.fromarray(hit)
    img = prefix(read_image(path))
    arr = np.asarray(img, dtype=np.uint8)
    with _EVAL_LOCK:
        if _EVAL_CACHE_BYTES[0] + arr.nbytes <= budget_bytes:
            _EVAL_CACHE[(path, key)] = arr
            _EVAL_CACHE_BYTES[0] += arr.nbytes
    return img


def prefill_eval_cache(paths: Sequence[str], prefix, key: str, budget_bytes: int) -> int:
    """Prepare ``paths`` in threads (before workers fork, so they inherit the cache); returns how many
    are cached."""
    todo = [p for p in dict.fromkeys(paths) if (p, key) not in _EVAL_CACHE]
    if budget_bytes <= 0 or not todo:
        return sum((p, key) in _EVAL_CACHE for p in paths)

    def work(path):
        try:
            prepared_eval_image(path, prefix, key, budget_bytes)
        except RuntimeError:
            pass  # unreadable: the loader raises (or skips) it with its usual message

    with ThreadPoolExecutor(_threads()) as pool:
        list(pool.map(work, todo))
    return sum((p, key) in _EVAL_CACHE for p in paths)


def clear_eval_cache() -> None:
    with _EVAL_LOCK:
        _EVAL_CACHE.clear()
        _EVAL_CACHE_BYTES[0] = 0


# ----------------------------------------------------------------------------- persistent workers
class EpochSeededBatchSampler(Sampler):
    """Wraps a batch sampler for persistent workers: at the start of each epoch, draws the workers' base
    seed from the global torch RNG where a freshly built DataLoader iterator draws it (before the
    sampler's own permutation draw) and tags every index of the epoch with it."""

    def __init__(self, batch_sampler):
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        base_seed = int(torch.empty((), dtype=torch.int64).random_().item())
        for batch in self.batch_sampler:
            yield [(index, base_seed) for index in batch]


def seed_worker_for_epoch(base_seed: int) -> None:
    """Seed this worker as torch's worker loop seeds a freshly started one."""
    from torch.utils.data._utils.worker import _generate_state

    info = torch.utils.data.get_worker_info()
    worker_id = info.id if info is not None else 0
    seed = base_seed + worker_id
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(_generate_state(base_seed, worker_id))


def loader_options(num_workers: int) -> dict:
    """DataLoader options for persistent workers (with a private generator, so that the loader's own
    base-seed draw does not consume the global RNG: EpochSeededBatchSampler draws it each epoch)."""
    if num_workers <= 0:
        return {}
    return {"persistent_workers": True, "generator": torch.Generator(), "prefetch_factor": 2}


def describe_cache(n_cached: int, n_total: int, budget_mb: int, what: str, key: str) -> str:
    if n_total == 0:
        return ""
    if n_cached == n_total:
        return f"{what}: all {n_total:,} images kept in memory ({key} {budget_mb} MB)"
    return (f"{what}: {n_cached:,} of {n_total:,} images kept in memory ({key} {budget_mb} MB is too small for the "
            f"rest, decoded per step as before)")


def paths_of(data_source) -> List[str]:
    return [d.impath for d in data_source]
