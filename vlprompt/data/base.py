"""Samples (``Datum``), the dataset container (``DatasetBase``) and the dataset registry."""
from __future__ import annotations

import os
import warnings
from typing import Dict, Iterable, List, Optional, Sequence

from vlprompt.plugins import discover
from vlprompt.utils.registry import Registry

DATASET_REGISTRY = Registry("DATASET", discover=lambda: discover("datasets"))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder, file or image is missing; the message says what was expected where."""


def data_warning(message: str) -> None:
    """A data problem that does not stop the run: printed to stdout (so it lands in the run's log.txt)
    and raised as a ``UserWarning`` (so callers and tests can catch it)."""
    print(f"Warning: {message}")
    warnings.warn(message, UserWarning, stacklevel=2)


class Datum:
    """One sample: absolute image path, label, domain (always 0 here) and class name.

    Attribute names (``_impath``, ``_label``, ``_domain``, ``_classname``) match Dassl's Datum so
    that few-shot cache pickles written by the original code load into this class (see
    :func:`vlprompt.data.splits.load_datum_pickle`) and vice versa in state.
    """

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = "",
                 check_exists: bool = True):
        if not isinstance(impath, str):
            raise TypeError(f"impath must be a string, got {type(impath).__name__}")
        if check_exists and not os.path.isfile(impath):
            raise DatasetNotFoundError(
                f'No file found at "{impath}". The dataset folder or its split file does not match '
                "the images on disk; check DATASET.ROOT and that the dataset was unpacked completely."
            )
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    impath = property(lambda self: self._impath)
    label = property(lambda self: self._label)
    domain = property(lambda self: self._domain)
    classname = property(lambda self: self._classname)

    def __repr__(self) -> str:
        return f"Datum(impath={self._impath!r}, label={self._label}, classname={self._classname!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Datum) and (
            (self._impath, self._label, self._domain, self._classname)
            == (other._impath, other._label, other._domain, other._classname)
        )

    def __hash__(self) -> int:
        return hash((self._impath, self._label, self._domain, self._classname))


class DatasetBase:
    """Holds the train_x / val / test lists; class names come from ``train_x`` as in Dassl.

    The reader contract: a reader registers itself (``@DATASET_REGISTRY.register()``), takes the
    config in ``__init__`` and calls ``super().__init__(train_x=..., val=..., test=...)``. What the
    layout check, ``scripts/datasets/prepare.py``, the split helpers and the trainers read from it are
    these class attributes:

    - ``dataset_dir``: its folder under ``DATASET.ROOT`` (e.g. ``"caltech-101"``);
    - ``required``: entries (files, or folders ending in "/") that must exist under that folder;
    - ``source``: where the data is obtained (printed when something is missing);
    - ``downloads``: :class:`vlprompt.data.splits.Download` entries ``prepare.py`` may fetch;
    - ``split_file`` / ``split_inputs`` (split-file readers): the ``split_zhou_<Name>.json`` file, and the
      entries it is generated from (needed only while it is absent);
    - ``template``: the hand-written prompt of the dataset (``"{}"`` = the class name), used by zero-shot
      CLIP, CLIP-Adapter and every method with a hand-crafted prompt; default ``"a photo of a {}."``.

    A reader may also declare config keys with a classmethod ``extend_cfg(cfg)`` (see
    :mod:`vlprompt.config.plugins`). Adding a reader in this repository also needs its dataset YAML
    (``configs/datasets/<stem>.yaml``) and a miniature maker (``vlprompt/testing/datasets.py``); the
    test suite names whichever is missing.

    ``fewshot_report`` (None unless ``DATASET.NUM_SHOTS`` >= 1 was applied) summarises how many
    training images each class got; see :func:`vlprompt.data.splits.fewshot_report`.
    """

    dataset_dir = ""
    required: Sequence[str] = ()
    source = ""
    downloads: Sequence = ()
    template = "a photo of a {}."
    domains: list = []

    def __init__(self, train_x: Sequence[Datum] = None, train_u=None, val: Optional[Sequence[Datum]] = None,
                 test: Sequence[Datum] = None, fewshot_report: Optional[dict] = None):
        self._train_u = train_u
        self._set_lists(train_x, val, test)
        self.fewshot_report = fewshot_report

    def _set_lists(self, train_x, val, test) -> None:
        self._train_x = train_x
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    def drop_images(self, impaths: Iterable[str]) -> Dict[str, List[str]]:
        """Remove the samples whose image is in ``impaths`` from train_x, val and test (lists that are
        the same object, e.g. ImageNet's val and test, stay shared); class counts and names are then
        recomputed from train_x. Returns {"train_x"|"val"|"test": removed image paths}."""
        impaths = set(impaths)
        removed: Dict[str, List[str]] = {}
        kept_by_id: Dict[int, list] = {}

        def _filter(name, items):
            if items is None:
                return None
            removed[name] = [d.impath for d in items if d.impath in impaths]
            if id(items) not in kept_by_id:
                kept_by_id[id(items)] = [d for d in items if d.impath not in impaths]
            return kept_by_id[id(items)]

        train_x, val, test = _filter("train_x", self._train_x), _filter("val", self._val), _filter("test", self._test)
        self._set_lists(train_x, val, test)
        return removed

    train_x = property(lambda self: self._train_x)
    train_u = property(lambda self: self._train_u)
    val = property(lambda self: self._val)
    test = property(lambda self: self._test)
    lab2cname = property(lambda self: self._lab2cname)
    classnames = property(lambda self: self._classnames)
    num_classes = property(lambda self: self._num_classes)

    @staticmethod
    def get_num_classes(data_source: Iterable[Datum]) -> int:
        """max label + 1 (not the length of a class list), as the reference."""
        labels = {item.label for item in data_source}
        return max(labels) + 1 if labels else 0

    @staticmethod
    def get_lab2cname(data_source: Iterable[Datum]):
        mapping = {item.label: item.classname for item in data_source}
        labels = sorted(mapping)
        return mapping, [mapping[label] for label in labels]


def check_dataset_layout(dataset_dir: str, required: Sequence[str], name: str, source: str) -> None:
    """Fail early, naming the expected layout, if ``dataset_dir`` or a required entry is missing.

    ``required`` are paths relative to ``dataset_dir`` (files or folders). ``source`` says where the
    dataset is obtained.
    """
    missing = []
    if not os.path.isdir(dataset_dir):
        missing.append(dataset_dir)
    else:
        missing = [os.path.join(dataset_dir, r) for r in required if not os.path.exists(os.path.join(dataset_dir, r))]
    if missing:
        layout = "\n".join(f"  {os.path.basename(os.path.normpath(dataset_dir))}/{r}" for r in required)
        raise DatasetNotFoundError(
            f"{name}: missing {', '.join(repr(m) for m in missing)}.\n"
            f"Expected layout under DATASET.ROOT ({os.path.dirname(os.path.normpath(dataset_dir))}):\n{layout}\n"
            f"Obtain the dataset from: {source}\n"
            f"Check it with: python scripts/datasets/prepare.py <dataset> --root <DATA>"
        )


def build_dataset(cfg):
    """Instantiate the reader registered under ``cfg.DATASET.NAME``."""
    if not cfg.DATASET.NAME:
        raise ValueError(
            "DATASET.NAME is empty: pass --dataset-config-file configs/datasets/<name>.yaml "
            f"(registered datasets: {DATASET_REGISTRY.registered_names()})"
        )
    return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)
