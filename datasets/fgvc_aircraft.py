"""FGVC-Aircraft variants (``fgvc_aircraft/`` = the archive's ``data/`` folder; official train/val/test)."""
import os
from typing import Dict, List

from vlprompt.data import DATASET_REGISTRY, DatasetBase, Datum
from vlprompt.data.splits import Download, apply_fewshot_and_subsample, checked_dataset_dir, read_text_lines


def read_variant_list(image_dir: str, cname2lab: Dict[str, int], split_file: str) -> List[Datum]:
    """``<image_id> <variant name, may contain spaces>`` lines -> ``images/<image_id>.jpg``."""
    items = []
    for line in read_text_lines(split_file):
        fields = line.split(" ")
        classname = " ".join(fields[1:])
        items.append(Datum(impath=os.path.join(image_dir, fields[0] + ".jpg"), label=cname2lab[classname],
                           classname=classname))
    return items


@DATASET_REGISTRY.register()
class FGVCAircraft(DatasetBase):
    """100 variants; label = line index in ``variants.txt``. No split JSON: the official lists are used."""

    dataset_dir = "fgvc_aircraft"
    template = "a photo of a {}, a type of aircraft."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["images/", "variants.txt", "images_variant_train.txt", "images_variant_val.txt",
                "images_variant_test.txt"]
    source = ("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ (fgvc-aircraft-2013b.tar.gz; its data/ folder "
              "renamed to fgvc_aircraft/)")
    downloads = (
        Download("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
                 "images/", strip="fgvc-aircraft-2013b/data/"),
    )

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "images")

        classnames = read_text_lines(os.path.join(self.dataset_dir, "variants.txt"))
        cname2lab = {c: i for i, c in enumerate(classnames)}
        train, val, test = (
            read_variant_list(self.image_dir, cname2lab, os.path.join(self.dataset_dir, f"images_variant_{s}.txt"))
            for s in ("train", "val", "test")
        )
        train, val, test, report = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, val, test)
        super().__init__(train_x=train, val=val, test=test, fewshot_report=report)
