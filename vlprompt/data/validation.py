"""Whole-dataset validation, run by the DataManager right after the dataset is built (before any model),
and the image reader the loaders use.

Without it an unreadable test image is found only after all epochs of training. ``DATASET.VALIDATE``:

- ``"full"`` (default): every image of train_x, val and test exists and decodes (PIL, converted to RGB
  exactly as the loaders do), on a thread pool with a progress bar;
- ``"files"``: existence and non-zero size only (for very large sets);
- ``"off"``: no image checks.

The label checks (labels in ``0..num_classes-1``, every label present in train_x, one class name per
label across the splits) are cheap and always run.

Results are remembered: per sample list, a small stamp file named by a digest of the mode and the
(path, size, mtime) of its files is written under ``$VLPROMPT_VALIDATED_DIR`` (default
``~/.cache/vlprompt/validated``), so the seeds x shot counts of a sweep decode a test set once. A stamp
that cannot be written only costs a warning.

Unusable images are an error listing them, or with ``DATASET.SKIP_BAD_IMAGES True`` they are dropped
from the split lists with a warning (training and evaluation then never see them) and reported in
:func:`validate_dataset`'s return value (``DataManager.validation_report``).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from PIL import Image
from tqdm import tqdm

from vlprompt.utils.tools import atomic_write_text

from .base import DatasetBase, data_warning

VALIDATE_MODES = ("full", "files", "off")
SPLITS = ("train_x", "val", "test")
STAMP_DIR_ENV = "VLPROMPT_VALIDATED_DIR"
DEFAULT_STAMP_DIR = "~/.cache/vlprompt/validated"
ERRORS_LISTED = 10  # unusable files named in the error
SKIPPED_LISTED = 100  # skipped paths kept per split in the report (the counts are complete)
_CHUNK = 64  # files per thread-pool task (one future per file would not scale to ImageNet)


class DatasetValidationError(RuntimeError):
    """Images of the dataset are missing, empty or do not decode, or labels are inconsistent."""


def open_rgb(path: str) -> Image.Image:
    """Decode an image as the loaders use it (RGB); raises what PIL raises."""
    with Image.open(path) as img:
        return img.convert("RGB")


def read_image(path: str) -> Image.Image:
    """Open an image as RGB; failures name the file (never a bare PIL traceback)."""
    try:
        return open_rgb(path)
    except Exception as e:
        raise RuntimeError(
            f'Cannot read image "{path}": {type(e).__name__}: {e}. Replace or remove the file, '
            "or set DATASET.SKIP_BAD_IMAGES True to skip unreadable images with a warning."
        ) from None


def stamp_dir() -> str:
    return os.path.abspath(os.path.expanduser(os.environ.get(STAMP_DIR_ENV) or DEFAULT_STAMP_DIR))


# ----------------------------------------------------------------------------- per-file checks
def _stat(path: str):
    """(size, mtime_ns) of a regular file, or the reason it cannot be used (a str)."""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"missing ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return st.st_size, st.st_mtime_ns


def _decode(path: str) -> Optional[str]:
    try:
        open_rgb(path)
    except Exception as e:
        return f"does not decode ({type(e).__name__}: {e})"
    return None


def _parallel(fn: Callable[[str], object], paths: Sequence[str], desc: str, pool: ThreadPoolExecutor) -> List[object]:
    """``[fn(p) for p in paths]`` on the pool, in chunks, with a progress bar (shown on terminals)."""
    def _run(chunk):
        return [fn(p) for p in chunk]

    futures = [pool.submit(_run, paths[i:i + _CHUNK]) for i in range(0, len(paths), _CHUNK)]
    out: List[object] = []
    with tqdm(total=len(paths), desc=desc, unit="img", disable=None) as bar:
        for future in futures:
            chunk = future.result()
            out.extend(chunk)
            bar.update(len(chunk))
    return out


def _stamp_path(mode: str, stats: Sequence[Tuple[str, int, int]]) -> str:
    h = hashlib.sha256(f"vlprompt-validated-v1 {mode}\n".encode())
    for path, size, mtime in sorted(stats):
        h.update(f"{path}\t{size}\t{mtime}\n".encode())
    return os.path.join(stamp_dir(), h.hexdigest() + ".json")


def _check_paths(name: str, paths: Sequence[str], mode: str, pool: ThreadPoolExecutor) -> Tuple[Dict[str, str], int, int]:
    """Unusable files of one list ({path: reason}), how many were decoded, how many a stamp covered."""
    bad: Dict[str, str] = {}
    stats = []
    for path, result in zip(paths, _parallel(_stat, paths, f"check {name}", pool)):
        if isinstance(result, str):
            bad[path] = result
        elif result[0] == 0:
            bad[path] = "empty file"
        else:
            stats.append((path, result[0], result[1]))
    if mode == "files" or not stats:  # stat was the whole check: nothing worth remembering
        return bad, 0, 0
    stamp = _stamp_path(mode, stats)
    try:
        with open(stamp) as f:
            remembered = json.load(f)
        if remembered.get("files") == len(stats) and isinstance(remembered.get("bad"), dict):
            bad.update(remembered["bad"])
            return bad, 0, len(stats)
    except (OSError, ValueError):
        pass  # no stamp yet (or an unreadable one): check again
    to_decode = [p for p, _, _ in stats]
    found = {p: reason for p, reason in zip(to_decode, _parallel(_decode, to_decode, f"decode {name}", pool))
             if reason is not None}
    decoded = len(to_decode)
    try:
        atomic_write_text(stamp, json.dumps({"mode": mode, "files": len(stats), "bad": found}))
    except OSError as e:
        data_warning(f'could not remember the validation of {name} in "{stamp}" ({e}); it will be checked again '
                     f"next time (set {STAMP_DIR_ENV} to a writable folder)")
    bad.update(found)
    return bad, decoded, 0


# ----------------------------------------------------------------------------- labels
def check_labels(dataset: DatasetBase) -> None:
    """Labels in ``0..num_classes-1``, every label present in train_x (the classifier has one output per
    class name of train_x), and exactly one class name per label across train_x / val / test."""
    num_classes = dataset.num_classes
    lists = [(name, getattr(dataset, name)) for name in SPLITS if getattr(dataset, name) is not None]
    problems = []
    names_of = defaultdict(lambda: defaultdict(set))  # label -> name -> splits
    for name, items in lists:
        outside = Counter(d.label for d in items if not (isinstance(d.label, int) and 0 <= d.label < num_classes))
        if outside:
            problems.append(f"{name} has labels outside 0..{num_classes - 1} (num_classes = max train_x label + 1): "
                            + ", ".join(f"{y!r} ({n} samples)" for y, n in sorted(outside.items(), key=str)[:ERRORS_LISTED]))
        for d in items:
            names_of[d.label][d.classname].add(name)
    absent = sorted(set(range(num_classes)) - {d.label for d in dataset.train_x})
    if absent:
        problems.append(f"labels {absent[:ERRORS_LISTED]} have no train_x sample, so the class-name list would be "
                        "shorter than num_classes and every later class would be scored against the wrong name")
    ambiguous = {y: names for y, names in names_of.items() if len(names) > 1}
    for y in sorted(ambiguous, key=str)[:ERRORS_LISTED]:
        problems.append(f"label {y} has several class names: "
                        + "; ".join(f"'{n}' in {'/'.join(sorted(s))}" for n, s in sorted(ambiguous[y].items())))
    if problems:
        raise DatasetValidationError(
            "The dataset's labels are inconsistent:\n  " + "\n  ".join(problems)
            + "\nThe split file (or the reader) must give each class one label and one name in every split; "
              "fix or delete the split file and the caches built from it (split_fewshot/*.pkl, preprocessed.pkl)."
        )


# ----------------------------------------------------------------------------- the step
def validate_dataset(cfg, dataset: DatasetBase) -> dict:
    """Check every image and label of ``dataset`` as ``cfg.DATASET.VALIDATE`` says (module docstring).

    Returns the report kept as ``DataManager.validation_report`` (JSON-ready, for results.json)::

        {"mode": "full"|"files"|"off", "checked": distinct image files checked, "decoded": decoded now,
         "from_cache": covered by a stamp of an earlier run, "num_skipped": {"train_x": n, "val": n, "test": n},
         "skipped": {split: [image paths]}}   # at most 100 paths per split; only with SKIP_BAD_IMAGES True
    """
    mode = cfg.DATASET.VALIDATE
    if mode not in VALIDATE_MODES:
        raise ValueError(f'DATASET.VALIDATE must be one of {", ".join(map(repr, VALIDATE_MODES))}; got {mode!r}')
    report = {"mode": mode, "checked": 0, "decoded": 0, "from_cache": 0,
              "num_skipped": {name: 0 for name in SPLITS}, "skipped": {name: [] for name in SPLITS}}
    start = time.monotonic()
    if mode == "off":
        check_labels(dataset)
        print("Image validation is off (DATASET.VALIDATE off); labels checked")
        return report

    bad: Dict[str, str] = {}
    seen_lists, seen_paths = set(), set()
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for name in SPLITS:
            items = getattr(dataset, name)
            if items is None or id(items) in seen_lists:  # ImageNet's val is its test list
                continue
            seen_lists.add(id(items))
            paths = list(dict.fromkeys(d.impath for d in items if d.impath not in seen_paths))
            seen_paths.update(paths)
            found, decoded, remembered = _check_paths(name, paths, mode, pool)
            bad.update(found)
            report["checked"] += len(paths)
            report["decoded"] += decoded
            report["from_cache"] += remembered

    if bad:
        listed = sorted(bad)
        if not cfg.DATASET.SKIP_BAD_IMAGES:
            lines = "\n".join(f"  {p}: {bad[p]}" for p in listed[:ERRORS_LISTED])
            more = f"\n  ... and {len(listed) - ERRORS_LISTED} more" if len(listed) > ERRORS_LISTED else ""
            raise DatasetValidationError(
                f"{len(listed)} of the dataset's {report['checked']:,} images cannot be used "
                f"(found by DATASET.VALIDATE {mode} before training):\n{lines}{more}\n"
                "Replace or remove these files (and their entries in the split file), or set "
                "DATASET.SKIP_BAD_IMAGES True to leave them out of train_x/val/test with a warning."
            )
        removed = dataset.drop_images(bad)
        for name, paths in removed.items():
            report["num_skipped"][name] = len(paths)
            report["skipped"][name] = paths[:SKIPPED_LISTED]
        counts = ", ".join(f"{n} from {name}" for name, n in report["num_skipped"].items() if n)
        data_warning(f"leaving out {len(listed)} unusable image(s) (DATASET.SKIP_BAD_IMAGES True): {counts}; "
                     f"e.g. {listed[0]}: {bad[listed[0]]}")
    check_labels(dataset)

    what = "exist and decode" if mode == "full" else "exist and are not empty"
    print(f"Validated {report['checked']:,} images of {'/'.join(n for n in SPLITS if getattr(dataset, n) is not None)}: "
          f"{what} (DATASET.VALIDATE {mode}; {report['decoded']:,} decoded now, {report['from_cache']:,} checked "
          f"by an earlier run, stamps in {stamp_dir()}) in {time.monotonic() - start:.1f} s")
    return report
