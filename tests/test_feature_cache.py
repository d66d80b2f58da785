"""The feature cache: one extraction per key, reuse across runs, invalidation, determinism, bad files."""
import os
import random
import re

import pytest
import torch

from vlprompt.clip import load_clip
from vlprompt.config import setup_cfg
from vlprompt.data import build_dataset, build_transform
from vlprompt.engine.feature_cache import FeatureCache, FeatureLoader

from .helpers import CALTECH_CFG, REPO, coop_args

LP_TINY = str(REPO / "configs/trainers/LinearProbe/tiny.yaml")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def setup(data_root, clip_cache, tmp_path):
    encoder = load_clip("TinyCLIP", cache_dir=clip_cache).visual.float()

    def make(seed=1, shots=4, encoder=encoder, precision="fp32"):
        cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=LP_TINY, opts=[
            "DATASET.ROOT", data_root, "SEED", str(seed), "DATASET.NUM_SHOTS", str(shots), "VERBOSE", "False",
            "TRAINER.FEATURES.CACHE_DIR", str(tmp_path / "features")])
        random.seed(seed)  # few-shot sampling, as train.py seeds it
        dataset = build_dataset(cfg)
        cache = FeatureCache(cfg, encoder, torch.float32, torch.device("cpu"), precision)
        return cfg, dataset, cache

    return make


def test_extracted_once_then_reused(setup, capsys):
    cfg, ds, cache = setup()
    tfm = build_transform(cfg, is_train=False)
    first = cache.get("train", ds.train_x, tfm)
    assert (cache.extracted, cache.reused) == (1, 0)
    assert "Extracting train features (32 images x 1 view(s))" in capsys.readouterr().out
    assert first.features.shape == (1, 32, 32) and first.labels.tolist() == [d.label for d in ds.train_x]
    # The stored values are the encoder's raw output for the test transform.
    from PIL import Image

    img = tfm(Image.open(ds.train_x[3].impath).convert("RGB"))[None]
    torch.testing.assert_close(first.features[0, 3:4], cache.image_encoder(img), atol=1e-5, rtol=1e-5)
    # Key in the file name and inside the file.
    payload = torch.load(first.path, weights_only=True)
    assert payload["key"] == first.key and first.key[:16] in os.path.basename(first.path)
    mtime = os.stat(first.path).st_mtime_ns

    _, _, cache2 = setup()  # a new run
    again = cache2.get("train", ds.train_x, tfm)
    assert (cache2.extracted, cache2.reused) == (0, 1) and again.path == first.path
    assert "Reusing cached train features" in capsys.readouterr().out
    assert torch.equal(again.features, first.features) and os.stat(first.path).st_mtime_ns == mtime


def test_invalidation(setup, clip_cache):
    cfg, ds, cache = setup(seed=1, shots=4)
    tfm = build_transform(cfg, is_train=False)
    base = {split: cache.get(split, getattr(ds, split if split != "train" else "train_x"), tfm)
            for split in ("train", "val", "test")}

    for seed, shots in ((2, 4), (1, 2)):  # another seed or another number of shots: new train/val files
        cfg2, ds2, cache2 = setup(seed=seed, shots=shots)
        train = cache2.get("train", ds2.train_x, tfm)
        val = cache2.get("val", ds2.val, tfm)
        test = cache2.get("test", ds2.test, tfm)
        assert train.key != base["train"].key and val.key != base["val"].key
        # The test split does not depend on seed or shots: its features are shared.
        assert test.key == base["test"].key
        assert (cache2.extracted, cache2.reused) == (2, 1)

    # Views, transform, precision and weights are part of the key.
    keys = {base["train"].key}
    keys.add(cache.get("train", ds.train_x, build_transform(cfg, is_train=True), views=2).key)
    keys.add(cache.get("train", ds.train_x, build_transform(cfg, is_train=True), views=1).key)
    cfg3 = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=LP_TINY, opts=[
        "DATASET.ROOT", cfg.DATASET.ROOT, "SEED", "1", "DATASET.NUM_SHOTS", "4", "INPUT.INTERPOLATION", "bilinear"])
    keys.add(cache.get("train", ds.train_x, build_transform(cfg3, is_train=False)).key)
    _, _, half = setup(precision="amp")
    keys.add(half.get("train", ds.train_x, tfm).key)
    other = load_clip("TinyCLIP", cache_dir=clip_cache).visual.float()
    with torch.no_grad():
        other.proj.add_(1e-3)
    _, _, changed = setup(encoder=other)
    keys.add(changed.get("train", ds.train_x, tfm).key)
    assert len(keys) == 6


def test_augmented_views_are_reproducible_and_leave_the_rng_alone(setup):
    cfg, ds, cache = setup()
    tfm = build_transform(cfg, is_train=True)
    state = torch.get_rng_state()
    first = cache.get("train", ds.train_x, tfm, views=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert first.features.shape == (3, 32, 32)
    assert not torch.allclose(first.features[0], first.features[1])  # different random crops / flips
    os.remove(first.path)
    assert torch.equal(cache.get("train", ds.train_x, tfm, views=3).features, first.features)

    # Training batches: the image loader's order rule and one view per image per epoch.
    loader = FeatureLoader(first, batch_size=8, shuffle=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 4 and all(b["feat"].shape == (8, 32) for b in batches)
    seen = torch.cat([b["label"] for b in batches]).sort().values
    assert torch.equal(seen, first.labels.sort().values)
    rows = {tuple(r.tolist()) for b in batches for r in b["feat"]}
    all_rows = {tuple(r.tolist()) for v in range(3) for r in first.features[v]}
    assert rows <= all_rows


def test_unreadable_or_mismatching_file_is_extracted_again(setup):
    cfg, ds, cache = setup()
    tfm = build_transform(cfg, is_train=False)
    first = cache.get("val", ds.val, tfm)
    with open(first.path, "wb") as f:
        f.write(b"truncated")
    with pytest.warns(UserWarning, match="unreadable feature cache"):
        again = cache.get("val", ds.val, tfm)
    assert torch.equal(again.features, first.features) and cache.extracted == 2
    payload = torch.load(first.path, weights_only=True)
    payload["key"] = "0" * 64
    torch.save(payload, first.path)
    with pytest.warns(UserWarning, match="does not match its key"):
        cache.get("val", ds.val, tfm)
    assert cache.extracted == 3
    with pytest.raises(ValueError, match="empty"):
        cache.get("val", [], tfm)


def test_second_train_py_run_extracts_nothing(run_train, data_root, tmp_path):
    opts = ["DATASET.NUM_SHOTS", "2", "TRAINER.FEATURES.CACHE_DIR", str(tmp_path / "features"),
            "TRAINER.LINEAR_PROBE.NUM_STEP", "2"]
    log1 = run_train(coop_args(data_root, tmp_path / "a", trainer="LinearProbe", config=LP_TINY), opts)
    assert log1.count("Extracting") == 3 and "Reusing" not in log1
    log2 = run_train(coop_args(data_root, tmp_path / "b", trainer="LinearProbe", config=LP_TINY), opts)
    assert "Extracting" not in log2 and log2.count("Reusing cached") == 3
    assert len(os.listdir(tmp_path / "features")) == 3
    results = [re.findall(r"^(C = .*|Chosen C .*|\* \w+: .*)$", log, re.M) for log in (log1, log2)]
    assert len(results[0]) > 10 and results[0] == results[1]
