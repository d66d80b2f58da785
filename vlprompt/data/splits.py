"""Split files, split generation, few-shot sampling and base/new subsampling shared by all readers.

Everything here reproduces the reference readers (CoOp on Dassl), including the use of the global
Python ``random`` state for few-shot sampling, round-half-to-even and first-appearance label order, so
that splits and few-shot subsets line up with the original code and its released split files.
Deliberate deviations (each documented where it happens): a missing split file is generated from its
own seed ``DATASET.SPLIT_SEED`` (:func:`load_or_generate_split`); folders are listed sorted; caches
record what they were drawn from and are rebuilt when that changed (:func:`load_or_create_fewshot`);
class folders are checked against their class list (:func:`scan_class_folders`); classes with fewer
training images than requested are reported (:func:`fewshot_report`).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
from collections import Counter, OrderedDict, defaultdict
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from tqdm import tqdm

from vlprompt.utils.tools import atomic_write_text

from .base import Datum, DatasetNotFoundError, check_dataset_layout, data_warning
from .caches import UnsafePickleError, load_datum_pickle, samples_digest, write_datum_pickle

# File name endings of images (compared lower-cased): such files are samples, never stray files.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")


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


def preview(names: Sequence[str], n: int = 5) -> str:
    """The first ``n`` names, then how many there are in all (for error messages)."""
    shown = ", ".join(str(x) for x in names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def scan_class_folders(image_dir: str, known: Iterable[str], known_from: str, require_all: bool,
                       ignored: Iterable[str] = (), loose_image_hint: str = "") -> List[str]:
    """The class folders of ``image_dir`` (non-hidden sub-directories, sorted), checked against the
    folder names ``known`` that ``known_from`` defines (a quoted file name, for messages).

    - A folder not in ``known`` is an error (it would get a label but no class name).
    - With ``require_all``, a name of ``known`` without its folder is an error: labels are positions in
      the sorted folder list, so a gap would shift the label of every later class (and the shifted
      mapping would be cached).
    - Image files beside the folders are an error (samples must sit in their class folder);
      ``loose_image_hint`` says how to sort them. Other files not in ``ignored`` get a warning.
    """
    known = list(known)
    known_set, ignored = set(known), set(ignored)
    folders, loose_images, stray = [], [], []
    for entry in sorted(listdir_nohidden(image_dir)):
        if entry in ignored:
            continue
        if os.path.isdir(os.path.join(image_dir, entry)):
            folders.append(entry)
        elif entry.lower().endswith(IMAGE_EXTENSIONS):
            loose_images.append(entry)
        else:
            stray.append(entry)
    if loose_images:
        raise ValueError(
            f'"{image_dir}" holds {len(loose_images)} image file(s) next to its class folders '
            f"({preview(loose_images)}). Every image must sit in its class folder "
            f'("{image_dir}/<class>/<image>"). {loose_image_hint}'.rstrip()
        )
    unknown = [f for f in folders if f not in known_set]
    if unknown:
        raise ValueError(
            f'"{image_dir}" has {len(unknown)} folder(s) that {known_from} does not list: {preview(unknown)}. '
            f"Remove or move them, or add their entries to {known_from}."
        )
    if require_all:
        present = set(folders)
        missing = [k for k in known if k not in present]
        if missing:
            raise DatasetNotFoundError(
                f'{len(missing)} class folder(s) listed in {known_from} are missing from "{image_dir}": '
                f"{preview(missing)}. Labels are the positions of the folders in sorted order, so a missing "
                "folder would give every later class the wrong label. Restore the missing folders (unpack the "
                f"dataset completely), or list only the classes you have in {known_from}."
            )
    if stray:
        data_warning(f'ignoring {len(stray)} non-image file(s) next to the class folders of "{image_dir}": '
                     f"{preview(stray)}")
    return folders


def list_class_files(image_dir: str, folders: Sequence[str]) -> List[List[str]]:
    """Per folder of ``image_dir``, its non-hidden file names, sorted (the reference used file-system
    order, which differs between machines)."""
    listing = []
    # A progress bar for ImageNet-sized trees (1000 folders); none for small ones.
    for label, folder in enumerate(tqdm(folders, desc="listing class folders", disable=None if len(folders) > 100 else True)):
        folder_dir = os.path.join(image_dir, folder)
        if not os.path.isdir(folder_dir):
            raise DatasetNotFoundError(f'Class folder "{folder_dir}" (label {label}) is missing')
        listing.append(listdir_nohidden(folder_dir, sort=True))
    return listing


def read_class_folders(image_dir: str, folders: Sequence[str], classnames: Sequence[str],
                       files: Optional[Sequence[Sequence[str]]] = None) -> List[Datum]:
    """Label i = every non-hidden file of ``image_dir/folders[i]`` (or ``files[i]`` when already
    listed by :func:`list_class_files`), named ``classnames[i]``; files in sorted order."""
    if files is None:
        files = list_class_files(image_dir, folders)
    items = []
    for label, (folder, classname, names) in enumerate(zip(folders, classnames, files)):
        folder_dir = os.path.join(image_dir, folder)
        items.extend(Datum(impath=os.path.join(folder_dir, im), label=label, classname=classname) for im in names)
    if not items:  # the data manager cannot build loaders over an empty list
        raise DatasetNotFoundError(f'No images found under "{image_dir}"')
    return items


def read_wnid_folders(image_dir: str, classnames_file: str, ignored: Iterable[str] = ()) -> List[Datum]:
    """ImageNet-style ``<wnid>/`` folders of a test set that holds a subset of the classes by design
    (ImageNet-Sketch, -A, -R): label = index among the wnid folders present (sorted), class name looked
    up by wnid in ``classnames_file``. Every folder must be a wnid of ``classnames_file`` and no image
    may sit beside the folders (:func:`scan_class_folders`)."""
    names = read_classnames(classnames_file)
    folders = scan_class_folders(image_dir, names, f'"{classnames_file}"', require_all=False, ignored=ignored)
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


@contextlib.contextmanager
def forked_random(seed: int) -> Iterator[None]:
    """Run the body with Python's global ``random`` seeded with ``seed``, then restore the caller's state
    (so the body neither depends on nor changes the random numbers the rest of the run draws)."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def load_or_generate_split(split_path: str, path_prefix: str, generate: Callable[[], tuple], split_seed: int):
    """Read ``split_path`` if present (the released split file is the source of truth, read as is);
    otherwise call ``generate()`` and save its (train, val, test).

    Generation runs inside :func:`forked_random` seeded with ``split_seed`` (``DATASET.SPLIT_SEED``,
    default 1). The reference drew the split from the run's global state, so the file depended on the
    SEED of whichever run happened to create it; with ``split_seed`` 1 we write what the reference's
    first run with SEED 1 writes (that seed is set at program start and nothing draws before). Since
    the caller's state is restored afterwards, the few-shot subset of the run that generates the split
    no longer depends on whether the split file existed (in the reference it did: generation consumed
    random numbers before few-shot sampling).
    """
    if os.path.exists(split_path):
        return read_split(split_path, path_prefix)
    with forked_random(split_seed):
        train, val, test = generate()
    save_split(train, val, test, split_path, path_prefix)
    print(f"Split file GENERATED (not the released one): a new random split drawn with DATASET.SPLIT_SEED "
          f"{split_seed} was written to {split_path}. For numbers comparable with the papers and other "
          f"users, use the released {os.path.basename(split_path)} instead (see the dataset's source).")
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


def fewshot_cache_path(dataset_dir: str, num_shots: int, seed: int) -> str:
    return os.path.join(dataset_dir, "split_fewshot", f"shot_{num_shots}-seed_{int(seed)}.pkl")


def _records(items: Optional[Sequence[Datum]]) -> set:
    return {(d.impath, d.label, d.classname) for d in items or ()}


def _fewshot_cache_problem(data, source: dict, train: Sequence[Datum], val: Optional[Sequence[Datum]]) -> Optional[str]:
    """Why a loaded few-shot cache cannot be used for the current split (None when it can)."""
    if not isinstance(data, dict) or not isinstance(data.get("train"), list):
        return 'is not a few-shot cache (no "train" list)'
    if val is not None and not isinstance(data.get("val"), list):
        return 'has no "val" list'
    stored = data.get("source")
    if stored is not None:
        if not isinstance(stored, dict) or stored.get("split_sha256") != source["split_sha256"]:
            return ("was drawn from another version of the split (the split file or the image lists changed "
                    "since it was written; using it could mix test images into training)")
        if (stored.get("num_shots"), stored.get("seed")) != (source["num_shots"], source["seed"]):
            return (f"was written for {stored.get('num_shots')} shots and seed {stored.get('seed')}, not "
                    f"{source['num_shots']} shots and seed {source['seed']}")
        return None
    # Legacy cache (the original code or an older vlprompt): usable only if it is a subset of the split.
    for name, items, current in (("train", data["train"], train), ("val", data.get("val"), val)):
        if current is None:
            continue
        outside = _records(items) - _records(current)
        if outside:
            example = sorted(outside)[0][0]
            return (f'records no provenance and {len(outside)} of its "{name}" samples are not in the current '
                    f'{name} list (e.g. "{example}"), so it was drawn from another split or data folder')
    return None


def load_or_create_fewshot(dataset_dir: str, num_shots: int, seed: int, train: Sequence[Datum],
                           val: Optional[Sequence[Datum]] = None):
    """The reference's per-seed few-shot cache ``split_fewshot/shot_{K}-seed_{S}.pkl``.

    Train gets K per class, val min(K, 4) per class (drawn after train from the same RNG state).
    Returns ``(train, val)``; ``val`` stays None when not given (ImageNet, whose cache holds only "train").

    The cache stores its provenance under ``"source"``: the SHA-256 of the (path, label, class name)
    lists it was drawn from (:func:`vlprompt.data.caches.samples_digest`), K and the seed. The reference
    reused any file of that name, so a cache drawn from a replaced split file silently leaked other
    samples (possibly test images) into training. Now a cache whose provenance does not match is
    sampled again with a warning and overwritten (atomically); a cache without provenance (written by
    the original code) is used only if every sample it holds is in the current train/val lists.
    Caches are loaded with a restricted unpickler and written in the original code's format
    (:mod:`vlprompt.data.caches`).
    """
    if num_shots < 1:
        return train, val
    path = fewshot_cache_path(dataset_dir, num_shots, seed)
    source = {"split_sha256": samples_digest(train, val), "num_shots": int(num_shots), "seed": int(seed)}
    if os.path.exists(path):
        try:
            data = load_datum_pickle(path)
        except UnsafePickleError:  # names the file and the refused global
            raise
        except Exception as e:
            raise ValueError(f'Few-shot cache "{path}" cannot be read ({e}); delete it to resample.') from None
        problem = _fewshot_cache_problem(data, source, train, val)
        if problem is None:
            legacy = "" if "source" in data else " (no provenance recorded; all its samples are in the current split)"
            print(f"Loading preprocessed few-shot data from {path}{legacy}")
            return data["train"], (data["val"] if val is not None else None)
        data_warning(f'Few-shot cache "{path}" {problem}; sampling it again and overwriting it.')
    train = generate_fewshot_dataset(train, num_shots=num_shots)
    data = {"train": train}
    if val is not None:
        val = generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
        data["val"] = val
    data["source"] = source
    print(f"Saving preprocessed few-shot data to {path}")
    write_datum_pickle(path, data)
    return train, val


SHORT_CLASSES_LISTED = 20  # fewshot_report lists at most this many short classes (the smallest first)


def fewshot_report(num_shots: int, min_shots: int, train: Sequence[Datum],
                   *others: Optional[Sequence[Datum]]) -> dict:
    """How many training images each class has after few-shot sampling, and the checks on it.

    Classes are the labels of ``train`` and ``others`` (val/test), so a class missing from train counts
    as 0. Classes with fewer than ``num_shots`` images (the reference keeps all of a short class's
    images without a word) are reported with a warning; fewer than ``min_shots`` is an error naming
    them. Returns (JSON-ready, for results.json)::

        {"requested": K, "min_shots": MIN_SHOTS, "num_classes": n, "min_per_class": m, "max_per_class": M,
         "num_short_classes": s, "short_classes": {class name: count, ...}}   # at most 20, smallest first

    A class name that occurs twice (ImageNet's two "sunglasses") is listed as "name (label y)".
    """
    counts = Counter(d.label for d in train)
    names: Dict[int, str] = {}
    for items in (train,) + others:
        for d in items or ():
            names.setdefault(d.label, d.classname)
    per_class = sorted((counts.get(y, 0), y) for y in names)  # (count, label), smallest first
    duplicated = {n for n, c in Counter(names.values()).items() if c > 1}

    def _name(y):
        return f"{names[y]} (label {y})" if names[y] in duplicated else names[y]

    short = [(n, y) for n, y in per_class if n < num_shots]
    report = {
        "requested": int(num_shots), "min_shots": int(min_shots), "num_classes": len(per_class),
        "min_per_class": per_class[0][0] if per_class else 0, "max_per_class": per_class[-1][0] if per_class else 0,
        "num_short_classes": len(short),
        "short_classes": {_name(y): n for n, y in short[:SHORT_CLASSES_LISTED]},
    }
    too_few = [(n, y) for n, y in per_class if n < min_shots]
    if too_few:
        listed = ", ".join(f"'{_name(y)}' ({n})" for n, y in too_few[:SHORT_CLASSES_LISTED])
        more = f", ... ({len(too_few)} in all)" if len(too_few) > SHORT_CLASSES_LISTED else ""
        raise ValueError(
            f"{len(too_few)} class(es) have fewer than DATASET.MIN_SHOTS = {min_shots} training image(s) after "
            f"{num_shots}-shot sampling: {listed}{more}. Add images to these classes (or fix the split file), "
            "or lower DATASET.MIN_SHOTS."
        )
    if short:
        listed = ", ".join(f"'{_name(y)}' ({n})" for n, y in short[:10])
        data_warning(
            f"{len(short)} of {len(per_class)} classes have fewer than the {num_shots} training images requested "
            f"(DATASET.NUM_SHOTS); they train on all the images they have. Smallest: {listed}"
            + (", ..." if len(short) > 10 else "")
        )
    return report


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
    """The tail every benchmark reader shares: few-shot cache (train/val), then base/new subsampling,
    then, when ``DATASET.NUM_SHOTS`` >= 1, the per-class check of :func:`fewshot_report` on the classes
    of the run. Returns ``(train, val, test, report)``; ``report`` is None without few-shot sampling
    (readers pass it to ``DatasetBase(fewshot_report=...)``)."""
    num_shots, min_shots = cfg.DATASET.NUM_SHOTS, cfg.DATASET.MIN_SHOTS
    if num_shots >= 1 and not 0 <= min_shots <= num_shots:
        raise ValueError(f"DATASET.MIN_SHOTS must be between 0 and DATASET.NUM_SHOTS ({num_shots}), got {min_shots}")
    os.makedirs(os.path.join(dataset_dir, "split_fewshot"), exist_ok=True)
    train, val = load_or_create_fewshot(dataset_dir, num_shots, cfg.SEED, train, val)
    train, val, test = subsample_classes(train, val, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
    report = fewshot_report(num_shots, min_shots, train, val, test) if num_shots >= 1 else None
    return train, val, test, report
