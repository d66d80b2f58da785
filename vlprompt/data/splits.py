"""Split files, split generation, few-shot sampling and base/new subsampling shared by all readers.

Everything here reproduces the reference readers (CoOp on Dassl) exactly, including the use of the
global Python ``random`` state, round-half-to-even and first-appearance label order, so that splits
and few-shot subsets line up with the original code and its released split files.
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import random
from collections import OrderedDict, defaultdict
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from vlprompt.utils.tools import atomic_write_bytes, atomic_write_text

from .base import Datum, DatasetNotFoundError, check_dataset_layout


def listdir_nohidden(path: str, sort: bool = False) -> List[str]:
    """Non-hidden entries of ``path``; unsorted (file-system order) unless ``sort``, as Dassl."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


# ----------------------------------------------------------------------------- dataset folders
class Download(NamedTuple):
    """Where ``scripts/datasets/prepare.py`` fetches one entry of a dataset folder from.

    Readers list these in their ``downloads`` attribute next to ``required`` / ``split_file`` /
    ``split_inputs``, so the layout knowledge lives in one place (the reader class).
    """

    url: str  # plain URL, or a Google Drive URL from gdrive() (fetched with gdown)
    provides: str  # the entry (relative to the dataset folder) it creates; skipped when present
    into: str = "."  # archives: folder, relative to the dataset folder, to extract into
    strip: str = ""  # archives: leading member folder to drop (when the archive has it)


def gdrive(file_id: str) -> str:
    return f"https://drive.google.com/uc?id={file_id}"


def layout_entries(reader, dataset_dir: str) -> List[str]:
    """Entries ``reader`` needs under ``dataset_dir``: ``required``, plus ``split_inputs`` (the files
    a split is generated from) only while its split file is absent, since the reference never reads
    them once the split file exists."""
    entries = list(reader.required)
    split_file = getattr(reader, "split_file", None)
    if split_file and not os.path.exists(os.path.join(dataset_dir, split_file)):
        entries += list(getattr(reader, "split_inputs", ()))
    return entries


def checked_dataset_dir(cfg, reader) -> str:
    """``DATASET.ROOT/<reader.dataset_dir>`` as an absolute path, after checking its layout."""
    root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
    dataset_dir = os.path.join(root, reader.dataset_dir)
    check_dataset_layout(dataset_dir, layout_entries(reader, dataset_dir), type(reader).__name__, reader.source)
    return dataset_dir


def read_text_lines(path: str) -> List[str]:
    """Stripped non-empty lines (blank lines, on which the reference would crash, are skipped)."""
    with open(path, "r") as f:
        return [line.strip() for line in f if line.strip()]


def read_classnames(text_file: str) -> "OrderedDict[str, str]":
    """ImageNet's ``classnames.txt``: ``<wnid> <class name with spaces>`` lines -> {wnid: name}."""
    classnames: "OrderedDict[str, str]" = OrderedDict()
    for line in read_text_lines(text_file):
        fields = line.split(" ")
        classnames[fields[0]] = " ".join(fields[1:])
    return classnames


def read_class_folders(image_dir: str, folders: Sequence[str], classnames: Sequence[str]) -> List[Datum]:
    """Label i = every non-hidden file of ``image_dir/folders[i]``, named ``classnames[i]``.

    Files are listed sorted; the reference used file-system order, which differs between machines.
    """
    items = []
    for label, (folder, classname) in enumerate(zip(folders, classnames)):
        folder_dir = os.path.join(image_dir, folder)
        if not os.path.isdir(folder_dir):
            raise DatasetNotFoundError(f'Class folder "{folder_dir}" (label {label}, "{classname}") is missing')
        items.extend(Datum(impath=os.path.join(folder_dir, im), label=label, classname=classname)
                     for im in listdir_nohidden(folder_dir, sort=True))
    if not items:  # the data manager cannot build loaders over an empty list
        raise DatasetNotFoundError(f'No images found under "{image_dir}"')
    return items


def read_wnid_folders(image_dir: str, classnames_file: str, folders: Optional[Sequence[str]] = None,
                      ignored: Iterable[str] = ()) -> List[Datum]:
    """ImageNet-style ``<wnid>/`` folders: label = index in ``folders`` (default: the non-hidden entries
    of ``image_dir``, sorted, minus ``ignored``), class name looked up by wnid in ``classnames_file``."""
    if folders is None:
        ignored = set(ignored)
        folders = [f for f in listdir_nohidden(image_dir, sort=True) if f not in ignored]
    names = read_classnames(classnames_file)
    unknown = [f for f in folders if f not in names]
    if unknown:
        raise ValueError(f'"{classnames_file}" has no class name for folder(s) {unknown[:5]} of "{image_dir}"')
    return read_class_folders(image_dir, folders, [names[f] for f in folders])


# ----------------------------------------------------------------------------- split JSON files
def read_split(filepath: str, path_prefix: str) -> Tuple[List[Datum], List[Datum], List[Datum]]:
    """Read a ``split_zhou_<Name>.json`` file; image paths are joined onto ``path_prefix``."""
    try:
        with open(filepath, "r") as f:
            split = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(
            f'Split file "{filepath}" is not valid JSON ({e}). Delete it to regenerate it, or '
            "download the released split file again."
        ) from None
    if not isinstance(split, dict) or not {"train", "val", "test"} <= set(split):
        keys = sorted(split) if isinstance(split, dict) else type(split).__name__
        raise ValueError(f'Split file "{filepath}" must be a JSON object with keys "train", "val", "test"; found {keys}')

    def _convert(key):
        out = []
        for i, entry in enumerate(split[key]):
            if not (isinstance(entry, (list, tuple)) and len(entry) == 3):
                raise ValueError(
                    f'Split file "{filepath}": entry {i} of "{key}" must be [relative_path, label, classname], got {entry!r}'
                )
            impath, label, classname = entry
            out.append(Datum(impath=os.path.join(path_prefix, impath), label=int(label), classname=classname))
        return out

    print(f"Reading split from {filepath}")
    return _convert("train"), _convert("val"), _convert("test")


def save_split(train: Sequence[Datum], val: Sequence[Datum], test: Sequence[Datum], filepath: str,
               path_prefix: str) -> None:
    """Write a split file in the reference format (paths relative to ``path_prefix``), atomically."""

    def _extract(items):
        out = []
        for item in items:
            impath = item.impath.replace(path_prefix, "")
            if impath.startswith("/"):
                impath = impath[1:]
            out.append((impath, item.label, item.classname))
        return out

    split = {"train": _extract(train), "val": _extract(val), "test": _extract(test)}
    atomic_write_text(filepath, json.dumps(split, indent=4, separators=(",", ": ")))
    print(f"Saved split to {filepath}")


def load_or_generate_split(split_path: str, path_prefix: str, generate: Callable[[], tuple]):
    """Read ``split_path`` if present; otherwise call ``generate()`` and save its (train, val, test)."""
    if os.path.exists(split_path):
        return read_split(split_path, path_prefix)
    train, val, test = generate()
    save_split(train, val, test, split_path, path_prefix)
    return train, val, test


# ----------------------------------------------------------------------------- split generation
def _split_counts(n: int, p_trn: float, p_val: float) -> Tuple[int, int, int]:
    # Python's round() is round-half-to-even, as in the reference (n=5 -> 2 train).
    n_train = round(n * p_trn)
    n_val = round(n * p_val)
    n_test = n - n_train - n_val
    return n_train, n_val, n_test


def split_shuffled_groups(groups: Iterable[Tuple[int, str, List[str], str]], p_trn: float = 0.5,
                          p_val: float = 0.2) -> Tuple[List[Datum], List[Datum], List[Datum]]:
    """Per group ``(label, classname, impaths, where)``, in the given order: ``random.shuffle(impaths)``
    (global RNG), then the first round(p_trn*n) -> train, next round(p_val*n) -> val, rest -> test.

    ``where`` names the group in the error raised when a part would be empty.
    """
    p_tst = 1 - p_trn - p_val
    print(f"Splitting into {p_trn:.0%} train, {p_val:.0%} val, and {p_tst:.0%} test")

    def _collate(ims, y, c):
        return [Datum(impath=im, label=y, classname=c) for im in ims]

    train, val, test = [], [], []
    for label, classname, images, where in groups:
        random.shuffle(images)
        n_train, n_val, n_test = _split_counts(len(images), p_trn, p_val)
        if not (n_train > 0 and n_val > 0 and n_test > 0):
            raise ValueError(
                f"{where} has {len(images)} images, too few for a "
                f"{p_trn:.0%}/{p_val:.0%}/{p_tst:.0%} split (each part must be non-empty; at least 4 images)"
            )
        train.extend(_collate(images[:n_train], label, classname))
        val.extend(_collate(images[n_train:n_train + n_val], label, classname))
        test.extend(_collate(images[n_train + n_val:], label, classname))
    return train, val, test


def read_and_split_data(image_dir: str, p_trn: float = 0.5, p_val: float = 0.2,
                        ignored: Iterable[str] = (), new_cnames: Optional[Dict[str, str]] = None):
    """Random 50/20/30 split of a folder-per-class tree (Caltech101, DTD, EuroSAT, Food101).

    Classes are the sorted (case-sensitive) non-hidden sub-folders minus ``ignored``; label = index.
    Images are listed in sorted order before ``random.shuffle`` (global Python RNG). The reference
    used raw file-system listing order, which differs between machines; sorting makes a regenerated
    split reproducible everywhere (the released split files are read as they are).
    """
    ignored = set(ignored)
    categories = sorted(c for c in listdir_nohidden(image_dir) if c not in ignored)
    new_cnames = new_cnames or {}

    def _groups():  # lazily, so listing and shuffling interleave per class as in the reference
        for label, category in enumerate(categories):
            category_dir = os.path.join(image_dir, category)
            images = [os.path.join(category_dir, im) for im in listdir_nohidden(category_dir, sort=True)]
            yield label, new_cnames.get(category, category), images, f'Class folder "{category_dir}"'

    return split_shuffled_groups(_groups(), p_trn, p_val)


def split_trainval(trainval: Sequence[Datum], p_val: float = 0.2) -> Tuple[List[Datum], List[Datum]]:
    """Per-label random train/val split of an official trainval list (Pets, Cars, SUN397, UCF101)."""
    p_trn = 1 - p_val
    print(f"Splitting trainval into {p_trn:.0%} train and {p_val:.0%} val")
    tracker = defaultdict(list)  # insertion order = first appearance of each label
    for idx, item in enumerate(trainval):
        tracker[item.label].append(idx)
    train, val = [], []
    for label, idxs in tracker.items():
        n_val = round(len(idxs) * p_val)
        if n_val <= 0:
            raise ValueError(
                f"Label {label} has {len(idxs)} trainval samples, too few for a {p_val:.0%} val split "
                "(at least 3 are needed)"
            )
        random.shuffle(idxs)
        for n, idx in enumerate(idxs):
            (val if n < n_val else train).append(trainval[idx])
    return train, val


# ----------------------------------------------------------------------------- few-shot
def split_dataset_by_label(data_source: Iterable[Datum]) -> "OrderedDict[int, List[Datum]]":
    """Group samples by label; groups in order of first appearance, list order kept within."""
    output: "OrderedDict[int, List[Datum]]" = OrderedDict()
    for item in data_source:
        output.setdefault(item.label, []).append(item)
    return output


def generate_fewshot_dataset(*data_sources: Sequence[Datum], num_shots: int = -1, repeat: bool = False):
    """K samples per class with ``random.sample`` (all of a class's samples when it has fewer).

    Returns one list per data source (a single list if one source is given), as Dassl.
    """
    if num_shots < 1:
        return data_sources[0] if len(data_sources) == 1 else data_sources
    print(f"Creating a {num_shots}-shot dataset")
    output = []
    for data_source in data_sources:
        dataset = []
        for items in split_dataset_by_label(data_source).values():
            if len(items) >= num_shots:
                sampled = random.sample(items, num_shots)
            elif repeat:
                sampled = random.choices(items, k=num_shots)
            else:
                sampled = items
            dataset.extend(sampled)
        output.append(dataset)
    return output[0] if len(output) == 1 else output


class _DatumUnpickler(pickle.Unpickler):
    """Loads Datum caches (few-shot subsets, ImageNet's preprocessed.pkl) written by the original code
    (Dassl's Datum) or by us into our Datum."""

    def find_class(self, module, name):
        if name == "Datum" and module.startswith("dassl."):
            return Datum
        return super().find_class(module, name)


def load_datum_pickle(path: str) -> dict:
    with open(path, "rb") as f:
        return _DatumUnpickler(f).load()


def fewshot_cache_path(dataset_dir: str, num_shots: int, seed: int) -> str:
    return os.path.join(dataset_dir, "split_fewshot", f"shot_{num_shots}-seed_{int(seed)}.pkl")


def load_or_create_fewshot(dataset_dir: str, num_shots: int, seed: int, train: Sequence[Datum],
                           val: Optional[Sequence[Datum]] = None):
    """The reference's per-seed few-shot cache ``split_fewshot/shot_{K}-seed_{S}.pkl``.

    Train gets K per class, val min(K, 4) per class (drawn after train from the same RNG state).
    An existing cache is used as is. Returns ``(train, val)``; ``val`` stays None when not given
    (ImageNet, whose cache holds only "train").
    """
    if num_shots < 1:
        return train, val
    path = fewshot_cache_path(dataset_dir, num_shots, seed)
    if os.path.exists(path):
        print(f"Loading preprocessed few-shot data from {path}")
        try:
            data = load_datum_pickle(path)
        except Exception as e:
            raise ValueError(f'Few-shot cache "{path}" cannot be read ({e}); delete it to resample.') from None
        return data["train"], data.get("val", val)
    train = generate_fewshot_dataset(train, num_shots=num_shots)
    data = {"train": train}
    if val is not None:
        val = generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
        data["val"] = val
    print(f"Saving preprocessed few-shot data to {path}")
    buf = io.BytesIO()
    pickle.dump(data, buf, protocol=pickle.HIGHEST_PROTOCOL)
    atomic_write_bytes(path, buf.getvalue())
    return train, val


# ----------------------------------------------------------------------------- base / new classes
def subsample_classes(*args: Optional[Sequence[Datum]], subsample: str = "all"):
    """Keep the first ceil(n/2) labels of ``args[0]`` ("base") or the rest ("new"), relabelled 0..k-1.

    A None list is passed through. Returns a list with one entry per argument.
    """
    if subsample not in ("all", "base", "new"):
        raise ValueError(f'DATASET.SUBSAMPLE_CLASSES must be "all", "base" or "new", got "{subsample}"')
    if subsample == "all":
        return list(args)
    labels = sorted({item.label for item in args[0]})
    m = math.ceil(len(labels) / 2)
    print(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    selected = labels[:m] if subsample == "base" else labels[m:]
    relabeler = {y: y_new for y_new, y in enumerate(selected)}
    output = []
    for dataset in args:
        if dataset is None:
            output.append(None)
            continue
        output.append([
            Datum(impath=item.impath, label=relabeler[item.label], domain=item.domain,
                  classname=item.classname, check_exists=False)
            for item in dataset if item.label in relabeler
        ])
    return output


def apply_fewshot_and_subsample(cfg, dataset_dir: str, train, val, test):
    """The tail every benchmark reader shares: few-shot cache (train/val), then base/new subsampling."""
    os.makedirs(os.path.join(dataset_dir, "split_fewshot"), exist_ok=True)
    train, val = load_or_create_fewshot(dataset_dir, cfg.DATASET.NUM_SHOTS, cfg.SEED, train, val)
    return subsample_classes(train, val, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
