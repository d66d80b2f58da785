"""EuroSAT RGB (``eurosat/2750/<ClassFolder>/``, split ``split_zhou_EuroSAT.json``)."""
import os

from vlprompt.data import DATASET_REGISTRY, DatasetBase
from vlprompt.data.splits import (
    Download, apply_fewshot_and_subsample, checked_dataset_dir, gdrive, load_or_generate_split, read_and_split_data,
)

# Folder -> class name used in prompts; labels still follow the sorted folder names.
NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(DatasetBase):
    """A regenerated split lists each class folder sorted (the reference: file-system order)."""

    dataset_dir = "eurosat"
    required = ["2750/"]
    split_file = "split_zhou_EuroSAT.json"
    source = ("http://madm.dfki.de/files/sentinel/EuroSAT.zip (RGB version, folder 2750/; mirrored at "
              "https://zenodo.org/records/7711810) + split_zhou_EuroSAT.json from the CoOp DATASETS.md")
    downloads = (
        Download("http://madm.dfki.de/files/sentinel/EuroSAT.zip", "2750/"),
        Download(gdrive("1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"), split_file),
    )

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "2750")
        self.split_path = os.path.join(self.dataset_dir, self.split_file)

        train, val, test = load_or_generate_split(
            self.split_path, self.image_dir, lambda: read_and_split_data(self.image_dir, new_cnames=NEW_CNAMES)
        )
        train, val, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test)
