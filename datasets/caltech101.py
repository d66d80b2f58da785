"""Caltech101 (``caltech-101/101_ObjectCategories``, split ``split_zhou_Caltech101.json``)."""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.readers import FolderSplitDataset
from vlprompt.data.splits import Download, gdrive

IGNORED = ["BACKGROUND_Google", "Faces_easy"]
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


@DATASET_REGISTRY.register()
class Caltech101(FolderSplitDataset):
    """A regenerated split lists each class folder sorted (the reference: file-system order)."""

    dataset_dir = "caltech-101"
    required = ["101_ObjectCategories/"]
    split_file = "split_zhou_Caltech101.json"
    source = "https://data.caltech.edu/records/mzrjq-6wc02 (101_ObjectCategories) + split_zhou_Caltech101.json from the CoOp DATASETS.md"
    downloads = (Download(gdrive("1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"), split_file),)

    image_folder = "101_ObjectCategories"
    ignored = tuple(IGNORED)
    new_cnames = NEW_CNAMES
