"""Helpers shared by the test modules (paths, train.py argument lists, log parsing).

Fixtures stay in ``conftest.py``; plain functions and constants live here so that test modules
import them explicitly (``from .helpers import ...``) instead of importing from a conftest.
"""
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # train.py / parse_test_res.py live at the repository root

TINY_CFG = str(REPO / "configs/trainers/CoOp/tiny_ep10.yaml")
CALTECH_CFG = str(REPO / "configs/datasets/caltech101.yaml")


def coop_args(root, out, seed=1, trainer="CoOp", config=TINY_CFG, dataset_config=CALTECH_CFG):
    """train.py flags for a run on the generated Caltech101 (``root``) into ``out``."""
    from vlprompt.launch import train_argv

    return train_argv(root, trainer, dataset_config, config, out, seed=seed)


def final_accuracy(log: str) -> float:
    """The last ``* accuracy: X%`` line of a log."""
    return float(re.findall(r"\* accuracy: ([\d.]+)%", log)[-1])
