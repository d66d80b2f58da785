"""Oxford-IIIT Pets (``oxford_pets/images``, ``annotations/``, split ``split_zhou_OxfordPets.json``)."""
import os
from typing import List

from vlprompt.data import DATASET_REGISTRY, Datum
from vlprompt.data.readers import SplitFileDataset
from vlprompt.data.splits import Download, gdrive, read_text_lines, split_trainval


def read_pets_list(image_dir: str, anno_file: str) -> List[Datum]:
    """``<image_stem> <class_id 1..37> <species> <breed_id>`` lines; the class name is the stem
    without its trailing ``_<n>``, lower-cased (``Abyssinian_100`` -> ``abyssinian``)."""
    items = []
    for line in read_text_lines(anno_file):
        imname, label, _species, _breed_id = line.split(" ")
        breed = "_".join(imname.split("_")[:-1]).lower()
        items.append(Datum(impath=os.path.join(image_dir, imname + ".jpg"), label=int(label) - 1, classname=breed))
    return items


@DATASET_REGISTRY.register()
class OxfordPets(SplitFileDataset):
    """Official trainval split 80/20 per class into train/val; official test list as test."""

    dataset_dir = "oxford_pets"
    template = "a photo of a {}, a type of pet."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["images/"]
    split_file = "split_zhou_OxfordPets.json"
    split_inputs = ["annotations/trainval.txt", "annotations/test.txt"]
    source = ("https://www.robots.ox.ac.uk/~vgg/data/pets/ (images.tar.gz, annotations.tar.gz) "
              "+ split_zhou_OxfordPets.json from the CoOp DATASETS.md")
    downloads = (
        Download("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz", "images/"),
        Download(gdrive("1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"), split_file),
        Download("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz", "annotations/trainval.txt"),
    )

    image_folder = "images"

    def generate_split(self):
        anno_dir = os.path.join(self.dataset_dir, "annotations")
        trainval = read_pets_list(self.image_dir, os.path.join(anno_dir, "trainval.txt"))
        test = read_pets_list(self.image_dir, os.path.join(anno_dir, "test.txt"))
        return (*split_trainval(trainval), test)
