"""Oxford-IIIT Pets (``oxford_pets/images``, ``annotations/``, split ``split_zhou_OxfordPets.json``)."""
import os
from typing import List

from vlprompt.data import DATASET_REGISTRY, Datum, DatasetBase
from vlprompt.data.splits import (
    Download, apply_fewshot_and_subsample, checked_dataset_dir, gdrive, load_or_generate_split, read_text_lines,
    split_trainval,
)


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
class OxfordPets(DatasetBase):
    """Official trainval split 80/20 per class into train/val; official test list as test."""

    dataset_dir = "oxford_pets"
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

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.anno_dir = os.path.join(self.dataset_dir, "annotations")
        self.split_path = os.path.join(self.dataset_dir, self.split_file)

        def _generate():
            trainval = read_pets_list(self.image_dir, os.path.join(self.anno_dir, "trainval.txt"))
            test = read_pets_list(self.image_dir, os.path.join(self.anno_dir, "test.txt"))
            return (*split_trainval(trainval), test)

        train, val, test = load_or_generate_split(self.split_path, self.image_dir, _generate)
        train, val, test = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test)
