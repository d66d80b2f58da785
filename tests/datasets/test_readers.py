"""Reader output on the generated miniatures: classes, names, labels, split sizes, split files."""
import json
import os
import pickle
import random
import shutil
from collections import Counter, OrderedDict

import pytest
from scipy.io import loadmat

from vlprompt.data import load_datum_pickle

from .expected import BENCHMARKS, EXPECTED, IMAGE_FOLDERS, SPLIT_FILES, VARIANTS
from .helpers import build


def per_label(items):
    return Counter(item.label for item in items)


def first_appearance(labels):
    return list(OrderedDict.fromkeys(labels))


def records(items):
    return [(d.impath, d.label, d.domain, d.classname) for d in items]


@pytest.mark.parametrize("stem", list(EXPECTED))
def test_classes_labels_and_split_sizes(stem, data):
    name, folder, classnames, sizes = EXPECTED[stem]
    root = data(stem)
    ds = build(root, stem)
    assert type(ds).__name__ == name
    assert ds.num_classes == len(classnames)
    assert ds.classnames == classnames
    assert ds.lab2cname == dict(enumerate(classnames))
    assert ds.train_u is None

    lists = {"train": ds.train_x, "val": ds.val, "test": ds.test}
    for part, k in (("train", 0), ("val", 1), ("test", 2)):
        expected = {y: s[k] for y, s in enumerate(sizes)}
        if part == "val" and sizes[0][1] is None:
            assert ds.val is None
            continue
        assert dict(per_label(lists[part])) == expected, part
        for d in lists[part]:
            assert d.classname == classnames[d.label] and d.domain == 0
            assert os.path.isabs(d.impath) and os.path.isfile(d.impath)
            assert d.impath.startswith(os.path.join(os.path.abspath(root), folder) + os.sep)
    if stem == "imagenet":
        assert ds.val == ds.test  # ImageNet evaluates on val, which also serves as val
    if stem in VARIANTS:
        assert ds.train_x == ds.test and len(ds.train_x) > 0


def test_root_with_tilde_and_relative_parts(data, monkeypatch):
    root = data("dtd")
    monkeypatch.setenv("HOME", os.path.dirname(root))
    ds = build("~/" + os.path.basename(root) + "/../" + os.path.basename(root), "dtd")
    assert all(d.impath.startswith(os.path.abspath(root) + os.sep) for d in ds.train_x)


def test_caltech_case_sensitive_labels_and_ignored_folders(data):
    ds = build(data("caltech101"), "caltech101")
    # "Faces", "Leopards", "Motorbikes" sort before lower-case names: labels 0, 1, 2.
    folders = {os.path.basename(os.path.dirname(d.impath)): d.label for d in ds.test}
    assert folders == {"Faces": 0, "Leopards": 1, "Motorbikes": 2, "accordion": 3, "airplanes": 4, "anchor": 5,
                       "crocodile_head": 6, "yin_yang": 7}
    everything = ds.train_x + ds.val + ds.test
    assert not any("BACKGROUND_Google" in d.impath or "Faces_easy" in d.impath for d in everything)


def test_hidden_files_are_skipped(data):
    ds = build(data("dtd"), "dtd")
    assert not any(os.path.basename(d.impath).startswith(".") for d in ds.train_x + ds.val + ds.test)
    ds = build(data("imagenet"), "imagenet")
    assert not any(os.path.basename(d.impath).startswith(".") for d in ds.train_x + ds.test)


@pytest.mark.parametrize("stem", list(SPLIT_FILES))
def test_split_file_written_when_absent_and_reread_identically(stem, data):
    root = data(stem)
    dataset_dir = os.path.join(root, EXPECTED[stem][1])
    split_path = os.path.join(dataset_dir, SPLIT_FILES[stem])
    assert not os.path.exists(split_path)
    first = build(root, stem)
    assert os.path.isfile(split_path)

    text = open(split_path).read()
    assert text.startswith('{\n    "train": [\n        [\n            "')  # 4-space indentation
    split = json.loads(text)
    assert list(split) == ["train", "val", "test"]
    image_dir = os.path.join(dataset_dir, IMAGE_FOLDERS[stem])
    for part, items in (("train", first.train_x), ("val", first.val), ("test", first.test)):
        assert len(split[part]) == len(items)
        for (rel, label, classname), d in zip(split[part], items):
            assert not rel.startswith("/") and not os.path.isabs(rel) and "\\" not in rel
            assert os.path.join(image_dir, rel) == d.impath and (label, classname) == (d.label, d.classname)
    if stem == "stanford_cars":
        assert {rel.split("/")[0] for rel, _, _ in split["train"] + split["test"]} == {"cars_train", "cars_test"}

    # A different global random state must not matter once the file exists.
    random.seed(12345)
    second = build(root, stem, reseed=False)
    for a, b in ((first.train_x, second.train_x), (first.val, second.val), (first.test, second.test)):
        assert records(a) == records(b)


@pytest.mark.parametrize("stem", list(SPLIT_FILES))
def test_regenerated_split_is_the_same_on_every_copy(stem, pristine, tmp_path):
    """Image folders are listed sorted, so a regenerated split only depends on SEED."""
    texts = []
    for copy in ("a", "b"):
        shutil.copytree(pristine[stem], tmp_path / copy / os.path.basename(pristine[stem]))
        build(tmp_path / copy, stem, seed=7)
        texts.append(open(tmp_path / copy / os.path.basename(pristine[stem]) / SPLIT_FILES[stem]).read())
    assert texts[0] == texts[1]


def test_split_file_classnames_are_taken_verbatim(data):
    """Renamings live in the split file: the reader uses its names and labels as they are."""
    root = data("eurosat")
    build(root, "eurosat")
    path = os.path.join(root, "eurosat", "split_zhou_EuroSAT.json")
    split = json.load(open(path))
    for part in split.values():
        for entry in part:
            entry[2] = entry[2].upper()
    json.dump(split, open(path, "w"))
    ds = build(root, "eurosat")
    assert ds.classnames[0] == "ANNUAL CROP LAND"


def test_trainval_split_groups_labels_by_first_appearance(data):
    root = data("stanford_cars")
    ds = build(root, "stanford_cars")
    annotations = loadmat(os.path.join(root, "stanford_cars", "devkit", "cars_train_annos.mat"))["annotations"][0]
    order = first_appearance(int(a["class"][0, 0]) - 1 for a in annotations)
    assert order != sorted(order)  # the miniature interleaves classes, as the real file
    assert first_appearance(d.label for d in ds.train_x) == order
    assert first_appearance(d.label for d in ds.val) == order
    # Labels come in contiguous blocks (one group per label).
    assert len(first_appearance(d.label for d in ds.train_x)) == len({d.label for d in ds.train_x})
    labels = [d.label for d in ds.train_x]
    assert sum(1 for a, b in zip(labels, labels[1:]) if a != b) == len(order) - 1


def test_flowers_split_groups_labels_by_first_appearance(data):
    root = data("oxford_flowers")
    ds = build(root, "oxford_flowers")
    mat_labels = loadmat(os.path.join(root, "oxford_flowers", "imagelabels.mat"))["labels"][0]
    order = first_appearance(int(y) - 1 for y in mat_labels)
    assert order != sorted(order)
    for items in (ds.train_x, ds.val, ds.test):
        assert first_appearance(d.label for d in items) == order
    # image_{i+1:05d}.jpg carries label mat_labels[i]
    for d in ds.test:
        i = int(os.path.basename(d.impath)[len("image_"):-len(".jpg")]) - 1
        assert int(mat_labels[i]) - 1 == d.label


def test_fgvc_uses_official_lists_and_variants_order(data):
    root = data("fgvc_aircraft")
    ds = build(root, "fgvc_aircraft")
    assert not os.path.exists(os.path.join(root, "fgvc_aircraft", "split_zhou_FGVCAircraft.json"))
    lines = open(os.path.join(root, "fgvc_aircraft", "images_variant_val.txt")).read().splitlines()
    assert [os.path.basename(d.impath)[:-4] for d in ds.val] == [line.split(" ")[0] for line in lines]
    assert [d.classname for d in ds.val] == [line.split(" ", 1)[1] for line in lines]


def test_ucf_frames_live_in_camel_case_split_folders(data):
    ds = build(data("ucf101"), "ucf101")
    paths = {os.path.relpath(d.impath, os.path.dirname(os.path.dirname(d.impath))) for d in ds.test}
    assert "Handstand_Pushups/v_HandStandPushups_g01_c01.jpg" in paths
    assert "Yo_Yo/v_YoYo_g01_c01.jpg" in paths


def test_imagenet_classnames_file_is_clips_curated_list(pristine):
    lines = open(os.path.join(pristine["imagenet"], "classnames.txt")).read().splitlines()
    assert lines[:3] == ["n01440764 tench", "n01443537 goldfish", "n01494475 hammerhead shark"]
    assert "n01514668 rooster" in lines
    assert [line.split(" ", 1)[1] for line in lines].count("sunglasses") == 2  # nothing deduplicates them


def test_imagenet_preprocessed_cache(data):
    root = data("imagenet")
    cache = os.path.join(root, "imagenet", "preprocessed.pkl")
    first = build(root, "imagenet")
    assert os.path.isfile(cache)
    assert not [f for f in os.listdir(os.path.dirname(cache)) if f.endswith(".tmp")]  # written atomically
    content = load_datum_pickle(cache)  # written under Dassl's Datum name: plain pickle.load needs Dassl
    assert set(content) == {"train", "test", "source"}  # "source": what it was built from
    assert records(content["train"]) == records(first.train_x) and records(content["test"]) == records(first.test)

    # Once present (and matching the folders it was built from) it is the source of truth.
    content["train"] = content["train"][:5]
    with open(cache, "wb") as f:
        pickle.dump(content, f)
    second = build(root, "imagenet")
    assert records(second.train_x) == records(first.train_x[:5])


@pytest.mark.parametrize("stem", ["imagenet_a", "imagenet_r"])
def test_imagenet_a_r_are_200_way_subsets_by_wnid(stem, data):
    root = data(stem)
    name, folder, classnames, _ = EXPECTED[stem]
    names = dict(line.split(" ", 1) for line in open(os.path.join(root, folder, "classnames.txt")).read().splitlines())
    ds = build(root, stem)
    image_dir = os.path.join(root, folder, stem.replace("_", "-"))
    assert os.path.isfile(os.path.join(image_dir, "README.txt"))
    wnids = sorted(f for f in os.listdir(image_dir) if f != "README.txt")
    assert len(names) > len(wnids)  # classnames.txt also names classes without a folder
    for d in ds.test:
        wnid = os.path.basename(os.path.dirname(d.impath))
        assert d.label == wnids.index(wnid) and d.classname == names[wnid]


def test_imagenet_a_r_wnids_are_real_members(pristine):
    """The miniature's folders are wnids that the real ImageNet-A / -R contain (timm ships the lists)."""
    import importlib.resources

    info = importlib.resources.files("timm.data").joinpath("_info")
    for stem, sub in (("imagenet_a", "imagenet-a"), ("imagenet_r", "imagenet-r")):
        real = set(info.joinpath(f"{stem}_synsets.txt").read_text().split())
        present = {f for f in os.listdir(os.path.join(pristine[stem], sub)) if f != "README.txt"}
        assert present <= real


def test_imagenetv2_folder_index_is_classnames_line(data):
    root = data("imagenetv2")
    ds = build(root, "imagenetv2")
    names = [line.split(" ", 1)[1] for line in open(os.path.join(root, "imagenetv2", "classnames.txt")).read().splitlines()]
    for d in ds.test:
        folder = int(os.path.basename(os.path.dirname(d.impath)))
        assert d.label == folder and d.classname == names[folder]


@pytest.mark.parametrize("stem", BENCHMARKS)
def test_split_fewshot_folder_created_even_without_shots(stem, data):
    root = data(stem)
    build(root, stem, shots=-1)
    folder = os.path.join(root, EXPECTED[stem][1], "split_fewshot")
    assert os.path.isdir(folder) and os.listdir(folder) == []
