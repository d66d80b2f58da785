"""Few-shot subsets and their cache, base/new class halves, and the test-only ImageNet variants."""
import math
import os
import pickle
import random
import shutil
import sys
import types
from collections import Counter

import pytest

from vlprompt.data import Datum, load_datum_pickle

from .expected import BENCHMARKS, EXPECTED, VARIANTS
from .helpers import build, one_per_class


def records(items):
    return [(d.impath, d.label, d.domain, d.classname) for d in items]


def cache_path(root, stem, shots, seed):
    return os.path.join(root, EXPECTED[stem][1], "split_fewshot", f"shot_{shots}-seed_{seed}.pkl")


@pytest.mark.parametrize("shots", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("stem", BENCHMARKS)
def test_fewshot_counts_per_class(stem, shots, data):
    root = data(stem)
    full = build(root, stem)  # writes the split file (if any) first, as a first run would
    ds = build(root, stem, shots=shots)
    sizes = EXPECTED[stem][3]
    # K per class for train, min(K, 4) for val; a class with fewer keeps all of its images.
    assert dict(Counter(d.label for d in ds.train_x)) == {y: min(shots, s[0]) for y, s in enumerate(sizes)}
    assert set(records(ds.train_x)) <= set(records(full.train_x))
    if stem == "imagenet":
        assert ds.val == ds.test and records(ds.test) == records(full.test)  # few-shot on train only
    else:
        assert dict(Counter(d.label for d in ds.val)) == {y: min(shots, 4, s[1]) for y, s in enumerate(sizes)}
        assert set(records(ds.val)) <= set(records(full.val))
        assert records(ds.test) == records(full.test)
    assert ds.classnames == full.classnames and ds.num_classes == full.num_classes
    if shots == 16:  # the miniatures have classes with and without 16 training images
        assert {min(16, s[0]) == 16 for s in sizes} == {True, False}


@pytest.mark.parametrize("stem", ["dtd", "oxford_pets"])
def test_more_shots_than_any_class_keeps_everything(stem, data):
    root = data(stem)
    full = build(root, stem)
    ds = build(root, stem, shots=64)
    assert records(ds.train_x) == records(full.train_x)  # groups are contiguous, so the order is kept too
    assert dict(Counter(d.label for d in ds.val)) == {y: min(4, s[1]) for y, s in enumerate(EXPECTED[stem][3])}


@pytest.mark.parametrize("stem", BENCHMARKS)
def test_fewshot_cache_written_then_loaded(stem, data):
    root = data(stem)
    path = cache_path(root, stem, 2, 3)
    first = build(root, stem, shots=2, seed=3)
    assert os.path.isfile(path)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # nothing else (no temp files)
    content = load_datum_pickle(path)  # written under Dassl's Datum name: plain pickle.load needs Dassl
    assert set(content) == ({"train"} if stem == "imagenet" else {"train", "val"}) | {"source"}
    assert records(content["train"]) == records(first.train_x)

    # A second build loads the file: another global random state gives the same subsets.
    random.seed(999)
    second = build(root, stem, shots=2, seed=3, reseed=False)
    assert records(second.train_x) == records(first.train_x) and records(second.val) == records(first.val)

    # ... and uses it as is (its provenance matches the split), even when it no longer matches what
    # sampling would give.
    # (One sample per class, not one sample in all: a class without training images is an error now.)
    kept = one_per_class(content["train"])
    assert len(kept) < len(content["train"])
    content["train"] = kept
    with open(path, "wb") as f:
        pickle.dump(content, f)
    third = build(root, stem, shots=2, seed=3)
    assert records(third.train_x) == records(kept)


@pytest.mark.parametrize("stem", ["caltech101", "imagenet", "fgvc_aircraft"])
def test_fewshot_same_seed_same_subset_on_every_copy(stem, pristine, tmp_path):
    results = []
    for copy in ("a", "b"):
        shutil.copytree(pristine[stem], tmp_path / copy / os.path.basename(pristine[stem]))
        results.append(records(build(tmp_path / copy, stem, shots=4, seed=5).train_x))
    assert [os.path.relpath(p, str(tmp_path / "a")) for p, *_ in results[0]] == \
           [os.path.relpath(p, str(tmp_path / "b")) for p, *_ in results[1]]
    other = records(build(tmp_path / "a", stem, shots=4, seed=6).train_x)
    assert other != results[0]


def test_unseeded_run_uses_seed_minus_one(data):
    root = data("dtd")
    build(root, "dtd", shots=1, seed=-1)
    assert os.path.isfile(cache_path(root, "dtd", 1, -1))


@pytest.mark.parametrize("stem", BENCHMARKS)
def test_base_and_new_halves(stem, data):
    root = data(stem)
    full = build(root, stem)
    n = len(full.classnames)
    m = math.ceil(n / 2)
    for subsample, selected in (("base", range(m)), ("new", range(m, n))):
        ds = build(root, stem, subsample=subsample)
        relabel = {old: new for new, old in enumerate(selected)}
        assert ds.classnames == [full.classnames[y] for y in selected]
        assert ds.num_classes == len(selected)
        pairs = [(full.train_x, ds.train_x), (full.test, ds.test)] + ([] if stem == "imagenet" else [(full.val, ds.val)])
        for before, after in pairs:
            expected = [(d.impath, relabel[d.label], d.domain, d.classname) for d in before if d.label in relabel]
            assert records(after) == expected  # order kept, relabelled 0..k-1, names unchanged
        if stem == "imagenet":
            assert ds.val == ds.test
    # base and new share the few-shot cache (its key ignores SUBSAMPLE_CLASSES)
    base = build(root, stem, shots=4, subsample="base")
    new = build(root, stem, shots=4, subsample="new")
    assert os.listdir(os.path.dirname(cache_path(root, stem, 4, 1))) == ["shot_4-seed_1.pkl"]
    fewshot = build(root, stem, shots=4)
    assert len(base.train_x) + len(new.train_x) == len(fewshot.train_x)


def test_base_new_sizes_of_odd_class_counts(data):
    root = data("dtd")  # 5 classes -> 3 base, 2 new
    assert len(build(root, "dtd", subsample="base").classnames) == 3
    assert len(build(root, "dtd", subsample="new").classnames) == 2
    with pytest.raises(ValueError, match="SUBSAMPLE_CLASSES"):
        build(root, "dtd", subsample="half")


@pytest.mark.parametrize("stem", VARIANTS)
def test_variants_ignore_shots_and_subsampling(stem, data):
    root = data(stem)
    full = build(root, stem)
    ds = build(root, stem, shots=2, subsample="base")
    assert records(ds.train_x) == records(full.train_x) and records(ds.test) == records(full.test)
    assert ds.val is None and ds.classnames == full.classnames
    assert not os.path.exists(os.path.join(root, EXPECTED[stem][1], "split_fewshot"))


def test_cache_written_by_dassl_loads(data, monkeypatch):
    """A few-shot pickle of Dassl's Datum (module dassl.data.datasets.base_dataset) loads without Dassl."""
    root = data("caltech101")
    full = build(root, "caltech101")

    class FakeDasslDatum:  # Dassl's Datum: private attributes, no custom pickling
        def __init__(self, d):
            self._impath, self._label, self._domain, self._classname = d.impath, d.label, d.domain, d.classname

    FakeDasslDatum.__module__ = "dassl.data.datasets.base_dataset"
    FakeDasslDatum.__qualname__ = FakeDasslDatum.__name__ = "Datum"
    names = ["dassl", "dassl.data", "dassl.data.datasets", "dassl.data.datasets.base_dataset"]
    for name in names:
        module = types.ModuleType(name)
        module.Datum = FakeDasslDatum
        monkeypatch.setitem(sys.modules, name, module)
    # One training sample per class (a class without any is an error since DATASET.MIN_SHOTS).
    train = one_per_class(full.train_x)
    content = {"train": [FakeDasslDatum(d) for d in train], "val": [FakeDasslDatum(d) for d in full.val[:2]]}
    blob = pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"dassl.data.datasets.base_dataset" in blob
    for name in names:
        monkeypatch.delitem(sys.modules, name)

    path = cache_path(root, "caltech101", 1, 1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob)
    ds = build(root, "caltech101", shots=1, seed=1)
    assert all(type(d) is Datum for d in ds.train_x + ds.val)
    assert records(ds.train_x) == records(train) and records(ds.val) == records(full.val[:2])
