"""Food-101 (``food-101/images/<class>/``, split ``split_zhou_Food101.json``)."""
import os

from vlprompt.data import DATASET_REGISTRY, DatasetBase
from vlprompt.data.splits import (
    Download, apply_fewshot_and_subsample, checked_dataset_dir, gdrive, load_or_generate_split, read_and_split_data,
)


@DATASET_REGISTRY.register()
class Food101(DatasetBase):
    """Random 50/20/30 split of all images (the official 750/250 split is not used), as the reference.

    A regenerated split lists each class folder sorted (the reference: file-system order).
    """

    dataset_dir = "food-101"
    required = ["images/"]
    split_file = "split_zhou_Food101.json"
    source = ("https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ (food-101.tar.gz, extracted under "
              "DATASET.ROOT) + split_zhou_Food101.json from the CoOp DATASETS.md")
    downloads = (
        Download("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz", "images/", strip="food-101/"),
        Download(gdrive("1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"), split_file),
    )

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.split_path = os.path.join(self.dataset_dir, self.split_file)

        train, val, test = load_or_generate_split(
            self.split_path, self.image_dir, lambda: read_and_split_data(self.image_dir)
        )
        train, val, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test)
