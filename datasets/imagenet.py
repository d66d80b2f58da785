"""ImageNet-1k (``imagenet/images/{train,val}/<wnid>/``, ``classnames.txt``, cache ``preprocessed.pkl``)."""
import os
from typing import Dict, List, Sequence

from vlprompt.data import DATASET_REGISTRY, DatasetBase, Datum
from vlprompt.data.base import data_warning
from vlprompt.data.caches import UnsafePickleError, lines_digest, load_datum_pickle, write_datum_pickle
from vlprompt.data.splits import (
    Download,
    apply_fewshot_and_subsample,
    checked_dataset_dir,
    gdrive,
    list_class_files,
    read_class_folders,
    read_classnames,
    read_wnid_folders,
    scan_class_folders,
)

# CoOp's classnames.txt (CLIP's curated names); the four ImageNet variants use a copy of it too.
CLASSNAMES_DOWNLOAD = Download(gdrive("1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"), "classnames.txt")
VAL_HINT = ("ImageNet's validation images are distributed as one flat folder: sort them into the wnid folders "
            "of their labels first (e.g. with valprep.sh from the PyTorch ImageNet example).")
SPLIT_DIRS = {"train": "train", "test": "val"}  # cache key -> folder under images/


@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    """Train = ``images/train``; test = ``images/val``, which also serves as val (as the reference, so
    select the last-step model, not ``best_val``). Few-shot sampling applies to train only.

    The wnid folders of ``train`` and ``val`` must be exactly the wnids of ``classnames.txt`` (labels are
    positions in sorted order, so a missing folder would shift every later label), with no loose images
    beside them (see :func:`vlprompt.data.splits.scan_class_folders`). Images within a class folder are
    listed sorted (the reference: file-system order, which made few-shot subsets machine-dependent).

    ``preprocessed.pkl`` records what it was built from (``"source"``: the image folder, a digest of
    classnames.txt and, per split, the number of folders and files and a digest of their names) and is
    rebuilt with a warning when that no longer matches the disk. A cache without that record (written by
    the original code) is used only if it holds exactly the files on disk with the labels and names
    classnames.txt gives them; it then keeps its own order.
    """

    dataset_dir = "imagenet"
    required = ["images/train/", "images/val/", "classnames.txt"]
    source = ("https://image-net.org (ILSVRC2012 train/val, val sorted into wnid folders) + classnames.txt "
              "from the CoOp DATASETS.md")
    downloads = (CLASSNAMES_DOWNLOAD,)

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.preprocessed = os.path.join(self.dataset_dir, "preprocessed.pkl")
        self.classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        names = read_classnames(self.classnames_file)

        listing = {key: self.list_split(split_dir, names) for key, split_dir in SPLIT_DIRS.items()}
        provenance = self.provenance(names, listing)
        cached = self.load_preprocessed(provenance, names, listing)
        if cached is not None:
            train, test = cached
        else:
            train, test = (self.read_data(SPLIT_DIRS[key], names, *listing[key]) for key in ("train", "test"))
            print(f"Writing {self.preprocessed} ({len(train):,} train + {len(test):,} test samples)")
            # Atomic, so an interrupted first run never leaves a truncated cache that later runs trust.
            write_datum_pickle(self.preprocessed, {"train": train, "test": test, "source": provenance})

        # val None: the few-shot cache holds only "train" and subsampling skips val; val is then test.
        train, _, test, report = apply_fewshot_and_subsample(cfg, self.dataset_dir, train, None, test)
        super().__init__(train_x=train, val=test, test=test, fewshot_report=report)

    def list_split(self, split_dir: str, names: Dict[str, str]):
        """(sorted wnid folders, their sorted file names) of ``images/<split_dir>``, after the folder checks."""
        image_dir = os.path.join(self.image_dir, split_dir)
        folders = scan_class_folders(image_dir, names, f'"{self.classnames_file}"', require_all=True,
                                     loose_image_hint=VAL_HINT if split_dir == "val" else "")
        return folders, list_class_files(image_dir, folders)

    def read_data(self, split_dir: str, names: Dict[str, str], folders: Sequence[str],
                  files: Sequence[Sequence[str]]) -> List[Datum]:
        return read_class_folders(os.path.join(self.image_dir, split_dir), folders, [names[f] for f in folders], files)

    def provenance(self, names: Dict[str, str], listing) -> dict:
        out = {"image_dir": self.image_dir, "classnames_sha256": lines_digest(f"{w} {n}" for w, n in names.items())}
        for key, (folders, files) in listing.items():
            out[f"images/{SPLIT_DIRS[key]}"] = {"folders": len(folders), "files": sum(len(f) for f in files),
                        "names_sha256": lines_digest(f"{w}/{name}" for w, fnames in zip(folders, files) for name in fnames)}
        return out

    def load_preprocessed(self, provenance: dict, names: Dict[str, str], listing):
        """(train, test) from ``preprocessed.pkl`` when it matches the disk, else None (with a warning)."""
        if not os.path.exists(self.preprocessed):
            return None
        try:
            data = load_datum_pickle(self.preprocessed)
            train, test = data["train"], data["test"]
        except UnsafePickleError:
            raise
        except Exception as e:
            raise ValueError(f'ImageNet cache "{self.preprocessed}" cannot be read ({e}); delete it to rebuild it.') from None
        stored = data.get("source")
        if stored is not None:
            if stored == provenance:
                return train, test
            changed = [k for k in provenance if stored.get(k) != provenance[k]] if isinstance(stored, dict) else ["all"]
            problem = f"was built from other image folders or another classnames.txt (changed: {', '.join(changed)})"
        else:
            problem = self.legacy_problem({"train": train, "test": test}, names, listing)
            if problem is None:
                return train, test
        data_warning(f'ImageNet cache "{self.preprocessed}" {problem}; rebuilding it from the folders on disk.')
        return None

    def legacy_problem(self, cached: dict, names: Dict[str, str], listing):
        """Why a cache without provenance does not describe the folders on disk (None if it does)."""
        for key, (folders, files) in listing.items():
            split_dir = os.path.join(self.image_dir, SPLIT_DIRS[key])
            expected = {(os.path.join(split_dir, w, name), label, names[w])
                        for label, (w, fnames) in enumerate(zip(folders, files)) for name in fnames}
            items = cached[key]
            found = {(d.impath, d.label, d.classname) for d in items}
            if len(items) != len(expected) or found != expected:
                return (f'records no provenance and its "{key}" list ({len(items):,} samples) differs from the '
                        f"{len(expected):,} images of {split_dir} with the labels and names of classnames.txt")
        return None


class WnidFolderTestSet(DatasetBase):
    """Base of the test-only variants laid out as ``<image_folder>/<wnid>/`` + ``classnames.txt``
    (ImageNet-Sketch, -A, -R): label = index among the wnid folders present (non-hidden, sorted, minus
    ``ignored``), class name looked up by wnid. These hold a subset of the classes by design, so missing
    wnids are fine, but every folder must be a wnid of classnames.txt and no image may sit beside the
    folders (:func:`vlprompt.data.splits.read_wnid_folders`). Ignores NUM_SHOTS and SUBSAMPLE_CLASSES (no
    ``split_fewshot/``); train_x = test = all images (the data manager still builds a train loader),
    val None. Images within a folder are listed sorted (the reference: file-system order)."""

    image_folder = ""
    ignored: tuple = ()  # documentation files beside the wnid folders (no warning)

    def __init__(self, cfg):
        self.dataset_dir = checked_dataset_dir(cfg, self)
        self.image_dir = os.path.join(self.dataset_dir, self.image_folder)
        data = read_wnid_folders(self.image_dir, os.path.join(self.dataset_dir, "classnames.txt"), ignored=self.ignored)
        super().__init__(train_x=data, test=data)
