"""Describable Textures (``dtd/images/<texture>/``, split ``split_zhou_DescribableTextures.json``)."""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.readers import FolderSplitDataset
from vlprompt.data.splits import Download, gdrive


@DATASET_REGISTRY.register()
class DescribableTextures(FolderSplitDataset):
    """Random 50/20/30 split of the 47 texture folders (not the official 10 folds), as the reference.

    A regenerated split lists each class folder sorted (the reference: file-system order).
    """

    dataset_dir = "dtd"
    template = "{} texture."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["images/"]
    split_file = "split_zhou_DescribableTextures.json"
    source = ("https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz, extracted under DATASET.ROOT) "
              "+ split_zhou_DescribableTextures.json from the CoOp DATASETS.md")
    downloads = (
        Download("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz", "images/", strip="dtd/"),
        Download(gdrive("1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"), split_file),
    )

    image_folder = "images"
