"""Helpers of the dataset-reader tests: config stems, building a reader as a run does."""
import os
import random

import yaml

from vlprompt.config import get_cfg_default
from vlprompt.data import build_dataset
from vlprompt.testing.datasets import FOLDER_COUNTS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Caltech's maker defaults to 20 images a class (the training tests rely on it); use uneven counts here.
MAKER_KWARGS = {"caltech101": {"n_per_class": FOLDER_COUNTS}}


def registry_name(stem: str) -> str:
    with open(os.path.join(REPO, "configs", "datasets", f"{stem}.yaml")) as f:
        return yaml.safe_load(f)["DATASET"]["NAME"]


def make_cfg(root, stem: str, shots: int = -1, seed: int = 1, subsample: str = "all"):
    cfg = get_cfg_default()
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = registry_name(stem)
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    return cfg


def build(root, stem: str, shots: int = -1, seed: int = 1, subsample: str = "all", reseed: bool = True):
    """Build a reader as a run does: Python ``random`` seeded with SEED at program start."""
    if reseed:
        random.seed(seed)
    return build_dataset(make_cfg(root, stem, shots, seed, subsample))


def one_per_class(items):
    """The first sample of each label, in list order."""
    return list({d.label: d for d in reversed(items)}.values())[::-1]


def records(items):
    return [(d.impath, d.label, d.domain, d.classname) for d in items]
