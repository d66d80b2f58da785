"""Oxford Flowers 102 (``oxford_flowers/jpg``, ``imagelabels.mat``, ``cat_to_name.json``, ``split_zhou_OxfordFlowers.json``)."""
import json
import os
from collections import defaultdict
from typing import List, Tuple

from scipy.io import loadmat

from vlprompt.data import DATASET_REGISTRY, Datum
from vlprompt.data.readers import SplitFileDataset
from vlprompt.data.splits import Download, gdrive, split_shuffled_groups


@DATASET_REGISTRY.register()
class OxfordFlowers(SplitFileDataset):
    """Random 50/20/30 split per label (not the official setid split), labels grouped in order of first
    appearance in ``imagelabels.mat``, as the reference."""

    dataset_dir = "oxford_flowers"
    template = "a photo of a {}, a type of flower."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["jpg/"]
    split_file = "split_zhou_OxfordFlowers.json"
    split_inputs = ["imagelabels.mat", "cat_to_name.json"]
    source = ("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ (102flowers.tgz, imagelabels.mat) "
              "+ cat_to_name.json and split_zhou_OxfordFlowers.json from the CoOp DATASETS.md")
    downloads = (
        Download("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz", "jpg/"),
        Download(gdrive("1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"), split_file),
        Download("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat", "imagelabels.mat"),
        Download(gdrive("1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0"), "cat_to_name.json"),
    )

    image_folder = "jpg"

    def generate_split(self) -> Tuple[List[Datum], List[Datum], List[Datum]]:
        """Generate the 50/20/30 split from imagelabels.mat and cat_to_name.json."""
        label_file = os.path.join(self.dataset_dir, "imagelabels.mat")
        tracker = defaultdict(list)  # 1-based label -> image paths; insertion order = first appearance
        for i, label in enumerate(loadmat(label_file)["labels"][0]):
            tracker[int(label)].append(os.path.join(self.image_dir, f"image_{i + 1:05d}.jpg"))
        with open(os.path.join(self.dataset_dir, "cat_to_name.json")) as f:
            lab2cname = json.load(f)
        groups = ((label - 1, lab2cname[str(label)], impaths, f'Label {label} of "{label_file}"')
                  for label, impaths in tracker.items())
        return split_shuffled_groups(groups)
