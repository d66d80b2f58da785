"""ImageNet-A (test only; ``imagenet-adversarial/imagenet-a/<wnid>/``, 200 of the 1000 classes)."""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.splits import Download

from .imagenet import CLASSNAMES_DOWNLOAD, WnidFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetA(WnidFolderTestSet):
    """A 200-way problem: labels index the 200 wnid folders present, names come from the 1000-line
    ``classnames.txt`` by wnid; there is no mapping to ImageNet's 1000 indices (see WnidFolderTestSet)."""

    dataset_dir = "imagenet-adversarial"
    image_folder = "imagenet-a"
    ignored = ("README.txt",)
    required = ["imagenet-a/", "classnames.txt"]
    source = "https://github.com/hendrycks/natural-adv-examples (imagenet-a.tar) + a copy of imagenet/classnames.txt"
    downloads = (Download("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar", "imagenet-a/"),
                 CLASSNAMES_DOWNLOAD)
