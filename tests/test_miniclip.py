"""The built-in MiniCLIP world: renderer, packaged checkpoint, benchmark generation and readers.

(The prompt-learning findings on it are in tests/test_miniclip_findings.py.)
"""
import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from vlprompt.clip import load_clip, tokenize
from vlprompt.config import setup_cfg
from vlprompt.data import build_dataset
from vlprompt.mini import model as mini_model
from vlprompt.mini import report, world
from vlprompt.mini.benchmarks import BENCHMARKS
from vlprompt.mini.pretrain import to_tensor

from .helpers import REPO

STEMS = {name: stem for stem, name in report.BENCHMARK_STEMS.items()}  # DATASET.NAME -> config stem


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "miniclip_data"  # shared with tests/test_miniclip_findings.py
    root.mkdir(exist_ok=True)
    return str(root)


def _cfg(root, name, *opts):
    return setup_cfg(dataset_config_file=str(REPO / f"configs/datasets/{STEMS[name]}.yaml"),
                     opts=["DATASET.ROOT", root] + list(opts))


# ----------------------------------------------------------------------------- world
def test_rendering_and_captions_are_deterministic():
    a_imgs, a_txt = world.pretrain_batch(0, 5, 8)
    b_imgs, b_txt = world.pretrain_batch(0, 5, 8)
    assert a_txt == b_txt
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a_imgs, b_imgs))
    c_imgs, c_txt = world.pretrain_batch(1, 5, 8)
    assert c_txt != a_txt
    assert a_imgs[0].size == (world.IMAGE_SIZE, world.IMAGE_SIZE) and a_imgs[0].mode == "RGB"


def test_captions_are_true_and_fit_the_model():
    vocab = set(mini_model.vocabulary_token_ids().tolist())
    rng = np.random.default_rng(0)
    for _ in range(300):
        obj = world.sample_object(rng)
        text, facts = world.describe(obj, rng)
        assert world.is_true_of(facts, obj)
        ids = tokenize(text, mini_model.CONFIG["context_length"])[0]  # raises when too long
        assert set(ids[ids > 0].tolist()) <= vocab, text


def test_benchmark_class_names_use_the_pretraining_vocabulary():
    vocab = set(mini_model.vocabulary_token_ids().tolist())
    from vlprompt.data import DATASET_REGISTRY

    for name, bench in BENCHMARKS.items():
        for cls in bench.classnames:
            ids = tokenize(DATASET_REGISTRY.get(name).template.format(cls), 32)[0]
            assert set(ids[ids > 0].tolist()) <= vocab, cls


# ----------------------------------------------------------------------------- checkpoint
def test_packaged_checkpoint_is_small_checked_and_loads(tmp_path):
    path = mini_model.PACKAGED_PATH
    assert os.path.getsize(path) < 10e6
    assert mini_model.file_sha256(path) == mini_model.PACKAGED_SHA256
    packed = mini_model.read_packed(path, mini_model.PACKAGED_SHA256)
    assert packed["meta"]["seed"] == 0 and packed["config"] == mini_model.CONFIG
    assert all(v.dtype == torch.float16 for v in packed["packed_state_dict"].values() if v.is_floating_point())

    clip = load_clip("MiniCLIP", cache_dir=str(tmp_path))
    cached = tmp_path / mini_model.builtin_filename()
    assert cached.is_file()
    assert clip.token_embedding.weight.shape == (49408, mini_model.CONFIG["text_width"])
    assert clip.positional_embedding.shape[0] == mini_model.CONFIG["context_length"]
    assert clip.visual.image_size == (world.IMAGE_SIZE, world.IMAGE_SIZE)
    assert clip.visual.conv1.weight.dtype == torch.float16  # OpenAI's precision layout
    # Same weights as the packaged file; unused token rows are filled in.
    ids = packed["token_ids"]
    assert torch.equal(clip.token_embedding.weight[ids].half(), packed["packed_state_dict"]["token_embedding.weight"])
    assert math.isclose(clip.logit_scale.exp().item(), packed["meta"]["logit_scale"], rel_tol=1e-2)


def test_damaged_checkpoint_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "miniclip.pt"
    data = bytearray(mini_model.PACKAGED_PATH.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(mini_model, "PACKAGED_PATH", bad)
    with pytest.raises(mini_model.MiniCLIPChecksumError, match="SHA-256"):
        load_clip("MiniCLIP", cache_dir=str(tmp_path / "cache"))


def test_pretraining_smoke_run_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "m.pt"
    r = subprocess.run([sys.executable, str(REPO / "tools/pretrain_miniclip.py"), "--seed", "0", "--out", str(out),
                        "--steps", "1", "--eval-images", "0"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "step 1/1 loss" in r.stdout and "SHA-256" in r.stdout
    full = mini_model.expand_file(out, tmp_path / "full.pt")
    clip = load_clip("MiniCLIP", path=full).float()
    with torch.no_grad():
        img = clip.encode_image(to_tensor(world.pretrain_batch(0, 0, 2)[0]))
        txt = clip.encode_text(tokenize(["a photo of a red circle."], 32))
    assert img.shape == (2, mini_model.CONFIG["embed_dim"]) and txt.shape == (1, mini_model.CONFIG["embed_dim"])
    # The packaged (pruned) file itself is not an OpenAI checkpoint: a clear error, not a wrong model.
    with pytest.raises(ValueError, match="not an OpenAI-format"):
        load_clip("MiniCLIP", path=str(out))


# ----------------------------------------------------------------------------- benchmarks
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_base_and_new_halves_hold_every_attribute_value(name):
    bench = BENCHMARKS[name]
    m = math.ceil(len(bench.classes) / 2)
    for half in (bench.classes[:m], bench.classes[m:]):
        for key in ("colour", "shape"):
            assert {dict(c.attrs)[key] for c in half} == {dict(c.attrs)[key] for c in bench.classes}
    assert len(set(bench.classnames)) == len(bench.classnames)


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_generated_on_first_use_in_the_reference_layout(mini_root, name):
    bench = BENCHMARKS[name]
    ds = build_dataset(_cfg(mini_root, name))
    d = os.path.join(mini_root, bench.dataset_dir)
    assert sorted(os.listdir(os.path.join(d, "images"))) == bench.folders
    with open(os.path.join(d, f"split_zhou_{name}.json")) as f:
        split = json.load(f)
    assert set(split) == {"train", "val", "test"}
    n = bench.images_per_class
    assert len(split["train"]) == len(bench.classes) * round(0.5 * n)
    assert len(split["val"]) == len(bench.classes) * round(0.2 * n)
    rel, label, classname = split["train"][0]
    assert rel.startswith(bench.folders[label] + "/") and classname == bench.classnames[label]
    assert ds.classnames == bench.classnames and ds.num_classes == len(bench.classes)

    # Deterministic: the same images on regeneration, whatever SEED was set before.
    again = os.path.join(mini_root, "again")
    import random

    random.seed(12345)
    build_dataset(_cfg(again, name, "SEED", "7"))
    with open(os.path.join(again, bench.dataset_dir, f"split_zhou_{name}.json")) as f:
        assert json.load(f) == split
    first = os.path.join(bench.folders[0], "0000.png")
    assert open(os.path.join(d, "images", first), "rb").read() == open(
        os.path.join(again, bench.dataset_dir, "images", first), "rb").read()


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_fewshot_and_base_new_protocols(mini_root, name):
    bench = BENCHMARKS[name]
    n = len(bench.classes)
    ds = build_dataset(_cfg(mini_root, name, "DATASET.NUM_SHOTS", "4", "SEED", "1"))
    assert len(ds.train_x) == 4 * n and len(ds.val) == 4 * n
    assert os.path.isfile(os.path.join(mini_root, bench.dataset_dir, "split_fewshot", "shot_4-seed_1.pkl"))
    base = build_dataset(_cfg(mini_root, name, "DATASET.NUM_SHOTS", "4", "SEED", "1", "DATASET.SUBSAMPLE_CLASSES", "base"))
    new = build_dataset(_cfg(mini_root, name, "DATASET.NUM_SHOTS", "4", "SEED", "1", "DATASET.SUBSAMPLE_CLASSES", "new"))
    m = math.ceil(n / 2)
    assert base.classnames == bench.classnames[:m] and new.classnames == bench.classnames[m:]


def test_shades_are_class_specific():
    bench = BENCHMARKS["MiniShades"]
    offsets = bench.shade_offsets()
    lo, hi = bench.shade
    assert all(lo <= abs(o) <= hi for o in offsets)
    for cls, o in zip(bench.classes, offsets):  # warm/cool by the checkerboard over colour x shape
        assert (o > 0) == (sum(cls.cell) % 2 == 0)
    assert BENCHMARKS["MiniShapes"].shade_offsets() == [0.0] * len(BENCHMARKS["MiniShapes"].classes)


def test_lights_depend_on_each_images_background():
    """MiniLights: the same object is drawn warmer on a light background and cooler on a dark one."""
    bench = BENCHMARKS["MiniLights"]
    unlit = replace(bench, light_shade=0.0)
    label = bench.classnames.index("red circle")
    rng_bg = [obj.background for _, obj in bench.draws(label, 12)]
    assert {"light", "dark"} <= set(rng_bg)

    def object_hue(img, ref):  # mean hue (degrees, -180..180) of the pixels the light changed
        a = np.asarray(img.convert("HSV"), np.float32)[..., 0] * 360 / 255
        b = np.asarray(ref.convert("HSV"), np.float32)[..., 0] * 360 / 255
        changed = np.abs(np.asarray(img, np.float32) - np.asarray(ref, np.float32)).sum(-1) > 30
        return float(np.mean(((a - b + 180) % 360 - 180)[changed])) if changed.any() else 0.0

    for lit, ref, bg in zip(bench.images(label, 12), unlit.images(label, 12), rng_bg):
        shift = object_hue(lit, ref)
        assert (shift > 5) if bg == "light" else (shift < -5), (bg, shift)
