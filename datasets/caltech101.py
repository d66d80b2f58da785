"""Caltech101 (``caltech-101/101_ObjectCategories``, split ``split_zhou_Caltech101.json``)."""
import os

from vlprompt.data import DATASET_REGISTRY, DatasetBase
from vlprompt.data.splits import (
    Download, apply_fewshot_and_subsample, checked_dataset_dir, gdrive, load_or_generate_split, read_and_split_data,
)

IGNORED = ["BACKGROUND_Google", "Faces_easy"]
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


@DATASET_REGISTRY.register()
class Caltech101(DatasetBase):
    """A regenerated split lists each class folder sorted (the reference: file-system order)."""

    dataset_dir = "caltech-101"
    required = ["101_ObjectCategories/"]
    split_file = "split_zhou_Caltech101.json"
    source = "https://data.caltech.edu/records/mzrjq-6wc02 (101_ObjectCategories) + split_zhou_Caltech101.json from the CoOp DATASETS.md"
    downloads = (Download(gdrive("1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"), split_file),)

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "101_ObjectCategories")
        self.split_path = os.path.join(self.dataset_dir, self.split_file)

        train, val, test = load_or_generate_split(
            self.split_path, self.image_dir,
            lambda: read_and_split_data(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES),
        )
        train, val, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test)
