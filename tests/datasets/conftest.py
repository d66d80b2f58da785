"""Fixtures for the dataset-reader tests: one pristine generated copy of every dataset per session,
copied per test (readers write split files and caches into the dataset folder)."""
import os
import random
import shutil

import pytest
import yaml

from vlprompt.config import get_cfg_default
from vlprompt.data import build_dataset
from vlprompt.testing.datasets import FOLDER_COUNTS, MAKERS

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


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    """{stem: dataset folder} of freshly generated miniatures (never modified by tests)."""
    root = tmp_path_factory.mktemp("pristine")
    return {stem: maker(str(root), **MAKER_KWARGS.get(stem, {})) for stem, maker in MAKERS.items()}


@pytest.fixture()
def data(pristine, tmp_path):
    """``data(stem)`` copies that dataset under a fresh root and returns the root."""

    def _copy(stem: str) -> str:
        root = tmp_path / "data"
        src = pristine[stem]
        shutil.copytree(src, root / os.path.basename(src))
        return str(root)

    return _copy
