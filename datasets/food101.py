"""Food-101 (``food-101/images/<class>/``, split ``split_zhou_Food101.json``)."""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.readers import FolderSplitDataset
from vlprompt.data.splits import Download, gdrive


@DATASET_REGISTRY.register()
class Food101(FolderSplitDataset):
    """Random 50/20/30 split of all images (the official 750/250 split is not used), as the reference.

    A regenerated split lists each class folder sorted (the reference: file-system order).
    """

    dataset_dir = "food-101"
    template = "a photo of {}, a type of food."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["images/"]
    split_file = "split_zhou_Food101.json"
    source = ("https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ (food-101.tar.gz, extracted under "
              "DATASET.ROOT) + split_zhou_Food101.json from the CoOp DATASETS.md")
    downloads = (
        Download("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz", "images/", strip="food-101/"),
        Download(gdrive("1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"), split_file),
    )

    image_folder = "images"
