"""Data: samples and datasets, split/few-shot helpers shared by every reader, transforms, loaders."""
from .base import Datum, DatasetBase, DatasetNotFoundError, DATASET_REGISTRY, build_dataset, check_dataset_layout
from .splits import (
    read_split, save_split, read_and_split_data, split_trainval, generate_fewshot_dataset,
    load_or_create_fewshot, subsample_classes, split_dataset_by_label, listdir_nohidden,
    load_or_generate_split, apply_fewshot_and_subsample, fewshot_cache_path, load_datum_pickle,
)
from .transforms import build_transform
from .data_manager import DataManager, DatasetWrapper

__all__ = [
    "Datum", "DatasetBase", "DatasetNotFoundError", "DATASET_REGISTRY", "build_dataset",
    "check_dataset_layout", "read_split", "save_split", "read_and_split_data", "split_trainval",
    "generate_fewshot_dataset", "load_or_create_fewshot", "subsample_classes",
    "split_dataset_by_label", "listdir_nohidden", "load_or_generate_split", "apply_fewshot_and_subsample",
    "fewshot_cache_path", "load_datum_pickle", "build_transform", "DataManager", "DatasetWrapper",
]
