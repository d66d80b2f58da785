"""EuroSAT RGB (``eurosat/2750/<ClassFolder>/``, split ``split_zhou_EuroSAT.json``)."""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.readers import FolderSplitDataset
from vlprompt.data.splits import Download, gdrive

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
class EuroSAT(FolderSplitDataset):
    """A regenerated split lists each class folder sorted (the reference: file-system order)."""

    dataset_dir = "eurosat"
    template = "a centered satellite photo of {}."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["2750/"]
    split_file = "split_zhou_EuroSAT.json"
    source = ("http://madm.dfki.de/files/sentinel/EuroSAT.zip (RGB version, folder 2750/; mirrored at "
              "https://zenodo.org/records/7711810) + split_zhou_EuroSAT.json from the CoOp DATASETS.md")
    downloads = (
        Download("http://madm.dfki.de/files/sentinel/EuroSAT.zip", "2750/"),
        Download(gdrive("1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"), split_file),
    )

    image_folder = "2750"
    new_cnames = NEW_CNAMES
