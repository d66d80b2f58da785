"""CLIP_Adapter: zero-shot equivalence at ratio 0, training on images or cached views, outputs and script."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from vlprompt.config import setup_cfg
from vlprompt.engine import build_trainer

from .helpers import CALTECH_CFG, REPO, coop_args, final_accuracy

CA_TINY = str(REPO / "configs/trainers/CLIP_Adapter/tiny.yaml")
pytestmark = pytest.mark.usefixtures("one_thread")


def _trainer(name, data_root, clip_cache, opts=()):
    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=CA_TINY, opts=[
        "DATASET.ROOT", data_root, "MODEL.BACKBONE.CACHE_DIR", clip_cache, "OUTPUT_DIR", "unused", "VERBOSE", "False",
        "TRAINER.NAME", name, *opts])
    return build_trainer(cfg)


def test_ratio_zero_equals_zeroshot_and_only_the_adapter_trains(data_root, clip_cache):
    zs = _trainer("ZeroshotCLIP", data_root, clip_cache)
    ca = _trainer("CLIP_Adapter", data_root, clip_cache, ["TRAINER.CLIP_ADAPTER.ALPHA", "0.0"])
    image = next(iter(zs.test_loader))["img"]
    with torch.no_grad():
        expected = zs.model_inference(image)
        ca.before_test()
        got = ca.model_inference(image)
        ca.after_test()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ca.model(image), expected, atol=1e-5, rtol=1e-5)

    c = ca.model.image_encoder.output_dim  # the backbone's embedding dim, not RN50's 1024
    assert [n for n, p in ca.model.named_parameters() if p.requires_grad] == [
        "clip_adapter.fc.0.weight", "clip_adapter.fc.2.weight"]
    assert ca.model.clip_adapter.fc[0].weight.shape == (c // 4, c) and ca.model.clip_adapter.fc[0].bias is None
    assert ca.model.clip_adapter.fc[2].weight.shape == (c, c // 4)
    assert all(p.dtype == torch.float32 for p in ca.model.parameters())
    assert ca.get_model_names() == ["clip_adapter"]
    with pytest.raises(ValueError, match="ALPHA"):
        _trainer("CLIP_Adapter", data_root, clip_cache, ["TRAINER.CLIP_ADAPTER.ALPHA", "1.5"])


def test_training_beats_zeroshot_on_images_and_cached_views(run_train, data_root, tmp_path):
    zs = final_accuracy(run_train(coop_args(data_root, tmp_path / "zs", trainer="ZeroshotCLIP", config=CA_TINY)
                                  + ["--eval-only"]))
    exp = tmp_path / "exp"
    opts = ["DATASET.NUM_SHOTS", "16", "TRAINER.FEATURES.CACHE_DIR", str(tmp_path / "features")]
    log = run_train(coop_args(data_root, exp / "seed1", trainer="CLIP_Adapter", config=CA_TINY), opts)
    acc = final_accuracy(log)
    assert acc >= zs + 25, f"adapter {acc}% vs zero-shot {zs}%"
    assert "Extracting" not in log  # TRAIN_VIEWS 0: images are encoded on the fly
    assert re.search(r"epoch \[20/20\] batch \[\d+/\d+\] .* loss [\d.]+ \([\d.]+\) acc [\d.]+ \([\d.]+\) lr", log)
    ckpt = torch.load(exp / "seed1/clip_adapter/model.pth.tar-20", weights_only=True)
    assert set(ckpt["state_dict"]) == {"fc.0.weight", "fc.2.weight"}
    eval_log = run_train(coop_args(data_root, tmp_path / "eval", trainer="CLIP_Adapter", config=CA_TINY)
                         + ["--eval-only", "--model-dir", str(exp / "seed1"), "--load-epoch", "20"], opts)
    assert final_accuracy(eval_log) == acc

    # Cached augmented views: extracted once, then reused with an identical run (the extraction does
    # not consume the global RNG, so batches and views drawn afterwards are the same).
    views = opts + ["TRAINER.FEATURES.TRAIN_VIEWS", "3"]
    log2 = run_train(coop_args(data_root, exp / "seed2", seed=2, trainer="CLIP_Adapter", config=CA_TINY), views)
    assert "Extracting train features (80 images x 3 view(s))" in log2
    assert final_accuracy(log2) > zs
    log2b = run_train(coop_args(data_root, tmp_path / "again", seed=2, trainer="CLIP_Adapter", config=CA_TINY), views)
    assert "Reusing cached train features" in log2b and "Extracting" not in log2b
    w = [torch.load(d / "clip_adapter/model.pth.tar-20", weights_only=True)["state_dict"]["fc.0.weight"]
         for d in (exp / "seed2", tmp_path / "again")]
    assert torch.equal(*w) and final_accuracy(log2b) == final_accuracy(log2)

    # parse_test_res aggregates the adapter's logs; main.sh uses the same layout (existing runs are skipped).
    res = subprocess.run([sys.executable, str(REPO / "parse_test_res.py"), str(exp)], check=True,
                         capture_output=True, text=True).stdout
    accs = [float(a) for a in re.findall(r"accuracy: ([\d.]+)%\. ", res)]
    assert accs == [acc, final_accuracy(log2)]
    assert f"* accuracy: {np.mean(accs):.2f}% +- {np.std(accs):.2f}%" in res
    work = tmp_path / "work"
    layout = work / "output/caltech101/CLIP_Adapter/tiny_16shots"
    layout.mkdir(parents=True)
    for seed in (1, 2, 3):  # finished runs (results.json): the one rule every launcher uses
        (layout / f"seed{seed}").mkdir()
        shutil.copy(exp / "seed1/results.json", layout / f"seed{seed}/results.json")
    for name in ("train.py", "configs", "scripts"):
        os.symlink(REPO / name, work / name)
    env = dict(os.environ, DATA=data_root, OMP_NUM_THREADS="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    out = subprocess.run(["bash", "scripts/clip_adapter/main.sh", "caltech101", "tiny", "16"], cwd=work, env=env,
                         check=True, capture_output=True, text=True).stdout
    assert out.count("Oops! The results exist at output/caltech101/CLIP_Adapter/tiny_16shots/seed") == 3


@pytest.mark.parametrize("path", sorted((REPO / "configs/trainers/CLIP_Adapter").glob("*.yaml")), ids=lambda p: p.stem)
def test_configs_merge(path):
    cfg = setup_cfg(config_file=str(path))
    assert cfg.TRAINER.CLIP_ADAPTER.PREC == "fp32" and cfg.OPTIM.WARMUP_EPOCH == 1
