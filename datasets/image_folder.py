"""Your own images, no code: a folder of class folders (``ImageFolder``) or a CSV/JSON list (``ImageList``).

``DATASET.ROOT`` is the dataset itself:

    ImageFolder   <ROOT>/<class>/<image>           class = folder name ("_" read as a space in prompts; a
                                                    leading "01_" / "001." numbering is dropped)
    ImageList     <ROOT>/<DATASET.CUSTOM.LIST>     CSV with a header "path,label[,split]" or JSON (a list
                                                    of {"path", "label"[, "split"]} objects or [path,
                                                    label(, split)] lists); paths relative to ROOT

Config (``DATASET.CUSTOM``, declared here): ``LIST`` (ImageList's file), ``CLASSNAMES`` (optional file:
one ``<folder or label> <class name>`` per line, to name classes), ``TEMPLATE`` (the hand-written
prompt, default "a photo of a {}."), ``SPLIT`` (train and val fractions of a generated split, default
(0.5, 0.2): test gets the rest, as the benchmark readers).

Without a split (no ``split`` column), one is generated per class with ``DATASET.SPLIT_SEED`` (not the
run's seed, so every run sees the same split) and saved next to the data (``split_ImageFolder.json``,
``split_<list stem>.json``); few-shot subsets (``split_fewshot/``) and base/new halves work as for every
reader. Before anything trains, the build reports what would silently spoil results: empty class
folders, files that are not images, the same image listed twice, identical files (e.g. one photo in
two classes or in both train and test); unreadable images are caught by the data manager's validation.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

from vlprompt.config import declare
from vlprompt.data import DATASET_REGISTRY, DatasetBase, DatasetNotFoundError, Datum
from vlprompt.data.splits import (
    IMAGE_EXTENSIONS,
    apply_fewshot_and_subsample,
    data_warning,
    listdir_nohidden,
    load_or_generate_split,
    preview,
    read_text_lines,
    split_shuffled_groups,
)

SPLITS = ("train", "val", "test")
OWN_FILES = ("split_fewshot",)  # what the readers write next to the data; never a class


def clean_classname(folder: str) -> str:
    """A folder name as a class name: a leading numbering ("01_", "001.", "3-") is dropped."""
    name = re.sub(r"^\d+[._-]", "", folder)
    return name or folder


def read_name_file(path: str) -> Dict[str, str]:
    """``<key> <class name with spaces>`` per line -> {key: name} (as ImageNet's classnames.txt)."""
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f'DATASET.CUSTOM.CLASSNAMES "{path}" does not exist (one "<folder or label> <name>" '
                                   "per line)")
    names = {}
    for i, line in enumerate(read_text_lines(path), start=1):
        key, _, name = line.partition(" ")
        if not name.strip():
            raise ValueError(f'{path}, line {i}: expected "<folder or label> <class name>", got "{line}"')
        names[key] = name.strip()
    return names


def duplicate_contents(paths: Sequence[str]) -> List[List[str]]:
    """Groups of files with identical bytes. Only files sharing a size are read (cheap for photos)."""
    by_size = defaultdict(list)
    for p in paths:
        by_size[os.path.getsize(p)].append(p)
    groups = []
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        by_hash = defaultdict(list)
        for p in same_size:
            with open(p, "rb") as f:
                by_hash[hashlib.sha1(f.read()).hexdigest()].append(p)
        groups += [g for g in by_hash.values() if len(g) > 1]
    return groups


class UserDataset(DatasetBase):
    """What ImageFolder and ImageList share: the config keys, the split, the checks."""

    dataset_dir = ""  # DATASET.ROOT is the dataset
    root_is_dataset = True
    required = ("<class>/<image> (ImageFolder) or the file DATASET.CUSTOM.LIST (ImageList)",)
    source = "your own images (README: Train on your own images)"

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        declare(cfg, "DATASET.CUSTOM", LIST="", CLASSNAMES="", TEMPLATE="a photo of a {}.", SPLIT=(0.5, 0.2))

    def __init__(self, cfg):
        c = cfg.DATASET.CUSTOM
        if c.TEMPLATE.count("{}") != 1:
            raise ValueError(f'DATASET.CUSTOM.TEMPLATE needs one "{{}}" where the class name goes, got "{c.TEMPLATE}"')
        if len(c.SPLIT) != 2 or not (0 < c.SPLIT[0] and 0 < c.SPLIT[1] and c.SPLIT[0] + c.SPLIT[1] < 1):
            raise ValueError(f"DATASET.CUSTOM.SPLIT must be (train, val) fractions with train + val < 1, got {c.SPLIT}")
        self.template = c.TEMPLATE
        self.root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        if not cfg.DATASET.ROOT or not os.path.isdir(self.root):
            raise DatasetNotFoundError(
                f'{type(self).__name__}: DATASET.ROOT "{cfg.DATASET.ROOT}" is not a folder. Point it (--root, or DATA '
                f"in the scripts) at your dataset: {self.layout}"
            )
        self.names = read_name_file(os.path.expanduser(c.CLASSNAMES)) if c.CLASSNAMES else {}
        train, val, test = self.read(cfg)
        self.check_duplicates(train + val + test)
        train, val, test, report = apply_fewshot_and_subsample(cfg, self.root, train, val, test)
        super().__init__(train_x=train, val=val, test=test, fewshot_report=report)

    layout = ""

    def read(self, cfg) -> Tuple[List[Datum], List[Datum], List[Datum]]:
        raise NotImplementedError

    def split_groups(self, classes: Sequence[Tuple[str, List[str]]], split: Sequence[float]):
        """(class name, image paths) per class -> a generated split (per class, DATASET.SPLIT_SEED)."""
        groups = ((label, name, list(paths), f'Class "{name}"') for label, (name, paths) in enumerate(classes))
        return split_shuffled_groups(groups, *split)

    def check_duplicates(self, items: Sequence[Datum]) -> None:
        paths = [d.impath for d in items]
        seen, twice = set(), []
        for p in paths:
            if p in seen:
                twice.append(p)
            seen.add(p)
        if twice:
            raise ValueError(f"{type(self).__name__}: {len(twice)} image(s) are listed more than once: {preview(twice)}. "
                             "Each image must have one label and one split.")
        label = {d.impath: (d.classname, self.split_of.get(d.impath, "")) for d in items}
        groups = duplicate_contents(paths)
        if groups:
            shown = "; ".join(" = ".join(f"{os.path.relpath(p, self.root)} ({'/'.join(filter(None, label[p]))})"
                                         for p in g) for g in groups[:3])
            data_warning(f"{len(groups)} group(s) of identical image files in {self.root}: {shown}"
                         f"{' ...' if len(groups) > 3 else ''}. The same image in two classes, or in train and "
                         "test, makes the numbers meaningless; remove the copies.")

    @property
    def split_of(self) -> Dict[str, str]:
        return getattr(self, "_split_of", {})

    def _remember_splits(self, train, val, test) -> None:
        self._split_of = {d.impath: s for s, items in zip(SPLITS, (train, val, test)) for d in items}


@DATASET_REGISTRY.register()
class ImageFolder(UserDataset):
    """A folder of class folders (see the module docstring)."""

    layout = "<ROOT>/<class name>/<image>.jpg (one folder per class)"
    split_file = "split_ImageFolder.json"

    def read(self, cfg):
        folders = [f for f in listdir_nohidden(self.root, sort=True)
                   if os.path.isdir(os.path.join(self.root, f)) and f not in OWN_FILES]
        if not folders:
            raise DatasetNotFoundError(f'ImageFolder: "{self.root}" has no class folders. Expected {self.layout}')
        unnamed = [f for f in folders if self.names and f not in self.names]
        if unnamed:
            raise ValueError(f"ImageFolder: DATASET.CUSTOM.CLASSNAMES names no class for folder(s) {preview(unnamed)}")
        classnames = [self.names.get(f) or clean_classname(f) for f in folders]
        if len(set(classnames)) < len(classnames):
            clashes = sorted({f"{f} -> {n}" for f, n in zip(folders, classnames) if classnames.count(n) > 1})
            raise ValueError(f"ImageFolder: folders give the same class name ({preview(clashes)}); rename one "
                             "or name them with DATASET.CUSTOM.CLASSNAMES")
        split_path = os.path.join(self.root, self.split_file)

        def generate():
            classes, empty, skipped = [], [], []
            for folder, name in zip(folders, classnames):
                files = listdir_nohidden(os.path.join(self.root, folder), sort=True)
                images = [os.path.join(self.root, folder, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
                skipped += [os.path.join(folder, f) for f in files if not f.lower().endswith(IMAGE_EXTENSIONS)]
                if not images:
                    empty.append(folder)
                classes.append((name, images))
            if empty:
                raise ValueError(f'ImageFolder: {len(empty)} class folder(s) of "{self.root}" hold no images: '
                                 f"{preview(empty)}. Remove them or add images ({', '.join(IMAGE_EXTENSIONS)}).")
            if skipped:
                data_warning(f"ImageFolder: ignoring {len(skipped)} file(s) that are not images: {preview(skipped)}")
            return self.split_groups(classes, cfg.DATASET.CUSTOM.SPLIT)

        train, val, test = load_or_generate_split(split_path, self.root, generate, cfg.DATASET.SPLIT_SEED)
        in_split = sorted({d.classname for d in train + val + test})
        if in_split != sorted(classnames):
            raise ValueError(
                f'ImageFolder: the split file "{split_path}" was made for other classes ({preview(in_split)}) than the '
                f"folders now hold ({preview(classnames)}). Delete it to split the current folders."
            )
        self._remember_splits(train, val, test)
        return train, val, test


@DATASET_REGISTRY.register()
class ImageList(UserDataset):
    """A CSV/JSON list of (path, label[, split]) rows (see the module docstring)."""

    layout = ('DATASET.CUSTOM.LIST = a CSV file with a header "path,label[,split]" (or a JSON list of '
              '{"path", "label", "split"} objects), paths relative to DATASET.ROOT')

    def read(self, cfg):
        list_file = cfg.DATASET.CUSTOM.LIST
        if not list_file:
            raise ValueError(f"ImageList needs DATASET.CUSTOM.LIST: {self.layout}")
        path = list_file if os.path.isabs(os.path.expanduser(list_file)) else os.path.join(self.root, list_file)
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise DatasetNotFoundError(f'ImageList: the list "{path}" does not exist. Expected {self.layout}')
        rows = self._rows(path)
        labels = sorted({r[1] for r in rows}, key=lambda x: (0, int(x), "") if x.isdigit() else (1, 0, x))
        unnamed = [y for y in labels if self.names and y not in self.names]
        if unnamed:
            raise ValueError(f"ImageList: DATASET.CUSTOM.CLASSNAMES names no class for label(s) {preview(unnamed)}")
        name_of = {y: self.names.get(y, y) for y in labels}
        index = {y: i for i, y in enumerate(labels)}
        missing = [r[0] for r in rows if not os.path.isfile(r[0])]
        if missing:
            raise DatasetNotFoundError(f'ImageList: {len(missing)} image(s) listed in "{path}" do not exist: '
                                       f"{preview(missing)} (paths are relative to DATASET.ROOT {self.root})")
        with_split = [r for r in rows if r[2]]
        if with_split and len(with_split) < len(rows):
            raise ValueError(f'ImageList: "{path}" gives a split for {len(with_split)} of {len(rows)} rows; give it for '
                             "every row, or for none (a split is then generated)")
        if with_split:
            parts = {s: [] for s in SPLITS}
            for impath, y, s in rows:
                parts[s].append(Datum(impath=impath, label=index[y], classname=name_of[y]))
            train, val, test = (parts[s] for s in SPLITS)
            if not train or not test:
                raise ValueError(f'ImageList: "{path}" has no {"train" if not train else "test"} rows')
        else:
            split_path = os.path.join(self.root, f"split_{os.path.splitext(os.path.basename(path))[0]}.json")
            by_label = defaultdict(list)
            for impath, y, _ in rows:
                by_label[y].append(impath)
            classes = [(name_of[y], sorted(by_label[y])) for y in labels]
            train, val, test = load_or_generate_split(
                split_path, self.root, lambda: self.split_groups(classes, cfg.DATASET.CUSTOM.SPLIT),
                cfg.DATASET.SPLIT_SEED)
            listed = {r[0] for r in rows}
            if {d.impath for d in train + val + test} != listed:
                raise ValueError(f'ImageList: the split file "{split_path}" does not match the rows of "{path}"; '
                                 "delete it to split the current list")
        self._remember_splits(train, val, test)
        return train, val, test

    def _rows(self, path: str) -> List[Tuple[str, str, str]]:
        """(absolute image path, label, split or "") per row."""
        if path.lower().endswith(".json"):
            with open(path) as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f'ImageList: "{path}" is not valid JSON ({e})') from None
            if not isinstance(data, list):
                raise ValueError(f'ImageList: "{path}" must hold a JSON list of rows. Expected {self.layout}')
            raw = []
            for i, row in enumerate(data):
                if isinstance(row, dict) and "path" in row and "label" in row:
                    raw.append((row["path"], row["label"], row.get("split", "")))
                elif isinstance(row, (list, tuple)) and len(row) in (2, 3):
                    raw.append((row[0], row[1], row[2] if len(row) == 3 else ""))
                else:
                    raise ValueError(f'ImageList: "{path}", row {i}: expected {{"path", "label"[, "split"]}} or '
                                     f"[path, label(, split)], got {row!r}")
        else:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                header = [h.strip().lower() for h in (reader.fieldnames or [])]
                if "path" not in header or "label" not in header:
                    raise ValueError(f'ImageList: "{path}" needs a header row with "path" and "label" columns '
                                     f'(and optionally "split"), got {reader.fieldnames}')
                rows = [{(k or "").strip().lower(): v for k, v in r.items()} for r in reader]
                raw = [(r.get("path", ""), r.get("label", ""), r.get("split") or "") for r in rows]
        rows = []
        for i, (p, y, s) in enumerate(raw, start=1):
            p, y, s = str(p).strip(), str(y).strip(), str(s).strip().lower()
            if not p or not y:
                raise ValueError(f'ImageList: "{path}", row {i}: empty path or label')
            if s and s not in SPLITS:
                raise ValueError(f'ImageList: "{path}", row {i}: split must be one of {SPLITS}, got "{s}"')
            rows.append((os.path.join(self.root, os.path.expanduser(p)), y, s))
        if not rows:
            raise ValueError(f'ImageList: "{path}" lists no images')
        return rows
