"""Issue #20, data side: failures are loud, early and specific, and nothing wrong is written.

ImageNet class folders checked against classnames.txt; split generation from its own seed; caches that
record what they were drawn from; pickles in data folders loaded as data only and written so the
original code reads them; the shots shortfall report; whole-dataset validation before training.
"""
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import textwrap

import pytest

from vlprompt.data import DataManager, DatasetBase, DatasetNotFoundError, Datum, load_datum_pickle
from vlprompt.data.caches import UnsafePickleError, dump_datum_pickle, samples_digest
from vlprompt.data.validation import STAMP_DIR_ENV, DatasetValidationError, check_labels

from .expected import EXPECTED, SPLIT_FILES
from .helpers import build, make_cfg, records

# ----------------------------------------------------------------------------- helpers


def wnids(root, folder="imagenet"):
    lines = open(os.path.join(root, folder, "classnames.txt")).read().splitlines()
    return [line.split(" ", 1)[0] for line in lines]


def no_temp_files(folder):
    return not [f for f in os.listdir(folder) if f.endswith(".tmp")]


def write_pickle(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


# ----------------------------------------------------------------------------- 1. ImageNet class folders
@pytest.mark.parametrize("split_dir", ["val", "train"])
def test_imagenet_missing_class_folder_is_an_error_naming_it(data, split_dir):
    root = data("imagenet")
    gone = wnids(root)[2]
    shutil.rmtree(os.path.join(root, "imagenet", "images", split_dir, gone))
    with pytest.raises(DatasetNotFoundError) as err:
        build(root, "imagenet")
    message = str(err.value)
    assert f"1 class folder(s) listed in \"{os.path.join(root, 'imagenet', 'classnames.txt')}\"" in message
    assert gone in message and os.path.join(root, "imagenet", "images", split_dir) in message
    assert "wrong label" in message
    assert not os.path.exists(os.path.join(root, "imagenet", "preprocessed.pkl"))  # nothing cached


def test_imagenet_missing_folder_after_caching_is_still_an_error(data):
    """The wrong mapping is never read back from (or written to) preprocessed.pkl."""
    root = data("imagenet")
    build(root, "imagenet")
    cache = os.path.join(root, "imagenet", "preprocessed.pkl")
    before = open(cache, "rb").read()
    shutil.rmtree(os.path.join(root, "imagenet", "images", "val", wnids(root)[0]))
    with pytest.raises(DatasetNotFoundError, match=wnids(root)[0]):
        build(root, "imagenet")
    assert open(cache, "rb").read() == before


def test_imagenet_many_missing_folders_are_listed_with_a_count(data, tmp_path):
    from vlprompt.testing.datasets import make_imagenet

    root = tmp_path / "big"
    make_imagenet(str(root), indices=tuple(range(8)), n_train=1, n_val=1)
    names = wnids(root)
    for w in names[1:8]:  # 7 missing: the first five are named, then the count
        shutil.rmtree(root / "imagenet" / "images" / "val" / w)
    with pytest.raises(DatasetNotFoundError) as err:
        build(root, "imagenet")
    message = str(err.value)
    assert message.startswith("7 class folder(s)") and "(7 in all)" in message
    assert all(w in message for w in names[1:6]) and names[7] not in message


def test_imagenet_folder_not_in_classnames_is_an_error(data):
    root = data("imagenet")
    os.makedirs(os.path.join(root, "imagenet", "images", "train", "n99999999"))
    with pytest.raises(ValueError) as err:
        build(root, "imagenet")
    assert "n99999999" in str(err.value) and "classnames.txt" in str(err.value)
    assert not os.path.exists(os.path.join(root, "imagenet", "preprocessed.pkl"))


@pytest.mark.parametrize("name", ["ILSVRC2012_val_00000001.JPEG", "x.png", "y.jpeg"])
def test_imagenet_loose_val_images_are_an_error(data, name):
    root = data("imagenet")
    val = os.path.join(root, "imagenet", "images", "val")
    first = os.path.join(val, wnids(root)[0])
    shutil.copy(os.path.join(first, sorted(os.listdir(first))[0]), os.path.join(val, name))
    with pytest.raises(ValueError) as err:
        build(root, "imagenet")
    message = str(err.value)
    assert name in message and "sort them into the wnid folders" in message and f'"{val}/<class>/<image>"' in message
    assert not os.path.exists(os.path.join(root, "imagenet", "preprocessed.pkl"))


def test_imagenet_stray_non_image_files_are_a_warning(data, capsys):
    root = data("imagenet")
    open(os.path.join(root, "imagenet", "images", "val", "LOC_val_solution.csv"), "w").close()
    with pytest.warns(UserWarning, match="LOC_val_solution.csv"):
        ds = build(root, "imagenet")
    assert "Warning: ignoring 1 non-image file(s)" in capsys.readouterr().out
    assert len(ds.test) == 18


@pytest.mark.parametrize("stem, sub", [("imagenet_sketch", "images"), ("imagenet_a", "imagenet-a"),
                                       ("imagenet_r", "imagenet-r")])
def test_wnid_test_sets_check_their_folders(data, stem, sub):
    root = data(stem)
    folder = EXPECTED[stem][1]
    image_dir = os.path.join(root, folder, sub)
    present = sorted(f for f in os.listdir(image_dir) if f.startswith("n"))
    shutil.rmtree(os.path.join(image_dir, present[0]))  # a subset by design: a missing wnid is fine
    assert len(build(root, stem).classnames) == len(present) - 1

    os.makedirs(os.path.join(image_dir, "not_a_wnid"))
    with pytest.raises(ValueError, match="not_a_wnid") as err:
        build(root, stem)
    assert "classnames.txt" in str(err.value)
    os.rmdir(os.path.join(image_dir, "not_a_wnid"))

    src = os.path.join(image_dir, present[1])
    shutil.copy(os.path.join(src, sorted(os.listdir(src))[0]), os.path.join(image_dir, "loose.jpg"))
    with pytest.raises(ValueError, match="loose.jpg.*must sit in its class folder"):
        build(root, stem)


def test_imagenet_a_readme_is_expected_other_files_warn(data, recwarn):
    root = data("imagenet_a")
    build(root, "imagenet_a")  # README.txt is part of the archive: no warning
    assert not [w for w in recwarn if "non-image" in str(w.message)]
    open(os.path.join(root, "imagenet-adversarial", "imagenet-a", "notes.txt"), "w").close()
    with pytest.warns(UserWarning, match="notes.txt"):
        build(root, "imagenet_a")


def test_imagenetv2_folders_are_class_indices(data):
    root = data("imagenetv2")
    image_dir = os.path.join(root, "imagenetv2", "imagenetv2-matched-frequency-format-val")
    os.makedirs(os.path.join(image_dir, "6"))  # classnames.txt has 6 lines: 0..5
    with pytest.raises(ValueError) as err:
        build(root, "imagenetv2")
    classnames = os.path.join(root, "imagenetv2", "classnames.txt")
    assert f'has 1 folder(s) that "{classnames}" (folder i for its line i, from 0) does not list: 6.' in str(err.value)
    os.rmdir(os.path.join(image_dir, "6"))
    shutil.rmtree(os.path.join(image_dir, "3"))
    with pytest.raises(DatasetNotFoundError, match="1 class folder"):
        build(root, "imagenetv2")


# ----------------------------------------------------------------------------- 2. split generation seed
@pytest.mark.parametrize("stem", ["dtd", "oxford_pets"])
def test_generated_split_does_not_depend_on_the_run_seed(stem, pristine, tmp_path, capsys):
    texts = {}
    for seed in (1, -1, 2):
        root = tmp_path / f"seed{seed}"
        shutil.copytree(pristine[stem], root / os.path.basename(pristine[stem]))
        random.seed(seed if seed >= 0 else 12345)  # an unseeded run: whatever state
        build(root, stem, seed=seed, reseed=False)
        path = root / EXPECTED[stem][1] / SPLIT_FILES[stem]
        texts[seed] = path.read_text()
        out = capsys.readouterr().out
        assert f"Split file GENERATED (not the released one): a new random split drawn with DATASET.SPLIT_SEED 1 " \
               f"was written to {path}" in out and f"use the released {SPLIT_FILES[stem]}" in out
    assert texts[1] == texts[-1] == texts[2]

    cfg = make_cfg(tmp_path / "other", stem)
    shutil.copytree(pristine[stem], tmp_path / "other" / os.path.basename(pristine[stem]))
    cfg.DATASET.SPLIT_SEED = 5
    from vlprompt.data import build_dataset

    build_dataset(cfg)
    assert (tmp_path / "other" / EXPECTED[stem][1] / SPLIT_FILES[stem]).read_text() != texts[1]


def test_split_generation_leaves_the_global_random_state_alone(pristine, tmp_path):
    """The few-shot subset of the run that generates the split equals that of a run that reads it."""
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    for root in (fresh, existing):
        shutil.copytree(pristine["dtd"], root / "dtd")
    build(existing, "dtd")  # writes the split file
    shutil.rmtree(existing / "dtd" / "split_fewshot")
    subsets = [[os.path.relpath(d.impath, str(root)) for d in build(root, "dtd", shots=2, seed=4).train_x]
               for root in (fresh, existing)]
    assert subsets[0] == subsets[1]

    shutil.rmtree(fresh)
    shutil.copytree(pristine["dtd"], fresh / "dtd")
    random.seed(3)
    build(fresh, "dtd", reseed=False)
    after = random.random()
    random.seed(3)
    assert after == random.random()


# ----------------------------------------------------------------------------- 3. caches record their source
def test_fewshot_cache_of_a_replaced_split_is_rebuilt(data, capsys):
    root = data("dtd")
    build(root, "dtd")
    split_path = os.path.join(root, "dtd", SPLIT_FILES["dtd"])
    cache = os.path.join(root, "dtd", "split_fewshot", "shot_2-seed_1.pkl")
    old = build(root, "dtd", shots=2)
    assert load_datum_pickle(cache)["source"] == {
        "split_sha256": samples_digest(build(root, "dtd").train_x, build(root, "dtd").val), "num_shots": 2, "seed": 1}

    split = json.load(open(split_path))
    split["train"], split["test"] = split["test"], split["train"]  # a different split file
    json.dump(split, open(split_path, "w"))
    full = build(root, "dtd")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="shot_2-seed_1.pkl.*another version of the split"):
        ds = build(root, "dtd", shots=2)
    assert f'Warning: Few-shot cache "{cache}" was drawn from another version of the split' in capsys.readouterr().out
    assert set(records(ds.train_x)) <= set(records(full.train_x))
    assert not set(records(ds.train_x)) & set(records(old.train_x))  # the old training images are test images now
    content = load_datum_pickle(cache)
    assert records(content["train"]) == records(ds.train_x)
    assert content["source"]["split_sha256"] == samples_digest(full.train_x, full.val)
    assert no_temp_files(os.path.dirname(cache))


def test_legacy_fewshot_cache_outside_the_split_is_rebuilt(data):
    root = data("caltech101")
    full = build(root, "caltech101")
    stranger = Datum(impath=full.test[0].impath, label=full.test[0].label, classname=full.test[0].classname)
    legacy = {"train": [stranger] + full.train_x[1:3], "val": full.val[:2]}  # no "source": the original's format
    cache = os.path.join(root, "caltech-101", "split_fewshot", "shot_1-seed_1.pkl")
    write_pickle(cache, legacy)
    with pytest.warns(UserWarning, match="records no provenance and 1 of its \"train\" samples are not in the"):
        ds = build(root, "caltech101", shots=1)
    assert stranger.impath not in {d.impath for d in ds.train_x}
    assert "source" in load_datum_pickle(cache)


def test_imagenet_cache_is_rebuilt_when_the_folders_change(data):
    root = data("imagenet")
    first = build(root, "imagenet")
    cache = os.path.join(root, "imagenet", "preprocessed.pkl")
    folder = os.path.join(root, "imagenet", "images", "train", wnids(root)[1])
    new = os.path.join(folder, "zz_added.JPEG")
    shutil.copy(os.path.join(folder, sorted(os.listdir(folder))[0]), new)
    with pytest.warns(UserWarning, match=r"preprocessed.pkl.*\(changed: images/train\)"):
        second = build(root, "imagenet")
    assert len(second.train_x) == len(first.train_x) + 1 and new in {d.impath for d in second.train_x}
    assert new in {d.impath for d in load_datum_pickle(cache)["train"]}


def test_imagenet_legacy_cache_is_used_only_when_it_matches(data, recwarn):
    root = data("imagenet")
    full = build(root, "imagenet")
    cache = os.path.join(root, "imagenet", "preprocessed.pkl")
    # The original's cache: no "source", its own (file-system) order -> used as is, order kept.
    legacy = {"train": full.train_x[::-1], "test": full.test}
    write_pickle(cache, legacy)
    assert records(build(root, "imagenet").train_x) == records(full.train_x[::-1])
    assert not [w for w in recwarn if "preprocessed.pkl" in str(w.message)]

    # The gap bug: labels re-indexed over the folders present (every class after the gap shifted).
    shifted = [Datum(d.impath, d.label - 1 if d.label > 2 else d.label, 0, d.classname, check_exists=False)
               for d in full.test]
    write_pickle(cache, {"train": full.train_x, "test": shifted})
    with pytest.warns(UserWarning, match='records no provenance and its "test" list'):
        ds = build(root, "imagenet")
    assert records(ds.test) == records(full.test)
    assert "source" in load_datum_pickle(cache)


# ----------------------------------------------------------------------------- 4. pickles are data
class _Payload:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


@pytest.mark.parametrize("kind", ["system", "exec"])
@pytest.mark.parametrize("where", ["fewshot", "imagenet"])
def test_pickle_with_code_is_refused_and_never_run(data, tmp_path, kind, where):
    marker = tmp_path / "pwned"
    payload = (_Payload(os.system, f"touch {marker}") if kind == "system"
               else _Payload(exec, f"open({str(marker)!r}, 'w').close()"))
    root = data("imagenet" if where == "imagenet" else "dtd")
    stem = "imagenet" if where == "imagenet" else "dtd"
    build(root, stem)
    path = os.path.join(root, EXPECTED[stem][1], "preprocessed.pkl" if where == "imagenet" else "split_fewshot/shot_1-seed_1.pkl")
    write_pickle(path, {"train": [payload], "test": [], "val": []})
    with pytest.raises(UnsafePickleError) as err:
        build(root, stem, shots=1)
    message = str(err.value)
    refused = "posix.system" if kind == "system" else "builtins.exec"
    assert path in message and refused in message and "delete it and it will be rebuilt" in message
    assert not marker.exists()


def test_old_protocol_pickles_of_datums_load(tmp_path):
    """Protocols 0/1 go through copyreg._reconstructor and builtins.object, which are allowed."""
    items = [Datum("/x/a.jpg", 1, 0, "a", check_exists=False)]
    for protocol in (0, 1, 2):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps({"train": items}, protocol=protocol))
        assert records(load_datum_pickle(str(path))["train"]) == records(items)


FAKE_DASSL_READER = textwrap.dedent("""
    import json, pickle, sys, types
    sys.modules["vlprompt"] = None  # vlprompt must not be needed (nor importable) to read our files
    try:
        import vlprompt
        raise SystemExit("vlprompt importable")
    except ImportError:
        pass

    class Datum:  # Dassl's Datum: private attributes, no custom pickling
        pass

    names = ["dassl", "dassl.data", "dassl.data.datasets", "dassl.data.datasets.base_dataset"]
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    Datum.__module__ = "dassl.data.datasets.base_dataset"
    sys.modules["dassl.data.datasets.base_dataset"].Datum = Datum
    with open(sys.argv[1], "rb") as f:
        data = pickle.load(f)
    print(json.dumps({k: [[type(d).__module__, d.__dict__] for d in v] if isinstance(v, list) else v
                      for k, v in data.items()}))
""")


def test_written_caches_load_in_the_original_code(data, tmp_path):
    """Few-shot caches and preprocessed.pkl unpickle where only Dassl (not vlprompt) is importable."""
    for stem, name in (("dtd", "split_fewshot/shot_2-seed_1.pkl"), ("imagenet", "preprocessed.pkl")):
        root = data(stem)
        ds = build(root, stem, shots=2)
        path = os.path.join(root, EXPECTED[stem][1], name)
        script = tmp_path / "reader.py"
        script.write_text(FAKE_DASSL_READER)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run([sys.executable, "-I", str(script), path], capture_output=True, text=True,
                                env=env, cwd=str(tmp_path), timeout=120)
        assert result.returncode == 0, result.stderr
        loaded = json.loads(result.stdout)
        train = loaded["train"]
        assert {module for module, _ in train} == {"dassl.data.datasets.base_dataset"}
        expected = ds.train_x if stem == "dtd" else load_datum_pickle(path)["train"]
        assert [state for _, state in train] == [
            {"_impath": d.impath, "_label": d.label, "_domain": d.domain, "_classname": d.classname} for d in expected]
        assert set(loaded["source"]) >= ({"split_sha256"} if stem == "dtd" else {"image_dir"})
        shutil.rmtree(root)


def test_dump_does_not_need_dassl():
    blob = dump_datum_pickle({"train": [Datum("/a.jpg", 0, 0, "a", check_exists=False)]})
    assert b"dassl.data.datasets.base_dataset" in blob and b"vlprompt" not in blob
    with pytest.raises(ModuleNotFoundError, match="dassl"):
        pickle.loads(blob)


# ----------------------------------------------------------------------------- 5. shots shortfall
def test_shots_shortfall_is_reported(data, capsys):
    root = data("dtd")
    build(root, "dtd")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="3 of 5 classes have fewer than the 16 training images"):
        ds = build(root, "dtd", shots=16)
    out = capsys.readouterr().out
    # dtd train sizes per class: banded 17, blotchy 6, braided 4, bubbly 2, bumpy 17 (expected.py)
    assert "Warning: 3 of 5 classes have fewer than the 16 training images requested (DATASET.NUM_SHOTS)" in out
    assert "Smallest: 'bubbly' (2), 'braided' (4), 'blotchy' (6)" in out
    assert ds.fewshot_report == {"requested": 16, "min_shots": 1, "num_classes": 5, "min_per_class": 2,
                                 "max_per_class": 16, "num_short_classes": 3,
                                 "short_classes": {"bubbly": 2, "braided": 4, "blotchy": 6}}


def test_shortfall_report_fields(data):
    root = data("dtd")
    assert build(root, "dtd").fewshot_report is None  # no few-shot sampling
    ds = build(root, "dtd", shots=2)
    assert ds.fewshot_report["num_short_classes"] == 0 and ds.fewshot_report["short_classes"] == {}
    assert build(data("imagenet_a"), "imagenet_a", shots=2).fewshot_report is None  # variants ignore NUM_SHOTS


def test_duplicate_class_names_are_told_apart(data):
    # train sizes 20, 6, 3, 2, 20, 6 (expected.py): the "sunglasses" of label 4 has enough, label 5 not
    ds = build(data("imagenet"), "imagenet", shots=16)
    assert list(ds.fewshot_report["short_classes"].items()) == [
        ("rooster", 2), ("hammerhead shark", 3), ("goldfish", 6), ("sunglasses (label 5)", 6)]


def _build_cfg(root, stem, **dataset_keys):
    from vlprompt.data import build_dataset

    cfg = make_cfg(root, stem, shots=dataset_keys.pop("shots", -1))
    for key, value in dataset_keys.items():
        setattr(cfg.DATASET, key, value)
    random.seed(cfg.SEED)
    return build_dataset(cfg)


def test_min_shots_is_an_error_naming_the_classes(data):
    root = data("dtd")
    build(root, "dtd")
    with pytest.raises(ValueError) as err:
        _build_cfg(root, "dtd", shots=8, MIN_SHOTS=5)
    assert str(err.value).startswith("2 class(es) have fewer than DATASET.MIN_SHOTS = 5 training image(s) after "
                                     "8-shot sampling: 'bubbly' (2), 'braided' (4).")
    # The cache written on the way is the correct sample (what the run with a lower minimum uses).
    cache = os.path.join(root, "dtd", "split_fewshot", "shot_8-seed_1.pkl")
    assert records(load_datum_pickle(cache)["train"]) == records(_build_cfg(root, "dtd", shots=8, MIN_SHOTS=2).train_x)


def test_min_shots_counts_classes_missing_from_train(data):
    root = data("dtd")
    full = build(root, "dtd")
    bubbly = [d for d in full.train_x if d.classname == "bubbly"]
    cache = os.path.join(root, "dtd", "split_fewshot", "shot_1-seed_1.pkl")
    build(root, "dtd", shots=1)
    content = load_datum_pickle(cache)
    content["train"] = [d for d in content["train"] if d.classname != "bubbly"]
    write_pickle(cache, content)
    with pytest.raises(ValueError, match=r"1 class\(es\) have fewer than DATASET.MIN_SHOTS = 1 .*'bubbly' \(0\)"):
        build(root, "dtd", shots=1)
    assert bubbly


@pytest.mark.parametrize("min_shots", [-1, 3])
def test_min_shots_out_of_range(data, min_shots):
    root = data("dtd")
    with pytest.raises(ValueError, match=r"DATASET.MIN_SHOTS must be between 0 and DATASET.NUM_SHOTS \(2\)"):
        _build_cfg(root, "dtd", shots=2, MIN_SHOTS=min_shots)
    assert not os.path.exists(os.path.join(root, "dtd", "split_fewshot", "shot_2-seed_1.pkl"))


# ----------------------------------------------------------------------------- 6. validation before training
def _dm(root, stem, **dataset_keys):
    cfg = make_cfg(root, stem)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.VERBOSE = False
    for key, value in dataset_keys.items():
        setattr(cfg.DATASET, key, value)
    random.seed(cfg.SEED)
    return DataManager(cfg)


def _corrupt(path, content=b"\xff\xd8 this is not a JPEG"):
    with open(path, "wb") as f:
        f.write(content)


def test_unreadable_test_image_fails_before_training(data, capsys):
    root = data("dtd")
    ds = build(root, "dtd")
    bad = ds.test[3].impath
    _corrupt(bad)
    with pytest.raises(DatasetValidationError) as err:
        _dm(root, "dtd")
    message = str(err.value)
    assert message.startswith("1 of the dataset's 92 images cannot be used (found by DATASET.VALIDATE full before")
    assert f"  {bad}: does not decode (UnidentifiedImageError" in message
    assert "Replace or remove these files" in message and "DATASET.SKIP_BAD_IMAGES True" in message


def test_error_lists_ten_unreadable_files_and_the_count(data):
    root = data("dtd")
    ds = build(root, "dtd")
    bad = sorted(d.impath for d in ds.test[:12])
    for path in bad:
        _corrupt(path)
    with pytest.raises(DatasetValidationError) as err:
        _dm(root, "dtd")
    message = str(err.value)
    assert message.startswith("12 of") and "... and 2 more" in message
    assert all(p in message for p in bad[:10]) and not any(p in message for p in bad[10:])


def test_skip_bad_images_drops_them_everywhere(data, capsys):
    root = data("imagenet")  # val is the test list: dropped from both, checked once
    ds = build(root, "imagenet")
    bad_test, bad_train = ds.test[0].impath, ds.train_x[5].impath
    _corrupt(bad_test)
    _corrupt(bad_train, b"")  # empty
    with pytest.warns(UserWarning, match="leaving out 2 unusable image"):
        dm = _dm(root, "imagenet", SKIP_BAD_IMAGES=True)
    report = dm.validation_report
    assert report["num_skipped"] == {"train_x": 1, "val": 1, "test": 1}
    assert report["skipped"] == {"train_x": [bad_train], "val": [bad_test], "test": [bad_test]}
    assert report["checked"] == len(ds.train_x) + len(ds.test)
    assert bad_test not in {d.impath for d in dm.dataset.test} and dm.dataset.val is dm.dataset.test
    assert bad_train not in {d.impath for d in dm.dataset.train_x}
    assert len(dm.test_loader.dataset) == len(ds.test) - 1
    assert "Validated 75 images of train_x/val/test: exist and decode (DATASET.VALIDATE full;" in capsys.readouterr().out


def test_files_mode_checks_existence_and_size_only(data):
    root = data("dtd")
    ds = build(root, "dtd")
    _corrupt(ds.test[0].impath)  # not an image, but not empty
    dm = _dm(root, "dtd", VALIDATE="files")
    assert dm.validation_report["mode"] == "files" and dm.validation_report["decoded"] == 0
    _corrupt(ds.test[1].impath, b"")
    with pytest.raises(DatasetValidationError, match=f"{ds.test[1].impath}: empty file"):
        _dm(root, "dtd", VALIDATE="files")
    assert _dm(root, "dtd", VALIDATE="off").validation_report["checked"] == 0


def test_invalid_validate_value_lists_the_choices(data):
    with pytest.raises(ValueError, match="DATASET.VALIDATE must be one of 'full', 'files', 'off'; got 'yes'"):
        _dm(data("dtd"), "dtd", VALIDATE="yes")


def test_validation_is_remembered_between_runs(data, tmp_path, monkeypatch):
    monkeypatch.setenv(STAMP_DIR_ENV, str(tmp_path / "stamps"))
    root = data("dtd")
    first = _dm(root, "dtd").validation_report
    assert (first["decoded"], first["from_cache"]) == (92, 0)
    assert len(os.listdir(tmp_path / "stamps")) == 3  # train_x, val, test
    second = _dm(root, "dtd").validation_report
    assert (second["decoded"], second["from_cache"]) == (0, 92)

    # A changed file invalidates its list's stamp only; a bad file found earlier stays bad.
    test = build(root, "dtd").test
    _corrupt(test[0].impath)
    third = _dm(root, "dtd", SKIP_BAD_IMAGES=True).validation_report
    assert third["decoded"] == len(test) and third["num_skipped"]["test"] == 1
    fourth = _dm(root, "dtd", SKIP_BAD_IMAGES=True).validation_report
    assert fourth["decoded"] == 0 and fourth["skipped"]["test"] == [test[0].impath]


def test_unwritable_stamp_folder_is_only_a_warning(data, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv(STAMP_DIR_ENV, str(blocker / "stamps"))
    with pytest.warns(UserWarning, match="could not remember the validation of"):
        dm = _dm(data("dtd"), "dtd")
    assert dm.validation_report["decoded"] == 92


def _datum(label, name, path="/x.jpg"):
    return Datum(path, label, 0, name, check_exists=False)


@pytest.mark.parametrize("lists, problem", [
    (dict(train_x=[_datum(0, "a"), _datum(2, "c")], test=[_datum(1, "b")]), "labels [1] have no train_x sample"),
    (dict(train_x=[_datum(0, "a"), _datum(1, "b")], test=[_datum(2, "c")]), "test has labels outside 0..1"),
    (dict(train_x=[_datum(0, "a"), _datum(1, "b")], test=[_datum(1, "B")]), "label 1 has several class names: 'B' in test; 'b' in train_x"),
])
def test_label_checks(lists, problem):
    with pytest.raises(DatasetValidationError, match="The dataset's labels are inconsistent") as err:
        check_labels(DatasetBase(**lists))
    assert problem in str(err.value)
