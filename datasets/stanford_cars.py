"""Stanford Cars (``stanford_cars/cars_train|cars_test``, MATLAB annotations, ``split_zhou_StanfordCars.json``).

Split-file paths are relative to the dataset folder itself (``cars_train/00001.jpg``), unlike the
other datasets.
"""
import os
from typing import List

from scipy.io import loadmat

from vlprompt.data import DATASET_REGISTRY, Datum
from vlprompt.data.readers import SplitFileDataset
from vlprompt.data.splits import Download, gdrive, split_trainval


def read_cars_annotations(dataset_dir: str, image_folder: str, anno_file: str, meta_file: str) -> List[Datum]:
    """``annotations`` struct array (``fname``, 1-based ``class``) + meta ``class_names``; the model
    year moves to the front of the name ("AM General Hummer SUV 2000" -> "2000 AM General Hummer SUV")."""
    annotations = loadmat(anno_file)["annotations"][0]
    class_names = loadmat(meta_file)["class_names"][0]
    items = []
    for anno in annotations:
        label = int(anno["class"][0, 0]) - 1
        words = str(class_names[label][0]).split(" ")
        classname = " ".join([words[-1]] + words[:-1])
        impath = os.path.join(dataset_dir, image_folder, str(anno["fname"][0]))
        items.append(Datum(impath=impath, label=label, classname=classname))
    return items


@DATASET_REGISTRY.register()
class StanfordCars(SplitFileDataset):
    """Official train annotations 80/20 per class into train/val; test annotations as test."""

    dataset_dir = "stanford_cars"
    required = ["cars_train/", "cars_test/"]
    split_file = "split_zhou_StanfordCars.json"
    split_inputs = ["devkit/cars_train_annos.mat", "devkit/cars_meta.mat", "cars_test_annos_withlabels.mat"]
    # The original Stanford download links are offline; mirrors (e.g. Kaggle) carry the same files.
    source = ("https://ai.stanford.edu/~jkrause/cars/car_dataset.html (cars_train.tgz, cars_test.tgz, "
              "car_devkit.tgz, cars_test_annos_withlabels.mat; offline, use a mirror) "
              "+ split_zhou_StanfordCars.json from the CoOp DATASETS.md")
    downloads = (Download(gdrive("1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"), split_file),)

    def generate_split(self):
        meta_file = os.path.join(self.dataset_dir, "devkit", "cars_meta.mat")
        trainval = read_cars_annotations(self.dataset_dir, "cars_train",
                                         os.path.join(self.dataset_dir, "devkit", "cars_train_annos.mat"), meta_file)
        test = read_cars_annotations(self.dataset_dir, "cars_test",
                                     os.path.join(self.dataset_dir, "cars_test_annos_withlabels.mat"), meta_file)
        return (*split_trainval(trainval), test)
