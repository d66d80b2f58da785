"""Data: samples and datasets, split/few-shot helpers shared by every reader, transforms, loaders.

The readers, the registry, the split helpers and the validation step import without torch, so tools
such as ``scripts/datasets/prepare.py`` start quickly; the torch-dependent parts (``DataManager``,
``DatasetWrapper``, ``build_transform``) are imported on first access.
"""
from importlib import import_module

from .base import Datum, DatasetBase, DatasetNotFoundError, DATASET_REGISTRY, build_dataset, check_dataset_layout
from .caches import load_datum_pickle
from .splits import (
    read_split, save_split, read_and_split_data, split_trainval, generate_fewshot_dataset,
    load_or_create_fewshot, subsample_classes, split_dataset_by_label, listdir_nohidden,
    load_or_generate_split, apply_fewshot_and_subsample, fewshot_cache_path, fewshot_report,
)

_LAZY = {"DataManager": ".data_manager", "DatasetWrapper": ".data_manager", "ClassesOnly": ".data_manager",
         "build_transform": ".transforms"}

__all__ = [
    "Datum", "DatasetBase", "DatasetNotFoundError", "DATASET_REGISTRY", "build_dataset",
    "check_dataset_layout", "read_split", "save_split", "read_and_split_data", "split_trainval",
    "generate_fewshot_dataset", "load_or_create_fewshot", "subsample_classes",
    "split_dataset_by_label", "listdir_nohidden", "load_or_generate_split", "apply_fewshot_and_subsample",
    "fewshot_cache_path", "fewshot_report", "load_datum_pickle", "build_transform", "DataManager", "DatasetWrapper",
    "ClassesOnly",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
