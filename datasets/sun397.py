"""SUN397 (``sun397/SUN397/<letter>/<class>/``, ``ClassName.txt``, partition 01, ``split_zhou_SUN397.json``)."""
import os
from typing import Dict, List

from vlprompt.data import DATASET_REGISTRY, Datum
from vlprompt.data.readers import SplitFileDataset
from vlprompt.data.splits import Download, gdrive, read_text_lines, split_trainval


def read_sun_list(image_dir: str, cname2lab: Dict[str, int], text_file: str) -> List[Datum]:
    """``/a/abbey/sun_x.jpg`` lines; class name = folder parts after the letter, reversed so that
    words like indoor/outdoor come first (``a/apartment_building/outdoor`` -> ``outdoor apartment_building``)."""
    items = []
    for line in read_text_lines(text_file):
        imname = line[1:]  # drop the leading "/"
        folder = os.path.dirname(imname)
        classname = " ".join(folder.split("/")[1:][::-1])
        items.append(Datum(impath=os.path.join(image_dir, imname), label=cname2lab[folder], classname=classname))
    return items


@DATASET_REGISTRY.register()
class SUN397(SplitFileDataset):
    """Partition 01: Training_01 80/20 per class into train/val, Testing_01 as test."""

    dataset_dir = "sun397"
    required = ["SUN397/"]
    split_file = "split_zhou_SUN397.json"
    split_inputs = ["ClassName.txt", "Training_01.txt", "Testing_01.txt"]
    source = ("https://vision.princeton.edu/projects/2010/SUN/ (SUN397.tar.gz, Partitions.zip, both extracted into "
              "sun397/) + split_zhou_SUN397.json from the CoOp DATASETS.md")
    downloads = (
        Download("http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz", "SUN397/"),
        Download(gdrive("1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"), split_file),
        Download("https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip", "ClassName.txt",
                 strip="Partitions/"),
    )

    image_folder = "SUN397"

    def generate_split(self):
        classes = [line[1:] for line in read_text_lines(os.path.join(self.dataset_dir, "ClassName.txt"))]
        cname2lab = {c: i for i, c in enumerate(classes)}
        trainval = read_sun_list(self.image_dir, cname2lab, os.path.join(self.dataset_dir, "Training_01.txt"))
        test = read_sun_list(self.image_dir, cname2lab, os.path.join(self.dataset_dir, "Testing_01.txt"))
        return (*split_trainval(trainval), test)
