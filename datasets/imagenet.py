"""ImageNet-1k (``imagenet/images/{train,val}/<wnid>/``, ``classnames.txt``, cache ``preprocessed.pkl``)."""
import os
import pickle
from typing import List

from vlprompt.data import DATASET_REGISTRY, Datum, DatasetBase
from vlprompt.data.splits import (
    Download, apply_fewshot_and_subsample, checked_dataset_dir, gdrive, load_datum_pickle, read_wnid_folders,
)
from vlprompt.utils.tools import atomic_write_bytes

# CoOp's classnames.txt (CLIP's curated names); the four ImageNet variants use a copy of it too.
CLASSNAMES_DOWNLOAD = Download(gdrive("1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"), "classnames.txt")

@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    """Train = ``images/train``; test = ``images/val``, which also serves as val (as the reference, so
    select the last-step model, not ``best_val``). Few-shot sampling applies to train only.

    Images within a class folder are listed sorted (the reference: file-system order, which made
    few-shot subsets machine-dependent). ``preprocessed.pkl``, once written, is the source of truth,
    so a cache written by the reference keeps its order.
    """

    dataset_dir = "imagenet"
    required = ["images/train/", "images/val/", "classnames.txt"]
    source = ("https://image-net.org (ILSVRC2012 train/val, val sorted into wnid folders) + classnames.txt "
              "from the CoOp DATASETS.md")
    downloads = (CLASSNAMES_DOWNLOAD,)

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.preprocessed = os.path.join(self.dataset_dir, "preprocessed.pkl")

        if os.path.exists(self.preprocessed):
            try:
                preprocessed = load_datum_pickle(self.preprocessed)
                train, test = preprocessed["train"], preprocessed["test"]
            except Exception as e:
                raise ValueError(f'ImageNet cache "{self.preprocessed}" cannot be read ({e}); delete it to rebuild it.') from None
        else:
            train = self.read_data("train")
            test = self.read_data("val")  # the standard practice: evaluate on val
            # Atomic, so an interrupted first run never leaves a truncated cache that later runs trust.
            atomic_write_bytes(self.preprocessed, pickle.dumps({"train": train, "test": test}, protocol=pickle.HIGHEST_PROTOCOL))

        # val None: the few-shot cache holds only "train" and subsampling skips val; val is then test.
        train, _, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, None, test)
        super().__init__(train_x=train, val=test, test=test)

    def read_data(self, split_dir: str) -> List[Datum]:
        split_dir = os.path.join(self.image_dir, split_dir)
        # Sub-directories only (stray files ignored), sorted: label = index = classnames.txt order.
        folders = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
        return read_wnid_folders(split_dir, os.path.join(self.dataset_dir, "classnames.txt"), folders=folders)


class WnidFolderTestSet(DatasetBase):
    """Base of the test-only variants laid out as ``<image_folder>/<wnid>/`` + ``classnames.txt``
    (ImageNet-Sketch, -A, -R): label = index among the wnid folders present (non-hidden, sorted, minus
    ``ignored``), class name looked up by wnid. Ignores NUM_SHOTS and SUBSAMPLE_CLASSES (no
    ``split_fewshot/``); train_x = test = all images (the data manager still builds a train loader),
    val None. Images within a folder are listed sorted (the reference: file-system order)."""

    image_folder = ""
    ignored: tuple = ()

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, self.image_folder)
        data = read_wnid_folders(self.image_dir, os.path.join(self.dataset_dir, "classnames.txt"), ignored=self.ignored)
        super().__init__(train_x=data, test=data)
