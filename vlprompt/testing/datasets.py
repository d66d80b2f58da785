"""Miniature copies of the benchmark datasets in their real on-disk layouts (for tests and demos).

``make_<name>(root, ...)`` writes ``root/<dataset folder>/...`` and returns the dataset folder; ``MAKERS``
maps each config-file stem (``configs/datasets/<stem>.yaml``) to its maker.
``python -m vlprompt.testing.datasets --root DIR [names...]`` writes them from the command line.

Images are real small JPEGs whose content depends on the label (see :mod:`.images`). Per-class counts
cycle through small tuples chosen so that the 50/20/30 and 80/20 split rules, round-half-to-even and
few-shot sampling with and without enough images are all exercised (see the ``*_COUNTS`` constants).
"""
from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import random
import re
import string
from functools import lru_cache
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np
from scipy.io import savemat

from .images import save_image

Counts = Union[int, Sequence[int]]

# 50/20/30 per class: 34 -> 17/7/10, 12 -> 6/2/4, 7 -> 4/1/2 (3.5 rounds to 4), 5 -> 2/1/2 (2.5 rounds to 2).
FOLDER_COUNTS = (34, 12, 7, 5)
# 80/20 of an official trainval list: val round(0.2n) = 4, 2, 1, 1 -> train 17, 6, 3, 2.
TRAINVAL_COUNTS = (21, 8, 4, 3)
TEST_COUNT = 4
# Official train / val lists (FGVC, ImageNet train): 16-shot has enough for the first class only.
OFFICIAL_TRAIN_COUNTS = (20, 6, 3, 2)
OFFICIAL_VAL_COUNTS = (6, 3, 2, 1)

CALTECH_CLASSES = ["Faces", "Leopards", "Motorbikes", "accordion", "airplanes", "anchor", "yin_yang", "crocodile_head"]
DTD_CLASSES = ["banded", "blotchy", "braided", "bubbly", "bumpy"]
FOOD101_CLASSES = ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare"]
EUROSAT_CLASSES = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
                   "PermanentCrop", "Residential", "River", "SeaLake"]
# (image-name breed, species 1=cat 2=dog); class ids 1..n in this order, as the real (alphabetical) ids.
PETS_CLASSES = [("Abyssinian", 1), ("american_bulldog", 2), ("american_pit_bull_terrier", 2), ("basset_hound", 2),
                ("beagle", 2), ("Bengal", 1)]
CARS_CLASSES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012", "Acura TL Type-S 2008",
                "Acura TSX Sedan 2012", "Acura Integra Type R 2001"]
FLOWERS_CLASSES = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold",
                   "tiger lily"]
# variants.txt order (label = line index, not sorted); names with spaces and slashes as in the real file.
FGVC_VARIANTS = ["707-320", "727-200", "A340-500", "F/A-18", "Falcon 2000", "Cessna 172"]
SUN_CLASSES = ["/a/abbey", "/a/apartment_building/outdoor", "/b/bakery/shop", "/b/bathroom", "/c/campus",
               "/s/ski_slope"]
# classInd action names; the video files of HandstandPushups are named v_HandStandPushups_* in UCF101.
UCF_ACTIONS = ["ApplyEyeMakeup", "Archery", "HandstandPushups", "PlayingDaf", "Skijet", "YoYo"]
_UCF_VIDEO_NAMES = {"HandstandPushups": "HandStandPushups"}
# Indices into the 1000 sorted ImageNet wnids: tench, goldfish, hammerhead shark, rooster and the two
# classes both named "sunglasses" in CLIP's curated list.
IMAGENET_INDICES = (0, 1, 4, 7, 836, 837)
IMAGENET_A_INDICES = (6, 11, 13, 15)  # stingray, goldfinch, junco, American robin (all in ImageNet-A)
IMAGENET_R_INDICES = (1, 2, 4, 9)  # goldfish, great white shark, hammerhead shark, ostrich (all in ImageNet-R)


def _counts(counts: Counts, n: int) -> List[int]:
    """An int for every class, or a tuple cycled over the classes."""
    return [counts] * n if isinstance(counts, int) else [counts[i % len(counts)] for i in range(n)]


def _write_text(path: str, lines: Sequence[str], newline: str = "\n") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write("".join(line + newline for line in lines))


def _hidden_junk(folder: str) -> None:
    """A macOS ``.DS_Store``: the readers must skip hidden entries."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".DS_Store"), "wb") as f:
        f.write(b"\x00\x00\x00\x01Bud1")


def _make_class_folders(image_dir: str, classes: Sequence[str], n_per_class: Counts, rng: random.Random, size: int,
                        fname: Callable[[str, int], str]) -> None:
    """``image_dir/<class>/<fname(class, i)>`` for i = 1..n; counts and image content follow the sorted
    (label) order of ``classes``."""
    classes = sorted(classes)
    for label, (c, n) in enumerate(zip(classes, _counts(n_per_class, len(classes)))):
        for i in range(1, n + 1):
            save_image(os.path.join(image_dir, c, fname(c, i)), label, rng, size)


# ----------------------------------------------------------------------------- folder-per-class datasets
def make_caltech101(root: str, classes=None, n_per_class: Counts = 20, seed: int = 0, size: int = 32) -> str:
    """caltech-101/101_ObjectCategories/<class>/image_XXXX.jpg, plus the two ignored folders.

    20 images per class by default (the training tests rely on it); pass ``FOLDER_COUNTS`` for the
    uneven counts the other folder datasets use.
    """
    rng = random.Random(seed)
    d = os.path.join(root, "caltech-101")
    img_dir = os.path.join(d, "101_ObjectCategories")
    _make_class_folders(img_dir, classes or CALTECH_CLASSES, n_per_class, rng, size, lambda c, i: f"image_{i:04d}.jpg")
    _make_class_folders(img_dir, ["BACKGROUND_Google", "Faces_easy"], 4, rng, size, lambda c, i: f"image_{i:04d}.jpg")
    return d


def make_dtd(root: str, classes=None, n_per_class: Counts = FOLDER_COUNTS, seed: int = 0, size: int = 32) -> str:
    """dtd/images/<texture>/<texture>_XXXX.jpg (with stray hidden files), plus the unused imdb/ and labels/."""
    rng = random.Random(seed)
    d = os.path.join(root, "dtd")
    classes = list(classes or DTD_CLASSES)
    _make_class_folders(os.path.join(d, "images"), classes, n_per_class, rng, size, lambda c, i: f"{c}_{i:04d}.jpg")
    _hidden_junk(os.path.join(d, "images"))
    _hidden_junk(os.path.join(d, "images", sorted(classes)[0]))
    _write_text(os.path.join(d, "labels", "labels_joint_anno.txt"), [])
    os.makedirs(os.path.join(d, "imdb"), exist_ok=True)
    return d


def make_food101(root: str, classes=None, n_per_class: Counts = FOLDER_COUNTS, seed: int = 0, size: int = 32) -> str:
    """food-101/images/<class>/<id>.jpg plus meta/classes.txt (unused by the reader)."""
    rng = random.Random(seed)
    d = os.path.join(root, "food-101")
    classes = list(classes or FOOD101_CLASSES)
    ids = iter(rng.sample(range(100000, 4000000), 10000))
    _make_class_folders(os.path.join(d, "images"), classes, n_per_class, rng, size, lambda c, i: f"{next(ids)}.jpg")
    _write_text(os.path.join(d, "meta", "classes.txt"), sorted(classes))
    return d


def make_eurosat(root: str, classes=None, n_per_class: Counts = FOLDER_COUNTS, seed: int = 0, size: int = 32) -> str:
    """eurosat/2750/<ClassFolder>/<ClassFolder>_<n>.jpg (the RGB version)."""
    rng = random.Random(seed)
    d = os.path.join(root, "eurosat")
    _make_class_folders(os.path.join(d, "2750"), classes or EUROSAT_CLASSES, n_per_class, rng, size,
                        lambda c, i: f"{c}_{i}.jpg")
    return d


# ----------------------------------------------------------------------------- official trainval/test lists
def make_oxford_pets(root: str, classes=None, n_trainval: Counts = TRAINVAL_COUNTS, n_test: Counts = TEST_COUNT,
                     seed: int = 0, size: int = 32) -> str:
    """oxford_pets/images/<Breed>_<n>.jpg, annotations/trainval.txt and test.txt
    (``<stem> <class_id> <species> <breed_id>``)."""
    rng = random.Random(seed)
    d = os.path.join(root, "oxford_pets")
    classes = list(classes or PETS_CLASSES)
    trainval, test, breed_ids = [], [], {1: 0, 2: 0}
    for label, ((breed, species), n_tv, n_te) in enumerate(
            zip(classes, _counts(n_trainval, len(classes)), _counts(n_test, len(classes)))):
        breed_ids[species] += 1
        for i in range(1, n_tv + n_te + 1):
            stem = f"{breed}_{i}"
            save_image(os.path.join(d, "images", stem + ".jpg"), label, rng, size)
            (trainval if i <= n_tv else test).append(f"{stem} {label + 1} {species} {breed_ids[species]}")
    _write_text(os.path.join(d, "annotations", "trainval.txt"), trainval)
    _write_text(os.path.join(d, "annotations", "test.txt"), test)
    return d


def _mat_struct(records: List[Dict[str, np.ndarray]]) -> np.ndarray:
    """A 1xN MATLAB struct array (what ``loadmat(...)["annotations"]`` returns for the Cars devkit)."""
    fields = list(records[0])
    arr = np.empty((1, len(records)), dtype=[(f, object) for f in fields])
    for i, record in enumerate(records):
        for f in fields:
            arr[f][0, i] = record[f]
    return arr


def make_stanford_cars(root: str, class_names=None, n_trainval: Counts = TRAINVAL_COUNTS, n_test: Counts = TEST_COUNT,
                       seed: int = 0, size: int = 32) -> str:
    """stanford_cars/cars_train|cars_test/<nnnnn>.jpg (classes interleaved, as the real files),
    devkit/cars_train_annos.mat, devkit/cars_meta.mat and cars_test_annos_withlabels.mat."""
    rng = random.Random(seed)
    d = os.path.join(root, "stanford_cars")
    class_names = list(class_names or CARS_CLASSES)
    for folder, counts, anno_path in (
        ("cars_train", n_trainval, os.path.join(d, "devkit", "cars_train_annos.mat")),
        ("cars_test", n_test, os.path.join(d, "cars_test_annos_withlabels.mat")),
    ):
        labels = [y for y, n in enumerate(_counts(counts, len(class_names))) for _ in range(n)]
        rng.shuffle(labels)
        records = []
        for i, y in enumerate(labels, start=1):
            fname = f"{i:05d}.jpg"
            save_image(os.path.join(d, folder, fname), y, rng, size)
            box = [np.array([[v]], dtype=np.uint16) for v in (1, 2, size - 2, size - 1)]
            records.append({"bbox_x1": box[0], "bbox_y1": box[1], "bbox_x2": box[2], "bbox_y2": box[3],
                            "class": np.array([[y + 1]], dtype=np.uint8), "fname": np.array([fname])})
        os.makedirs(os.path.dirname(anno_path), exist_ok=True)
        savemat(anno_path, {"annotations": _mat_struct(records)})
    meta = np.empty((1, len(class_names)), dtype=object)
    for i, name in enumerate(class_names):
        meta[0, i] = name
    savemat(os.path.join(d, "devkit", "cars_meta.mat"), {"class_names": meta})
    return d


def make_sun397(root: str, classes=None, n_trainval: Counts = TRAINVAL_COUNTS, n_test: Counts = TEST_COUNT,
                seed: int = 0, size: int = 32) -> str:
    """sun397/SUN397/<letter>/<class>[/<sub>]/sun_<id>.jpg, ClassName.txt, Training_01.txt, Testing_01.txt."""
    rng = random.Random(seed)
    d = os.path.join(root, "sun397")
    classes = list(classes or SUN_CLASSES)
    training, testing = [], []
    for label, (c, n_tv, n_te) in enumerate(zip(classes, _counts(n_trainval, len(classes)), _counts(n_test, len(classes)))):
        for i in range(n_tv + n_te):
            rel = f"{c}/sun_{''.join(rng.choices(string.ascii_lowercase, k=16))}.jpg"
            save_image(os.path.join(d, "SUN397", rel.lstrip("/")), label, rng, size)
            (training if i < n_tv else testing).append(rel)
    _write_text(os.path.join(d, "ClassName.txt"), classes)
    _write_text(os.path.join(d, "Training_01.txt"), training)
    _write_text(os.path.join(d, "Testing_01.txt"), testing)
    return d


def make_ucf101(root: str, actions=None, n_trainval: Counts = TRAINVAL_COUNTS, n_test: Counts = TEST_COUNT,
                seed: int = 0, size: int = 32) -> str:
    """ucf101/UCF-101-midframes/<Camel_Split_Action>/v_<Action>_gXX_cYY.jpg and ucfTrainTestlist/
    (classInd.txt, trainlist01.txt, testlist01.txt, with the real files' CRLF line ends)."""
    rng = random.Random(seed)
    d = os.path.join(root, "ucf101")
    actions = list(actions or UCF_ACTIONS)
    trainlist, testlist = [], []
    for label, (action, n_tv, n_te) in enumerate(zip(actions, _counts(n_trainval, len(actions)), _counts(n_test, len(actions)))):
        folder = "_".join(re.findall("[A-Z][^A-Z]*", action))
        video = _UCF_VIDEO_NAMES.get(action, action)
        # Train videos come from groups 8-25, test videos from groups 1-7, as in split 01; 4 clips a group.
        for first_group, n, out, suffix in ((8, n_tv, trainlist, f" {label + 1}"), (1, n_te, testlist, "")):
            for i in range(n):
                stem = f"v_{video}_g{first_group + i // 4:02d}_c{1 + i % 4:02d}"
                save_image(os.path.join(d, "UCF-101-midframes", folder, stem + ".jpg"), label, rng, size)
                out.append(f"{action}/{stem}.avi{suffix}")
    lists = os.path.join(d, "ucfTrainTestlist")
    _write_text(os.path.join(lists, "classInd.txt"), [f"{i + 1} {a}" for i, a in enumerate(actions)], "\r\n")
    _write_text(os.path.join(lists, "trainlist01.txt"), trainlist, "\r\n")
    _write_text(os.path.join(lists, "testlist01.txt"), testlist, "\r\n")
    return d


# ----------------------------------------------------------------------------- other layouts
def make_oxford_flowers(root: str, names=None, n_per_label: Counts = FOLDER_COUNTS, seed: int = 0, size: int = 32) -> str:
    """oxford_flowers/jpg/image_XXXXX.jpg with labels interleaved (as the real imagelabels.mat),
    imagelabels.mat (1xN, 1-based) and cat_to_name.json."""
    rng = random.Random(seed)
    d = os.path.join(root, "oxford_flowers")
    names = list(names or FLOWERS_CLASSES)
    labels = [y for y, n in enumerate(_counts(n_per_label, len(names)), start=1) for _ in range(n)]
    rng.shuffle(labels)
    for i, y in enumerate(labels, start=1):
        save_image(os.path.join(d, "jpg", f"image_{i:05d}.jpg"), y - 1, rng, size)
    savemat(os.path.join(d, "imagelabels.mat"), {"labels": np.array([labels], dtype=np.uint8)})
    with open(os.path.join(d, "cat_to_name.json"), "w") as f:
        json.dump({str(i): n for i, n in enumerate(names, start=1)}, f)
    return d


def make_fgvc_aircraft(root: str, variants=None, n_train: Counts = OFFICIAL_TRAIN_COUNTS,
                       n_val: Counts = OFFICIAL_VAL_COUNTS, n_test: Counts = 3, seed: int = 0, size: int = 32) -> str:
    """fgvc_aircraft/ (the archive's data/): images/<id>.jpg, variants.txt, images_variant_{train,val,test}.txt."""
    rng = random.Random(seed)
    d = os.path.join(root, "fgvc_aircraft")
    variants = list(variants or FGVC_VARIANTS)
    ids = iter(sorted(rng.sample(range(1000000, 2300000), 10000)))
    for split, counts in (("train", n_train), ("val", n_val), ("test", n_test)):
        lines = []
        for label, (v, n) in enumerate(zip(variants, _counts(counts, len(variants)))):
            for _ in range(n):
                image_id = f"{next(ids):07d}"
                save_image(os.path.join(d, "images", image_id + ".jpg"), label, rng, size)
                lines.append(f"{image_id} {v}")
        _write_text(os.path.join(d, f"images_variant_{split}.txt"), sorted(lines))  # the real lists are id-sorted
    _write_text(os.path.join(d, "variants.txt"), variants)
    return d


@lru_cache(maxsize=1)
def imagenet_classes() -> Tuple[Tuple[str, str], ...]:
    """The 1000 (wnid, CLIP curated name) pairs in sorted-wnid order, as CoOp's classnames.txt.

    The sorted wnids come from timm (a dependency of open_clip), the names from open_clip.
    """
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    wnids = importlib.resources.files("timm.data").joinpath("_info/imagenet_synsets.txt").read_text().split()
    assert len(wnids) == len(IMAGENET_CLASSNAMES) == 1000 and wnids == sorted(wnids)
    return tuple(zip(wnids, IMAGENET_CLASSNAMES))


def _write_classnames(path: str, indices: Sequence[int]) -> List[str]:
    """classnames.txt lines for the given ImageNet class indices (sorted); returns their wnids."""
    pairs = [imagenet_classes()[i] for i in sorted(set(indices))]
    _write_text(path, [f"{w} {n}" for w, n in pairs])
    return [imagenet_classes()[i][0] for i in indices]


def make_imagenet(root: str, indices: Sequence[int] = IMAGENET_INDICES, n_train: Counts = OFFICIAL_TRAIN_COUNTS,
                  n_val: Counts = 3, seed: int = 0, size: int = 32) -> str:
    """imagenet/images/{train,val}/<wnid>/*.JPEG and classnames.txt for the chosen classes only."""
    rng = random.Random(seed)
    d = os.path.join(root, "imagenet")
    wnids = _write_classnames(os.path.join(d, "classnames.txt"), indices)
    val_id = iter(range(1, 50001))
    for label, (w, n_tr, n_va) in enumerate(zip(sorted(wnids), _counts(n_train, len(wnids)), _counts(n_val, len(wnids)))):
        for k in range(n_tr):
            save_image(os.path.join(d, "images", "train", w, f"{w}_{k + 1}.JPEG"), label, rng, size)
        for _ in range(n_va):
            save_image(os.path.join(d, "images", "val", w, f"ILSVRC2012_val_{next(val_id):08d}.JPEG"), label, rng, size)
    _hidden_junk(os.path.join(d, "images", "train", sorted(wnids)[0]))
    return d


def make_imagenetv2(root: str, indices: Sequence[int] = IMAGENET_INDICES, n_per_class: Counts = 3, seed: int = 0,
                    size: int = 32) -> str:
    """imagenetv2/imagenetv2-matched-frequency-format-val/<i>/<hash>.jpeg, folder i = line i of classnames.txt."""
    rng = random.Random(seed)
    d = os.path.join(root, "imagenetv2")
    _write_classnames(os.path.join(d, "classnames.txt"), indices)
    for label, n in enumerate(_counts(n_per_class, len(set(indices)))):
        for _ in range(n):
            name = f"{rng.getrandbits(160):040x}.jpeg"
            save_image(os.path.join(d, "imagenetv2-matched-frequency-format-val", str(label), name), label, rng, size)
    return d


def _make_wnid_folders(image_dir: str, wnids: Sequence[str], n_per_class: Counts, rng: random.Random, size: int,
                       fname: Callable[[int], str]) -> None:
    for label, (w, n) in enumerate(zip(sorted(wnids), _counts(n_per_class, len(wnids)))):
        for k in range(n):
            save_image(os.path.join(image_dir, w, fname(k)), label, rng, size)


def make_imagenet_sketch(root: str, indices: Sequence[int] = IMAGENET_INDICES, n_per_class: Counts = 3, seed: int = 0,
                         size: int = 32) -> str:
    """imagenet-sketch/images/<wnid>/sketch_<k>.JPEG and classnames.txt."""
    rng = random.Random(seed)
    d = os.path.join(root, "imagenet-sketch")
    wnids = _write_classnames(os.path.join(d, "classnames.txt"), indices)
    _make_wnid_folders(os.path.join(d, "images"), wnids, n_per_class, rng, size, lambda k: f"sketch_{k}.JPEG")
    _hidden_junk(os.path.join(d, "images"))
    return d


def _make_imagenet_subset(root: str, folder: str, image_folder: str, indices: Sequence[int], n_per_class: Counts,
                          seed: int, size: int, fname: Callable[[int], str]) -> str:
    """ImageNet-A/R: ``<image_folder>/<wnid>/`` for the chosen classes plus README.txt; classnames.txt
    also names classes that have no folder (as the real 1000-line file does)."""
    rng = random.Random(seed)
    d = os.path.join(root, folder)
    wnids = _write_classnames(os.path.join(d, "classnames.txt"), list(indices) + list(IMAGENET_INDICES))[:len(indices)]
    _make_wnid_folders(os.path.join(d, image_folder), wnids, n_per_class, rng, size, fname)
    _write_text(os.path.join(d, image_folder, "README.txt"), [f"{image_folder}: one folder per wnid."])
    return d


def make_imagenet_a(root: str, indices: Sequence[int] = IMAGENET_A_INDICES, n_per_class: Counts = 3, seed: int = 0,
                    size: int = 32) -> str:
    """imagenet-adversarial/imagenet-a/<wnid>/*.jpg (+ README.txt) and classnames.txt."""
    return _make_imagenet_subset(root, "imagenet-adversarial", "imagenet-a", indices, n_per_class, seed, size,
                                 lambda k: f"0.{k:06d}_adversarial.jpg")


def make_imagenet_r(root: str, indices: Sequence[int] = IMAGENET_R_INDICES, n_per_class: Counts = 3, seed: int = 0,
                    size: int = 32) -> str:
    """imagenet-rendition/imagenet-r/<wnid>/*.jpg (+ README.txt) and classnames.txt."""
    return _make_imagenet_subset(root, "imagenet-rendition", "imagenet-r", indices, n_per_class, seed, size,
                                 lambda k: f"{('art', 'cartoon', 'sketch')[k % 3]}_{k}.jpg")


# ----------------------------------------------------------------------------- your own images
USER_CLASSES = ["01_apple", "02_kite", "03_yin_yang", "04_cat", "05_face"]


def make_image_folder(root: str, classes=None, n_per_class: Counts = FOLDER_COUNTS, seed: int = 0, size: int = 32) -> str:
    """image_folder/<NN_class>/<n>.jpg: a user's folder of class folders (DATASET.ROOT is this folder)."""
    rng = random.Random(seed)
    d = os.path.join(root, "image_folder")
    _make_class_folders(d, list(classes or USER_CLASSES), n_per_class, rng, size, lambda c, i: f"{i:03d}.jpg")
    return d


def make_image_list(root: str, classes=None, n_per_class: Counts = FOLDER_COUNTS, seed: int = 0, size: int = 32) -> str:
    """image_list/images/<n>.jpg + images.csv ("path,label" rows, no split column): a user's list
    (DATASET.ROOT is image_list/, DATASET.CUSTOM.LIST images.csv)."""
    rng = random.Random(seed)
    d = os.path.join(root, "image_list")
    classes = [c.split("_", 1)[1] for c in (classes or USER_CLASSES)]
    rows, k = ["path,label"], 0
    for label, (c, n) in enumerate(zip(classes, _counts(n_per_class, len(classes)))):
        for _ in range(n):
            save_image(os.path.join(d, "images", f"{k:04d}.jpg"), label, rng, size)
            rows.append(f"images/{k:04d}.jpg,{c}")
            k += 1
    _write_text(os.path.join(d, "images.csv"), rows)
    return d


MAKERS: Dict[str, Callable[..., str]] = {
    "image_folder": make_image_folder,
    "image_list": make_image_list,
    "imagenet": make_imagenet,
    "caltech101": make_caltech101,
    "oxford_pets": make_oxford_pets,
    "stanford_cars": make_stanford_cars,
    "oxford_flowers": make_oxford_flowers,
    "food101": make_food101,
    "fgvc_aircraft": make_fgvc_aircraft,
    "sun397": make_sun397,
    "dtd": make_dtd,
    "eurosat": make_eurosat,
    "ucf101": make_ucf101,
    "imagenetv2": make_imagenetv2,
    "imagenet_sketch": make_imagenet_sketch,
    "imagenet_a": make_imagenet_a,
    "imagenet_r": make_imagenet_r,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("names", nargs="*", help=f"datasets to write (default: all of {sorted(MAKERS)})")
    args = parser.parse_args(argv)
    for name in args.names or sorted(MAKERS):
        if name not in MAKERS:
            raise SystemExit(f"Unknown dataset {name!r}; choose from {sorted(MAKERS)}")
        print(MAKERS[name](args.root))


if __name__ == "__main__":
    main()
