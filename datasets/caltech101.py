"""Caltech101 (``caltech-101/101_ObjectCategories``, split ``split_zhou_Caltech101.json``)."""
import os

from vlprompt.data import DATASET_REGISTRY, DatasetBase, check_dataset_layout
from vlprompt.data.splits import apply_fewshot_and_subsample, load_or_generate_split, read_and_split_data

IGNORED = ["BACKGROUND_Google", "Faces_easy"]
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


@DATASET_REGISTRY.register()
class Caltech101(DatasetBase):
    dataset_dir = "caltech-101"
    source = "https://data.caltech.edu/records/mzrjq-6wc02 (101_ObjectCategories) + split_zhou_Caltech101.json from the CoOp DATASETS.md"

    def __init__(self, cfg):
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        self.dataset_dir = os.path.join(root, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "101_ObjectCategories")
        self.split_path = os.path.join(self.dataset_dir, "split_zhou_Caltech101.json")
        check_dataset_layout(self.dataset_dir, ["101_ObjectCategories/"], type(self).__name__, self.source)

        train, val, test = load_or_generate_split(
            self.split_path, self.image_dir,
            lambda: read_and_split_data(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES),
        )
        train, val, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test)
