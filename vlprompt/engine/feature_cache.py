"""Image features of the frozen CLIP image encoder, extracted once per dataset split and reused.

Baselines that only read the frozen image embedding (linear probe, CLIP-Adapter on augmented views)
encode each image once and keep the result on disk under ``TRAINER.FEATURES.CACHE_DIR``. A cache file
is identified by a SHA-256 key over everything that changes its content:

- the backbone: config name / tag, a digest of the image encoder's weights, the compute precision;
- the data: dataset name, split, the exact list of samples (image paths + labels) and, for the
  few-shot sampled splits (train, val), ``DATASET.NUM_SHOTS`` and ``SEED``;
- the views: their number and the transform that made them (its ``repr``: size, interpolation,
  crop scale, mean/std, ...).

The key is part of the file name and is stored inside the file; a file whose stored key or sample
count does not match is re-extracted, as is an unreadable one. Files are written atomically.

The test split does not depend on the seed or the number of shots, so its key leaves them out: one
extraction of a (possibly large) test set serves every seed x shots run of a dataset. Its sample list
is still in the key, so a different test set never reuses it.

Stored raw (un-normalised) features ``(views, N, D)`` in float32 and labels ``(N,)``. Augmented views
are drawn from a torch RNG seeded from the key inside a forked RNG state, so they are reproducible and
extraction never shifts the global RNG stream: a run that extracts and a run that reuses the cache
train identically.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vlprompt.config import declare
from vlprompt.data.data_manager import DatasetWrapper, _collate_skip_none
from vlprompt.data.samplers import GlobalBatchSampler
from vlprompt.utils.dist import get_rank, get_world_size
from vlprompt.utils.tools import atomic_torch_save

CACHE_FORMAT = 1
FEWSHOT_SPLITS = ("train", "val")  # the splits DATASET.NUM_SHOTS and SEED sample


def extend_cfg(cfg) -> None:
    """``TRAINER.FEATURES``: declared by the trainers that use the cache (LinearProbe, CLIP_Adapter)."""
    declare(cfg, "TRAINER.FEATURES",
            CACHE_DIR="~/.cache/vlprompt/features",
            # Augmented views (train transform) cached per training image; 0 = none: LinearProbe uses one
            # test-transform view (the protocol), CLIP_Adapter encodes augmented images on the fly.
            TRAIN_VIEWS=0)


def check_cfg(cfg) -> None:
    if cfg.TRAINER.FEATURES.TRAIN_VIEWS < 0:
        raise ValueError(f"TRAINER.FEATURES.TRAIN_VIEWS must be >= 0, got {cfg.TRAINER.FEATURES.TRAIN_VIEWS}")


@dataclass
class CachedFeatures:
    """Raw image features ``(views, N, D)`` (float32, CPU), labels ``(N,)`` and where they are stored."""

    features: torch.Tensor
    labels: torch.Tensor
    key: str
    path: str

    @property
    def num_views(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[-1]


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def samples_digest(data_source: Sequence) -> str:
    """SHA-256 of the ordered (image path, label) list of a split."""
    h = hashlib.sha256()
    for item in data_source:
        h.update(f"{item.impath}\t{item.label}\n".encode())
    return h.hexdigest()


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Extracts or reuses the image features of dataset splits for one frozen image encoder.

    ``image_encoder`` maps a batch of images (in ``dtype``) to raw embeddings; ``autocast`` returns
    the precision context to run it in (e.g. ``CLIPTrainer.autocast``). ``extracted`` / ``reused``
    count splits, for logs and tests.
    """

    def __init__(self, cfg, image_encoder: nn.Module, dtype: torch.dtype, device: torch.device, precision: str,
                 autocast: Optional[Callable[[], contextlib.AbstractContextManager]] = None):
        self.cfg = cfg
        self.image_encoder = image_encoder
        self.dtype = dtype
        self.device = device
        self.autocast = autocast or contextlib.nullcontext
        cache_dir = cfg.TRAINER.FEATURES.CACHE_DIR
        if not cache_dir:
            raise ValueError("TRAINER.FEATURES.CACHE_DIR is empty; give a folder for the feature cache")
        self.cache_dir = os.path.abspath(os.path.expanduser(cache_dir))
        bb = cfg.MODEL.BACKBONE
        self.backbone = {"name": bb.NAME, "pretrained_tag": bb.PRETRAINED_TAG, "precision": precision,
                         "dtype": str(dtype), "weights_sha256": weights_digest(image_encoder)}
        self.extracted = 0
        self.reused = 0

    def key_fields(self, split: str, data_source: Sequence, transform, views: int, purpose: str = "") -> dict:
        fewshot = split in FEWSHOT_SPLITS
        ds = self.cfg.DATASET
        # ``purpose`` (only when given, so existing files keep their keys) tells apart two sets of views
        # of the same images that must be drawn independently (e.g. Tip-Adapter's cache and its training views).
        extra = {"purpose": purpose} if purpose else {}
        return {**extra,
            "format": CACHE_FORMAT,
            "backbone": self.backbone,
            "dataset": ds.NAME,
            "subsample_classes": ds.SUBSAMPLE_CLASSES,
            "split": split,
            "shots": ds.NUM_SHOTS if fewshot else None,
            "seed": self.cfg.SEED if fewshot else None,
            "views": views,
            "transform": repr(transform),
            "samples_sha256": samples_digest(data_source),
        }

    def get(self, split: str, data_source: Sequence, transform, views: int = 1, purpose: str = "") -> CachedFeatures:
        """Features of ``data_source`` under ``transform``: ``views`` passes (> 1 only makes sense for a
        random transform). Loaded from the cache when a file with the same key exists, else extracted.
        ``split`` "train" / "val" are the few-shot sampled splits (their key holds shots and seed)."""
        if not data_source:
            raise ValueError(f'The "{split}" split is empty: no features to extract')
        if views < 1:
            raise ValueError(f"views must be >= 1, got {views}")
        fields = self.key_fields(split, data_source, transform, views, purpose)
        key = cache_key(fields)
        name = f"{self.cfg.DATASET.NAME or 'dataset'}_{split}_{key[:16]}.pt"
        path = os.path.join(self.cache_dir, name)
        cached = self._load(path, key, len(data_source), views)
        if cached is not None:
            self.reused += 1
            print(f"Reusing cached {split} features ({cached.features.shape[1]:,} images x {views} view(s)) "
                  f'from "{path}"')
            return cached
        print(f"Extracting {split} features ({len(data_source):,} images x {views} view(s)) "
              f'into "{path}"')
        features, labels = self._extract(split, data_source, transform, views, seed=int(key[:8], 16))
        atomic_torch_save({"key": key, "fields": fields, "features": features, "labels": labels}, path)
        self.extracted += 1
        return CachedFeatures(features, labels, key, path)

    @staticmethod
    def _load(path: str, key: str, num_samples: int, views: int) -> Optional[CachedFeatures]:
        if not os.path.isfile(path):
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            features, labels = payload["features"], payload["labels"]
            ok = (payload.get("key") == key and features.dim() == 3 and features.shape[0] == views
                  and features.shape[1] == labels.shape[0] <= num_samples)
        except Exception as e:  # a truncated or foreign file: extract again
            warnings.warn(f'Ignoring unreadable feature cache "{path}" ({type(e).__name__}: {e})')
            return None
        if not ok:
            warnings.warn(f'Feature cache "{path}" does not match its key or shapes; extracting again')
            return None
        return CachedFeatures(features, labels, key, path)

    @torch.no_grad()
    def _extract(self, split: str, data_source: Sequence, transform, views: int, seed: int):
        cfg = self.cfg
        # The whole split in every process (not a distributed shard), in its stored order.
        loader = DataLoader(
            DatasetWrapper(cfg, data_source, transform=transform, is_train=False),
            batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, shuffle=False, num_workers=cfg.DATALOADER.NUM_WORKERS,
            pin_memory=self.device.type == "cuda",
            collate_fn=_collate_skip_none if cfg.DATASET.SKIP_BAD_IMAGES else None,
        )
        self.image_encoder.eval()
        per_view = []
        labels = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            bar = tqdm(total=views * len(loader), desc=f"features {split}", disable=None)
            for _ in range(views):
                feats, labs = [], []
                for batch in loader:
                    if batch is None:  # every image of the batch was unreadable (SKIP_BAD_IMAGES)
                        bar.update()
                        continue
                    image = batch["img"].to(self.device, non_blocking=True).type(self.dtype)
                    with self.autocast():
                        feats.append(self.image_encoder(image).float().cpu())
                    labs.append(batch["label"])
                    bar.update()
                per_view.append(torch.cat(feats))
                labels = torch.cat(labs)
            bar.close()
        return torch.stack(per_view), labels.long()


class FeatureLoader:
    """Batches of cached features as ``{"feat", "label"}`` dicts, a drop-in for an image loader.

    Training (``shuffle``): the same batches as the image loader would give (random order from the
    global torch RNG, drop_last when there is more than one batch, the global batch split across
    processes) and, per epoch, one randomly drawn view per image. Evaluation: sequential batches of
    view 0; in a distributed run each process takes every world-th sample (as ShardSampler).

    ``view_per_epoch``: epoch e (:meth:`set_epoch`) reads view e (modulo the number of views) of every
    image instead of a random one, as encoding freshly augmented images once per epoch would.
    ``drop_last`` False keeps the last, smaller batch (the order is drawn as with drop_last).
    """

    def __init__(self, cached: CachedFeatures, batch_size: int, shuffle: bool, view_per_epoch: bool = False,
                 drop_last: bool = True):
        if not shuffle and cached.num_views != 1:
            raise ValueError("Evaluation batches need features with exactly one view")
        self.features = cached.features
        self.labels = cached.labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.view_per_epoch = view_per_epoch
        self.drop_last = drop_last
        self.epoch = 0
        self.rank, self.world = get_rank(), get_world_size()
        n = self.labels.shape[0]
        if shuffle:
            self.sampler = GlobalBatchSampler(n, batch_size, self.rank, self.world)
        else:
            self.indices = torch.arange(self.rank, n, self.world)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration belongs to (``view_per_epoch``: which view it reads)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.shuffle and self.drop_last:
            return len(self.sampler)
        n = len(self.indices) if not self.shuffle else self.labels.shape[0]
        return (n + self.batch_size - 1) // self.batch_size

    def _batches(self):
        if self.drop_last:
            batches = iter(self.sampler)
            first = next(batches)  # draws the epoch's order first, as the image loader's sampler does
            return first, batches
        # Same order draw as GlobalBatchSampler, every sample kept; each global batch split across processes.
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        order = torch.randperm(self.labels.shape[0], generator=torch.Generator().manual_seed(seed)).tolist()
        globals_ = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        local = [b[self.rank::self.world] for b in globals_]
        return local[0], iter(local[1:])

    def __iter__(self) -> Iterator[dict]:
        if not self.shuffle:
            for i in range(0, len(self.indices), self.batch_size):
                idx = self.indices[i:i + self.batch_size]
                yield {"feat": self.features[0, idx], "label": self.labels[idx]}
            return
        first, batches = self._batches()
        n, num_views = self.labels.shape[0], self.features.shape[0]
        if self.view_per_epoch:
            views = torch.full((n,), self.epoch % num_views, dtype=torch.long)
        else:
            views = torch.randint(num_views, (n,))
        for idx in [first, *batches]:
            idx = torch.as_tensor(idx)
            yield {"feat": self.features[views[idx], idx], "label": self.labels[idx]}
