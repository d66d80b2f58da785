"""ImageNet-Sketch (test only; ``imagenet-sketch/images/<wnid>/``, the 1000 ImageNet classes)."""
from vlprompt.data import DATASET_REGISTRY

from .imagenet import CLASSNAMES_DOWNLOAD, WnidFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetSketch(WnidFolderTestSet):
    """1000 wnid folders; label = sorted index, names from ``classnames.txt`` (see WnidFolderTestSet)."""

    dataset_dir = "imagenet-sketch"
    image_folder = "images"
    required = ["images/", "classnames.txt"]
    source = ("https://github.com/HaohanWang/ImageNet-Sketch (extracted to imagenet-sketch/images/) "
              "+ a copy of imagenet/classnames.txt")
    downloads = (CLASSNAMES_DOWNLOAD,)
