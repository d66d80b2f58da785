"""ImageNetV2 matched-frequency (test only; ``imagenetv2/imagenetv2-matched-frequency-format-val/<i>/``)."""
import os

from vlprompt.data import DATASET_REGISTRY, DatasetBase
from vlprompt.data.splits import Download, checked_dataset_dir, read_class_folders, read_classnames, scan_class_folders

from .imagenet import CLASSNAMES_DOWNLOAD


@DATASET_REGISTRY.register()
class ImageNetV2(DatasetBase):
    """Folder ``str(i)`` holds class i, named by line i of ``classnames.txt`` (file order). Ignores
    NUM_SHOTS and SUBSAMPLE_CLASSES; train_x = test = all images, no val.

    Images within a folder are listed sorted (the reference: file-system order). Every folder must be a
    class index of classnames.txt, each index needs its folder, and no image may sit beside the folders.
    """

    dataset_dir = "imagenetv2"
    required = ["imagenetv2-matched-frequency-format-val/", "classnames.txt"]
    source = ("https://github.com/modestyachts/ImageNetV2 (imagenetv2-matched-frequency.tar.gz) "
              "+ a copy of imagenet/classnames.txt")
    downloads = (
        Download("https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz",
                 "imagenetv2-matched-frequency-format-val/"),
        CLASSNAMES_DOWNLOAD,
    )

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "imagenetv2-matched-frequency-format-val")
        # The reference iterates range(1000); the number of classnames.txt lines is the same for the real file.
        classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        classnames = list(read_classnames(classnames_file).values())
        folders = [str(i) for i in range(len(classnames))]  # folder i = line i, not sorted order
        scan_class_folders(self.image_dir, folders, f'"{classnames_file}" (folder i for its line i, from 0)',
                           require_all=True)
        data = read_class_folders(self.image_dir, folders, classnames)
        super().__init__(train_x=data, test=data)
