"""ImageNet-R (test only; ``imagenet-rendition/imagenet-r/<wnid>/``, 200 of the 1000 classes)."""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.splits import Download

from .imagenet import CLASSNAMES_DOWNLOAD, WnidFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetR(WnidFolderTestSet):
    """A 200-way problem: labels index the 200 wnid folders present, names come from the 1000-line
    ``classnames.txt`` by wnid; there is no mapping to ImageNet's 1000 indices (see WnidFolderTestSet)."""

    dataset_dir = "imagenet-rendition"
    image_folder = "imagenet-r"
    ignored = ("README.txt",)
    required = ["imagenet-r/", "classnames.txt"]
    source = "https://github.com/hendrycks/imagenet-r (imagenet-r.tar) + a copy of imagenet/classnames.txt"
    downloads = (Download("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar", "imagenet-r/"),
                 CLASSNAMES_DOWNLOAD)
