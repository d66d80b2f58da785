"""Base class of the benchmark readers that keep a ``split_zhou_<Name>.json`` split file."""
from __future__ import annotations

import os
from typing import List, Tuple

from .base import DatasetBase, Datum
from .splits import apply_fewshot_and_subsample, checked_dataset_dir, load_or_generate_split, read_and_split_data


class SplitFileDataset(DatasetBase):
    """Reads the split file (or generates and writes it), then few-shot sampling and base/new.

    Subclasses set ``dataset_dir``, ``image_folder`` (what the split's paths are relative to; "" for
    the dataset folder itself), ``split_file``, ``required``, ``source`` and implement
    :meth:`generate_split`.
    """

    image_folder = ""
    split_file = ""

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, self.image_folder)
        self.split_path = os.path.join(self.dataset_dir, self.split_file)
        train, val, test = load_or_generate_split(self.split_path, self.image_dir, self.generate_split)
        train, val, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test)

    def generate_split(self) -> Tuple[List[Datum], List[Datum], List[Datum]]:
        raise NotImplementedError


class FolderSplitDataset(SplitFileDataset):
    """A folder-per-class tree split 50/20/30 at random when the split file is absent."""

    ignored: Tuple[str, ...] = ()
    new_cnames: dict = None

    def generate_split(self):
        return read_and_split_data(self.image_dir, ignored=self.ignored, new_cnames=self.new_cnames)
