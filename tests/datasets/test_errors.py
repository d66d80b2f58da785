"""Failures name what is wrong and where: missing folders/files, bad split files, unreadable images."""
import os
import shutil

import pytest

from vlprompt.data import DATASET_REGISTRY, DatasetNotFoundError
from vlprompt.data.data_manager import DatasetWrapper, read_image

from .expected import EXPECTED, SPLIT_FILES
from .helpers import build, make_cfg, registry_name


def remove(path):
    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


@pytest.mark.parametrize("stem", list(EXPECTED))
def test_missing_dataset_folder(stem, tmp_path):
    reader = DATASET_REGISTRY.get(registry_name(stem))
    with pytest.raises(DatasetNotFoundError) as err:
        build(tmp_path, stem)
    message = str(err.value)
    dataset_dir = os.path.join(str(tmp_path), EXPECTED[stem][1])
    assert repr(dataset_dir) in message and reader.__name__ in message and reader.source in message
    for entry in reader.required:
        assert f"{EXPECTED[stem][1]}/{entry}" in message  # the expected layout is spelled out
    assert not os.path.exists(dataset_dir)  # nothing is created before the check


@pytest.mark.parametrize("stem", list(EXPECTED))
def test_incomplete_dataset_folder_names_the_missing_entry(stem, data):
    root = data(stem)
    reader = DATASET_REGISTRY.get(registry_name(stem))
    for entry in reader.required:
        path = os.path.join(root, EXPECTED[stem][1], entry)
        backup = path.rstrip("/") + ".bak"
        os.rename(path.rstrip("/"), backup)
        with pytest.raises(DatasetNotFoundError, match="missing") as err:
            build(root, stem)
        assert repr(os.path.join(root, EXPECTED[stem][1], entry)) in str(err.value)
        os.rename(backup, path.rstrip("/"))
    build(root, stem)


@pytest.mark.parametrize("stem", [s for s in SPLIT_FILES if getattr(DATASET_REGISTRY.get(registry_name(s)), "split_inputs", ())])
def test_split_inputs_needed_only_while_split_file_absent(stem, data):
    root = data(stem)
    reader = DATASET_REGISTRY.get(registry_name(stem))
    dataset_dir = os.path.join(root, EXPECTED[stem][1])
    first_input = os.path.join(dataset_dir, reader.split_inputs[0])
    backup = first_input + ".bak"
    os.rename(first_input, backup)
    with pytest.raises(DatasetNotFoundError) as err:
        build(root, stem)
    assert repr(first_input) in str(err.value)
    os.rename(backup, first_input)
    build(root, stem)  # writes the split file
    for entry in reader.split_inputs:
        remove(os.path.join(dataset_dir, entry))
    build(root, stem)  # the released split file is all it needs besides the images


@pytest.mark.parametrize("stem", list(SPLIT_FILES))
@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ('{"train": [], "test": []}', 'keys "train", "val", "test"'),
    ('{"train": [["a.jpg", 0]], "val": [], "test": []}', "entry 0 of \"train\""),
])
def test_unparsable_split_file_names_file_and_problem(stem, content, problem, data):
    root = data(stem)
    path = os.path.join(root, EXPECTED[stem][1], SPLIT_FILES[stem])
    with open(path, "w") as f:
        f.write(content)
    with pytest.raises(ValueError) as err:
        build(root, stem)
    assert path in str(err.value) and problem in str(err.value)


@pytest.mark.parametrize("stem", list(SPLIT_FILES))
def test_split_file_with_missing_image(stem, data):
    root = data(stem)
    ds = build(root, stem)
    os.remove(ds.val[0].impath)
    with pytest.raises(DatasetNotFoundError, match="No file found at") as err:
        build(root, stem)
    assert ds.val[0].impath in str(err.value)


def test_corrupt_fewshot_cache_names_the_file(data):
    root = data("food101")
    build(root, "food101", shots=1)
    path = os.path.join(root, "food-101", "split_fewshot", "shot_1-seed_1.pkl")
    with open(path, "wb") as f:
        f.write(b"garbage")
    with pytest.raises(ValueError, match="shot_1-seed_1.pkl"):
        build(root, "food101", shots=1)


def test_split_generation_needs_enough_images(data):
    root = data("dtd")
    folder = os.path.join(root, "dtd", "images", "bubbly")  # 5 images -> remove 2: 3 give a 2/1/0 split
    for name in sorted(os.listdir(folder))[:2]:
        os.remove(os.path.join(folder, name))
    with pytest.raises(ValueError, match="bubbly.*3 images"):
        build(root, "dtd")


@pytest.mark.parametrize("stem", list(EXPECTED))
def test_corrupt_image_is_named_or_skipped(stem, data):
    root = data(stem)
    ds = build(root, stem)
    bad = ds.test[0].impath
    assert read_image(bad).mode == "RGB"
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(RuntimeError) as err:
        read_image(bad)
    assert bad in str(err.value)

    cfg = make_cfg(root, stem)
    with pytest.raises(RuntimeError, match="Cannot read image"):
        DatasetWrapper(cfg, ds.test)[0]
    cfg.DATASET.SKIP_BAD_IMAGES = True
    with pytest.warns(UserWarning, match="Skipping unreadable image"):
        assert DatasetWrapper(cfg, ds.test)[0] is None
    assert DatasetWrapper(cfg, ds.test)[1]["impath"] == ds.test[1].impath
