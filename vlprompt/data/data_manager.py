"""Builds the dataset, validates it, builds its transforms and the train/val/test loaders, as Dassl's
DataManager (plus the validation step of :mod:`vlprompt.data.validation`)."""
from __future__ import annotations

import warnings

import torch
from tabulate import tabulate
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from vlprompt.utils.dist import get_rank, get_world_size, run_device

from .base import build_dataset
from .gpu_augment import BatchAugmenter, GPUAugmentedLoader, check_gpu_augment, decoded_in_order
from .pipeline import (
    EpochSeededBatchSampler,
    decode_images,
    describe_cache,
    loader_options,
    prepared_eval_image,
    seed_worker_for_epoch,
    split_transform,
)
from .samplers import GlobalBatchSampler, ShardSampler
from .transforms import build_transform
from .validation import read_image, validate_dataset

__all__ = ["DataManager", "DatasetWrapper", "build_data_loader", "read_image"]


class DatasetWrapper(Dataset):
    """Applies the transform; items are dicts with img, label, domain, impath, index.

    ``decoded``: already decoded training images by path (:func:`vlprompt.data.pipeline.decode_images`).
    Evaluation splits keep the deterministic part of their transform in the process-level cache of
    :mod:`vlprompt.data.pipeline` (``DATALOADER.EVAL_CACHE_MB``). Indices may come as ``(index,
    base_seed)`` from :class:`~vlprompt.data.pipeline.EpochSeededBatchSampler` (persistent workers).
    """

    def __init__(self, cfg, data_source, transform=None, is_train: bool = False, decoded=None,
                 images_elsewhere: bool = False):
        self.data_source = data_source
        # INPUT.GPU_AUGMENT: the batch's images are made on the device (vlprompt/data/gpu_augment.py)
        self.images_elsewhere = images_elsewhere
        self.transform = transform
        self.is_train = is_train
        self.skip_bad = cfg.DATASET.SKIP_BAD_IMAGES
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        self.to_tensor = build_transform(cfg, is_train=False, choices=[]) if self.return_img0 else None
        self.decoded = decoded or {}
        self.eval_budget = 0
        self.prefix = self.suffix = None
        if not is_train and not self.return_img0 and transform is not None and cfg.DATALOADER.EVAL_CACHE_MB > 0:
            self.prefix, self.suffix = split_transform(transform)
            workers = max(1, cfg.DATALOADER.NUM_WORKERS)  # each worker keeps the images it prepares
            self.eval_budget = cfg.DATALOADER.EVAL_CACHE_MB * 2 ** 20 // workers
            self.prefix_key = repr(self.prefix)
        self._epoch_seed = None

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx):
        if isinstance(idx, tuple):  # (index, the epoch's base seed) from a persistent worker's sampler
            idx, base_seed = idx
            if base_seed != self._epoch_seed:
                seed_worker_for_epoch(base_seed)
                self._epoch_seed = base_seed
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        if self.images_elsewhere:
            return output
        try:
            if self.prefix is not None:
                output["img"] = self.suffix(prepared_eval_image(item.impath, self.prefix, self.prefix_key,
                                                                self.eval_budget))
                return output
            img0 = self.decoded.get(item.impath)
            if img0 is None:
                img0 = read_image(item.impath)
        except RuntimeError as e:
            if not self.skip_bad:
                raise
            warnings.warn(f"Skipping unreadable image: {e}")
            return None
        if self.transform is None:
            output["img"] = img0
        elif self.k_tfm > 1:
            output["img"] = [self.transform(img0) for _ in range(self.k_tfm)]
        else:
            output["img"] = self.transform(img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output


def _collate_skip_none(batch):
    batch = [b for b in batch if b is not None]
    if not batch:
        return None
    return torch.utils.data.default_collate(batch)


def build_data_loader(cfg, data_source, batch_size: int, transform, is_train: bool,
                      dataset_wrapper=None, decoded=None, images_elsewhere: bool = False) -> DataLoader:
    """Train: random order, drop_last when there is more than one batch. Test: sequential.

    In a distributed run ``batch_size`` stays the global batch: each process loads its share of every
    global batch (training) or a shard of the data (evaluation); see vlprompt/data/samplers.py. With
    workers and ``DATALOADER.PERSISTENT_WORKERS``, the workers live for the whole run and are re-seeded
    every epoch as fresh ones would be (:mod:`vlprompt.data.pipeline`): the same batches and augmentations.
    """
    if data_source is None or len(data_source) == 0:
        raise ValueError("Cannot build a data loader over an empty list of samples; check the dataset split.")
    wrapper_cls = dataset_wrapper or DatasetWrapper
    kwargs = {"decoded": decoded} if decoded else {}
    if images_elsewhere:
        kwargs["images_elsewhere"] = True
    wrapper = wrapper_cls(cfg, data_source, transform=transform, is_train=is_train, **kwargs)
    workers = cfg.DATALOADER.NUM_WORKERS
    common = dict(
        num_workers=workers,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
        collate_fn=_collate_skip_none if cfg.DATASET.SKIP_BAD_IMAGES else None,
    )
    world = get_world_size()
    persistent = workers > 0 and cfg.DATALOADER.PERSISTENT_WORKERS
    if not persistent:
        if world > 1 and is_train:
            return DataLoader(wrapper, batch_sampler=GlobalBatchSampler(len(wrapper), batch_size, get_rank(), world),
                              **common)
        if world > 1:
            return DataLoader(wrapper, batch_size=batch_size, sampler=ShardSampler(len(wrapper), get_rank(), world),
                              **common)
        # RandomSampler without a generator: each epoch's order comes from the global torch RNG.
        return DataLoader(wrapper, batch_size=batch_size, shuffle=is_train,
                          drop_last=is_train and len(data_source) >= batch_size, **common)
    # The same samplers a DataLoader builds (RandomSampler without a generator: the global torch RNG),
    # wrapped so each epoch re-seeds the persistent workers as fresh ones.
    if world > 1 and is_train:
        batches = GlobalBatchSampler(len(wrapper), batch_size, get_rank(), world)
    elif world > 1:
        batches = BatchSampler(ShardSampler(len(wrapper), get_rank(), world), batch_size, drop_last=False)
    elif is_train:
        batches = BatchSampler(RandomSampler(wrapper), batch_size, drop_last=len(data_source) >= batch_size)
    else:
        batches = BatchSampler(SequentialSampler(wrapper), batch_size, drop_last=False)
    return DataLoader(wrapper, batch_sampler=EpochSeededBatchSampler(batches), **common, **loader_options(workers))


class DataManager:
    """Dataset, transforms and loaders of a run.

    Right after the dataset is built (before any trainer builds its model) every image and label is
    checked (``DATASET.VALIDATE``); unusable images are an error or, with ``DATASET.SKIP_BAD_IMAGES``,
    dropped. For results.json: ``validation_report`` (see :func:`vlprompt.data.validation.validate_dataset`)
    and ``dataset.fewshot_report`` (None without few-shot sampling; see
    :func:`vlprompt.data.splits.fewshot_report`).
    """

    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None, dataset=None):
        dataset = dataset if dataset is not None else build_dataset(cfg)
        self.validation_report = validate_dataset(cfg, dataset)
        tfm_train = custom_tfm_train if custom_tfm_train is not None else build_transform(cfg, is_train=True)
        tfm_test = custom_tfm_test if custom_tfm_test is not None else build_transform(cfg, is_train=False)
        if cfg.DATALOADER.TRAIN_X.SAMPLER != "RandomSampler":
            raise ValueError(f'Only DATALOADER.TRAIN_X.SAMPLER "RandomSampler" is supported, got "{cfg.DATALOADER.TRAIN_X.SAMPLER}"')

        # Few-shot training images decoded once for the run (exact: the transform sees the same pixels).
        decoded, left = decode_images([d.impath for d in dataset.train_x], cfg.DATALOADER.DECODED_CACHE_MB * 2 ** 20)
        self.decoded_images = len(decoded)
        if decoded and cfg.VERBOSE:
            print(describe_cache(len(decoded), len(decoded) + left, cfg.DATALOADER.DECODED_CACHE_MB,
                                 "Decoded training images", "DATALOADER.DECODED_CACHE_MB"))
        gpu_augment = cfg.INPUT.GPU_AUGMENT and custom_tfm_train is None
        if gpu_augment:
            check_gpu_augment(cfg, len(dataset.train_x), len(decoded))
        self.train_loader_x = build_data_loader(
            cfg, dataset.train_x, cfg.DATALOADER.TRAIN_X.BATCH_SIZE, tfm_train, True, dataset_wrapper=dataset_wrapper,
            decoded=None if gpu_augment else decoded, images_elsewhere=gpu_augment,
        )
        if gpu_augment:
            device = run_device(cfg)  # the trainer's device
            augmenter = BatchAugmenter(cfg, decoded_in_order(dataset.train_x, decoded), device)
            self.train_loader_x = GPUAugmentedLoader(self.train_loader_x, augmenter)
            if cfg.VERBOSE:
                print(f"INPUT.GPU_AUGMENT: training crops, flips and normalisation computed on {device} "
                      "(torchvision tensor resampling: numerically different from the PIL pipeline)")
        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg, dataset.val, cfg.DATALOADER.TEST.BATCH_SIZE, tfm_test, False, dataset_wrapper=dataset_wrapper
            )
        self.test_loader = build_data_loader(
            cfg, dataset.test, cfg.DATALOADER.TEST.BATCH_SIZE, tfm_test, False, dataset_wrapper=dataset_wrapper
        )
        self.train_loader_u = None
        self.dataset = dataset
        self.tfm_train = tfm_train
        self.tfm_test = tfm_test
        self.cfg = cfg
        if cfg.VERBOSE:
            self.show_dataset_summary()

    num_classes = property(lambda self: self.dataset.num_classes)
    lab2cname = property(lambda self: self.dataset.lab2cname)
    classnames = property(lambda self: self.dataset.classnames)

    def show_dataset_summary(self) -> None:
        d = self.dataset
        table = [["Dataset", self.cfg.DATASET.NAME], ["# classes", f"{d.num_classes:,}"], ["# train_x", f"{len(d.train_x):,}"]]
        if d.val:
            table.append(["# val", f"{len(d.val):,}"])
        table.append(["# test", f"{len(d.test):,}"])
        print(tabulate(table))


class ClassesOnly:
    """What a trainer knows of the data when it only predicts: class names and the hand-written template.

    Stands in for :class:`DataManager` (``dataset.classnames``, ``dataset.template``, ``num_classes``,
    ``lab2cname``, the test transform) when a trained model is rebuilt without its dataset
    (:mod:`vlprompt.predict`); there are no loaders.
    """

    train_loader_x = train_loader_u = val_loader = test_loader = None
    validation_report = None

    def __init__(self, cfg, classnames, template: str):
        from types import SimpleNamespace

        classnames = list(classnames)
        if not classnames:
            raise ValueError("A classifier needs at least one class name")
        self.dataset = SimpleNamespace(classnames=classnames, template=template, num_classes=len(classnames),
                                       lab2cname=dict(enumerate(classnames)), fewshot_report=None,
                                       train_x=[], val=None, test=[])
        self.tfm_test = build_transform(cfg, is_train=False)
        self.tfm_train = self.tfm_test
        self.cfg = cfg

    num_classes = property(lambda self: self.dataset.num_classes)
    lab2cname = property(lambda self: self.dataset.lab2cname)
    classnames = property(lambda self: self.dataset.classnames)
