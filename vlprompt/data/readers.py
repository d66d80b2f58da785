"""Base class of the benchmark readers that keep a ``split_zhou_<Name>.json`` split file."""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

from .base import DatasetBase, Datum
from .splits import apply_fewshot_and_subsample, checked_dataset_dir, load_or_generate_split, read_and_split_data


class SplitFileDataset(DatasetBase):
    """Reads the split file (or generates and writes it), then few-shot sampling and base/new.

    Subclasses set ``dataset_dir``, ``image_folder`` (what the split's paths are relative to; "" for
    the dataset folder itself), ``split_file``, ``required``, ``source`` and implement
    :meth:`generate_split`. A missing split file is generated from ``DATASET.SPLIT_SEED``, unless the
    class fixes ``split_seed`` (a generated benchmark whose split is part of its definition).
    """

    image_folder = ""
    split_file = ""
    split_seed: Optional[int] = None

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, self.image_folder)
        self.split_path = os.path.join(self.dataset_dir, self.split_file)
        split_seed = cfg.DATASET.SPLIT_SEED if self.split_seed is None else self.split_seed
        train, val, test = load_or_generate_split(self.split_path, self.image_dir, self.generate_split, split_seed)
        train, val, test, report = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test, fewshot_report=report)

    def generate_split(self) -> Tuple[List[Datum], List[Datum], List[Datum]]:
        raise NotImplementedError


class FolderSplitDataset(SplitFileDataset):
    """A folder-per-class tree split 50/20/30 at random when the split file is absent."""

    ignored: Tuple[str, ...] = ()
    new_cnames: dict = None

    def generate_split(self):
        return read_and_split_data(self.image_dir, ignored=self.ignored, new_cnames=self.new_cnames)
