"""Describable Textures (``dtd/images/<texture>/``, split ``split_zhou_DescribableTextures.json``)."""
import os

from vlprompt.data import DATASET_REGISTRY, DatasetBase
from vlprompt.data.splits import (
    Download, apply_fewshot_and_subsample, checked_dataset_dir, gdrive, load_or_generate_split, read_and_split_data,
)


@DATASET_REGISTRY.register()
class DescribableTextures(DatasetBase):
    """Random 50/20/30 split of the 47 texture folders (not the official 10 folds), as the reference.

    A regenerated split lists each class folder sorted (the reference: file-system order).
    """

    dataset_dir = "dtd"
    required = ["images/"]
    split_file = "split_zhou_DescribableTextures.json"
    source = ("https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz, extracted under DATASET.ROOT) "
              "+ split_zhou_DescribableTextures.json from the CoOp DATASETS.md")
    downloads = (
        Download("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz", "images/", strip="dtd/"),
        Download(gdrive("1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"), split_file),
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
