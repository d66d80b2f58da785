"""Miniature copies of the benchmark datasets in their real on-disk layouts (for tests and demos).

``make_<name>(root, ...)`` writes ``root/<dataset folder>/...`` and returns the dataset folder.
``python -m vlprompt.testing.datasets --root DIR [names...]`` writes them from the command line.
"""
from __future__ import annotations

import argparse
import os
import random

from .images import save_image

CALTECH_CLASSES = ["Faces", "Leopards", "Motorbikes", "accordion", "airplanes", "anchor", "yin_yang", "crocodile_head"]


def make_caltech101(root: str, classes=None, n_per_class: int = 20, seed: int = 0, size: int = 32) -> str:
    """caltech-101/101_ObjectCategories/<class>/image_XXXX.jpg, plus the two ignored folders."""
    rng = random.Random(seed)
    classes = list(classes or CALTECH_CLASSES)
    d = os.path.join(root, "caltech-101")
    img_dir = os.path.join(d, "101_ObjectCategories")
    for label, c in enumerate(sorted(classes)):
        for i in range(n_per_class):
            save_image(os.path.join(img_dir, c, f"image_{i + 1:04d}.jpg"), label, rng, size)
    for ignored in ("BACKGROUND_Google", "Faces_easy"):
        for i in range(4):
            save_image(os.path.join(img_dir, ignored, f"image_{i + 1:04d}.jpg"), 99, rng, size)
    return d


MAKERS = {"caltech101": make_caltech101}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("names", nargs="*", help=f"datasets to write (default: all of {sorted(MAKERS)})")
    args = parser.parse_args(argv)
    for name in args.names or sorted(MAKERS):
        if name not in MAKERS:
            raise SystemExit(f"Unknown dataset {name!r}; choose from {sorted(MAKERS)}")
        print(MAKERS[name](args.root))


if __name__ == "__main__":
    main()
