"""Your own data in, a usable classifier out: ImageFolder / ImageList datasets through the scripts, then
vlprompt.predict and vlprompt.export on a trained MiniCLIP run."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from vlprompt.config import setup_cfg
from vlprompt.data import build_dataset
from vlprompt.mini.benchmarks import BENCHMARKS, generate

from .helpers import REPO, coop_args

MINI_COOP = str(REPO / "configs/trainers/CoOp/mini_ep50.yaml")


@pytest.fixture(scope="module")
def mini_tinted(tmp_path_factory):
    """MiniShapesTinted generated once (shared with the MiniCLIP tests when they ran first)."""
    root = tmp_path_factory.getbasetemp() / "miniclip_data"
    folder = root / BENCHMARKS["MiniShapesTinted"].dataset_dir
    if not (folder / "images").is_dir():
        generate(BENCHMARKS["MiniShapesTinted"], str(folder))
    return root, folder


@pytest.fixture(scope="module")
def my_shapes(mini_tinted, tmp_path_factory):
    """A user's folder of class folders: 8 of MiniShapesTinted's classes, 40 images each."""
    _, folder = mini_tinted
    user = tmp_path_factory.mktemp("own") / "my_shapes"
    for cls in sorted(os.listdir(folder / "images"))[:8]:
        (user / cls).mkdir(parents=True)
        for name in sorted(os.listdir(folder / "images" / cls))[:40]:
            shutil.copy(folder / "images" / cls / name, user / cls / name)
    return user


def _run(cmd, work, env):
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_folder_dataset_trains_coop_and_adapter_and_base2new_through_the_scripts(script_env, my_shapes, tmp_path,
                                                                                  clip_cache):
    work, env = script_env
    yaml_file = tmp_path / "my_shapes.yaml"  # the user's copy of configs/datasets/image_folder.yaml
    yaml_file.write_text('DATASET:\n  NAME: "ImageFolder"\n')
    env = dict(env, DATA=str(my_shapes), SEEDS="1", OMP_NUM_THREADS="1")
    opts = ["OPTIM.MAX_EPOCH", "5", "MODEL.BACKBONE.CACHE_DIR", clip_cache]
    _run(["bash", "scripts/common/fewshot_main.sh", "CoOp", str(yaml_file), "mini_ep50", "4", *opts], work, env)
    _run(["bash", "scripts/common/fewshot_main.sh", "CLIP_Adapter", str(yaml_file), "mini_ep50", "4", *opts], work, env)
    for exp in ("CoOp/mini_ep50_4shots/nctx16_cscFalse_ctpend", "CLIP_Adapter/mini_ep50_4shots"):
        record = json.loads((work / "output/my_shapes" / exp / "seed1/results.json").read_text())
        assert record["status"] == "completed" and record["dataset"] == "ImageFolder"
        assert record["metrics"]["accuracy"] > 100 / 8 + 10  # well above chance (8 classes)
    log = (work / "output/my_shapes/CLIP_Adapter/mini_ep50_4shots/seed1/log.txt").read_text()
    assert "Prompts: ['a photo of a red circle.'" in log  # "00_red_circle": numbering dropped, "_" a space
    assert "Split file GENERATED" in (work / "output/my_shapes/CoOp/mini_ep50_4shots/nctx16_cscFalse_ctpend/seed1/log.txt").read_text()

    b2n = dict(env, CFG="mini_ep50_ctxv1")
    _run(["bash", "scripts/common/base2new_train.sh", "CoOp", str(yaml_file), "1", *opts], work, b2n)
    _run(["bash", "scripts/common/base2new_test.sh", "CoOp", str(yaml_file), "1", *opts], work, b2n)
    new_log = (work / "output/base2new/test_new/my_shapes/shots_16/CoOp/mini_ep50_ctxv1/seed1/log.txt").read_text()
    assert "SUBSAMPLE NEW CLASSES!" in new_log and "# classes  4" in new_log
    table = _run([sys.executable, "parse_test_res.py", "--base2new", "output/base2new"], work, env)
    assert re.search(r"my_shapes\s+[\d.]+\s+[\d.]+\s+[\d.]+", table), table


def test_split_is_the_same_whatever_the_run_seed(my_shapes, tmp_path):
    user = tmp_path / "copy"
    shutil.copytree(my_shapes, user, ignore=shutil.ignore_patterns("split_*", "split_fewshot"))

    def split_with_seed(seed):
        cfg = setup_cfg(opts=["DATASET.NAME", "ImageFolder", "DATASET.ROOT", str(user), "SEED", str(seed)])
        import random

        random.seed(seed)  # as train.py seeds everything first
        build_dataset(cfg)
        text = (user / "split_ImageFolder.json").read_text()
        (user / "split_ImageFolder.json").unlink()
        return text

    first, second = split_with_seed(1), split_with_seed(7)
    assert first == second
    split = json.loads(first)
    assert [len(split[k]) for k in ("train", "val", "test")] == [8 * 20, 8 * 8, 8 * 12]  # 50/20/30 of 40 a class


def test_csv_list_with_and_without_split_column(my_shapes, tmp_path):
    rows = ["path,label"]
    for cls in sorted(c for c in os.listdir(my_shapes) if c[0].isdigit()):  # the class folders
        rows += [f"{os.path.join(my_shapes, cls, f)},{cls.split('_', 1)[1]}" for f in sorted(os.listdir(my_shapes / cls))]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    cfg = setup_cfg(opts=["DATASET.NAME", "ImageList", "DATASET.ROOT", str(tmp_path), "DATASET.CUSTOM.LIST", "list.csv"])
    ds = build_dataset(cfg)
    assert ds.classnames == sorted({r.split(",")[1] for r in rows[1:]}) and len(ds.train_x) == 8 * 20
    assert (tmp_path / "split_list.json").is_file()
    # With a split column the list decides; a row without one is an error.
    with_split = ["path,label,split"] + [f"{r},{'train' if i % 3 else 'test'}" for i, r in enumerate(rows[1:])]
    (tmp_path / "split.csv").write_text("\n".join(with_split) + "\n")
    cfg = setup_cfg(opts=["DATASET.NAME", "ImageList", "DATASET.ROOT", str(tmp_path), "DATASET.CUSTOM.LIST", "split.csv"])
    ds = build_dataset(cfg)
    assert len(ds.test) == len(rows[1:][::3]) and not ds.val
    (tmp_path / "bad.csv").write_text("\n".join(with_split[:3] + [rows[5]]) + "\n")
    cfg = setup_cfg(opts=["DATASET.NAME", "ImageList", "DATASET.ROOT", str(tmp_path), "DATASET.CUSTOM.LIST", "bad.csv"])
    with pytest.raises(ValueError, match="gives a split for 2 of 3 rows"):
        build_dataset(cfg)


def test_user_data_problems_are_reported_before_training(tmp_path, my_shapes):
    user = tmp_path / "messy"
    shutil.copytree(my_shapes, user, ignore=shutil.ignore_patterns("split_*", "split_fewshot"))
    (user / "09_empty").mkdir()
    cfg = setup_cfg(opts=["DATASET.NAME", "ImageFolder", "DATASET.ROOT", str(user)])
    with pytest.raises(ValueError, match=r"1 class folder\(s\) .* hold no images: 09_empty"):
        build_dataset(cfg)
    (user / "09_empty").rmdir()
    classes = sorted(c for c in os.listdir(user) if c[0].isdigit())
    img = sorted(os.listdir(user / classes[0]))[0]
    shutil.copy(user / classes[0] / img, user / classes[1] / "copy.png")  # one photo in two classes
    with pytest.warns(UserWarning, match="identical image files"):
        build_dataset(cfg)
    with pytest.raises(Exception, match="is not a folder"):
        build_dataset(setup_cfg(opts=["DATASET.NAME", "ImageFolder", "DATASET.ROOT", str(tmp_path / "nope")]))
    name = classes[0].split("_", 1)[1]
    shutil.copytree(user / classes[0], user / f"99_{name}")  # numbering aside, the same class name twice
    with pytest.raises(ValueError, match=rf"same class name \({classes[0]} -> .*, 99_{name} -> "):
        build_dataset(cfg)


# ----------------------------------------------------------------------------- predict and export
@pytest.fixture(scope="module")
def trained_run(mini_tinted, tmp_path_factory, clip_cache):
    """CoOp, 16 shots, 5 epochs on MiniShapesTinted (the real reader), through train.py."""
    from vlprompt.launch import run_in_process

    root, _ = mini_tinted
    out = tmp_path_factory.mktemp("predict") / "run"
    args = coop_args(str(root), out, config=MINI_COOP, dataset_config=str(REPO / "configs/datasets/mini_shapes_tinted.yaml"))
    run_in_process(args + ["DATASET.NUM_SHOTS", "16", "OPTIM.MAX_EPOCH", "5", "MODEL.BACKBONE.CACHE_DIR", clip_cache])
    cfg = setup_cfg(dataset_config_file=str(REPO / "configs/datasets/mini_shapes_tinted.yaml"),
                    opts=["DATASET.ROOT", str(root)])
    test = build_dataset(cfg).test
    return out, test


def test_predict_reproduces_the_runs_test_accuracy_and_the_export_needs_no_run_folder(trained_run, tmp_path, clip_cache):
    from vlprompt import load_classifier
    from vlprompt.export import export_run

    run, test = trained_run
    accuracy = json.loads((run / "results.json").read_text())["metrics"]["accuracy"]
    clf = load_classifier(str(run), cache_dir=clip_cache)
    labels, probs = clf.predict([d.impath for d in test])
    assert probs.shape == (len(test), 24) and torch.allclose(probs.sum(1), torch.ones(len(test)), atol=1e-5)
    hits = sum(label == d.classname for label, d in zip(labels, test))
    assert 100.0 * hits / len(test) == pytest.approx(accuracy, abs=1e-9)  # the evaluator's number, same images

    exported = export_run(str(run), str(tmp_path / "shapes.vlprompt.pt"))
    assert os.path.getsize(exported) < 2_000_000  # the learned context and the recipe, not CLIP
    moved = tmp_path / "gone"
    shutil.move(str(run), str(moved))  # the run folder is no longer there
    try:
        again_labels, again_probs = load_classifier(exported, cache_dir=clip_cache).predict([d.impath for d in test])
        assert again_labels == labels and torch.equal(again_probs, probs)
        out = subprocess.run([sys.executable, "-m", "vlprompt.predict", exported, test[0].impath, test[1].impath,
                              "--topk", "3", "--json", "--cache-dir", clip_cache],
                             capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout)
        assert [r["image"] for r in result] == [test[0].impath, test[1].impath]
        assert result[0]["predictions"][0]["class"] == labels[0] and len(result[0]["predictions"]) == 3
        assert result[0]["predictions"][0]["probability"] == pytest.approx(float(probs[0].max()), abs=1e-5)
    finally:
        shutil.move(str(moved), str(run))


def test_new_class_names_for_prompt_methods(trained_run, clip_cache):
    from vlprompt import load_classifier

    run, test = trained_run
    names = sorted({d.classname for d in test})[:3]
    clf = load_classifier(str(run), classnames=names, cache_dir=clip_cache)
    labels, probs = clf.predict([test[0].impath])
    assert probs.shape == (1, 3) and labels[0] in names


def test_linear_probe_refuses_new_classes(run_train, data_root, tmp_path, clip_cache):
    from vlprompt import load_classifier

    out = tmp_path / "lp"
    run_train(coop_args(data_root, out, trainer="LinearProbe", config=str(REPO / "configs/trainers/LinearProbe/tiny.yaml")),
              ["DATASET.NUM_SHOTS", "2", "TRAINER.FEATURES.CACHE_DIR", str(tmp_path / "feats")])
    clf = load_classifier(str(out), cache_dir=clip_cache)
    assert len(clf.classnames) == 8
    with pytest.raises(ValueError, match="learns one weight per training class"):
        load_classifier(str(out), classnames=["cat", "dog"], cache_dir=clip_cache)
