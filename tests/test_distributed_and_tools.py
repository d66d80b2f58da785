"""torchrun (2 processes, gloo) equals one process; results.json; the plot tool; the sweep runner."""
import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from .helpers import REPO, coop_args, final_accuracy

DETERMINISTIC = ["DATASET.NUM_SHOTS", "4", "TRAINER.COOP.CSC", "True", "OPTIM.MAX_EPOCH", "3",
                 "INPUT.TRANSFORMS", "['normalize']"]  # no random augmentation: batches fully determine the step


def test_two_processes_equal_one_process(data_root, tmp_path, clip_cache):
    args = lambda out: coop_args(data_root, out) + DETERMINISTIC + ["MODEL.BACKBONE.CACHE_DIR", clip_cache]  # noqa: E731
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(REPO / "train.py"), *args(tmp_path / "one")], check=True, env=env,
                   capture_output=True)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(REPO / "train.py"),
                          *args(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    log_two = (two / "log.txt").read_text()
    assert "Distributed run: 2 processes (global batch 8)" in log_two
    # One log, one set of files (rank 0 writes them): config.yaml and classes.json are for vlprompt.predict.
    assert sorted(os.listdir(two)) == ["classes.json", "config.yaml", "log.txt", "prompt_learner", "results.json",
                                       "tensorboard"]
    assert sorted(os.listdir(two / "prompt_learner")) == ["checkpoint", "model.pth.tar-3"]
    # The single-process run wrote the seed's few-shot split; both ranks of the second run read it.
    assert "Saving preprocessed few-shot data" in (one / "log.txt").read_text()
    assert "Loading preprocessed few-shot data" in log_two
    ctx_one = torch.load(one / "prompt_learner/model.pth.tar-3", weights_only=True)["state_dict"]["ctx"]
    ctx_two = torch.load(two / "prompt_learner/model.pth.tar-3", weights_only=True)["state_dict"]["ctx"]
    torch.testing.assert_close(ctx_two, ctx_one, rtol=1e-4, atol=1e-5)
    assert final_accuracy(log_two) == final_accuracy((one / "log.txt").read_text())
    r = json.loads((two / "results.json").read_text())
    assert r["world_size"] == 2 and r["metrics"]["accuracy"] == pytest.approx(final_accuracy(log_two), abs=0.05)


def test_results_json_fields(run_train, data_root, tmp_path):
    runs = tmp_path / "runs"
    log = run_train(coop_args(data_root, runs / "run"), ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1"])
    r = json.loads((runs / "run/results.json").read_text())
    assert {"config_hash", "trainer", "method", "backbone", "dataset", "shots", "seed", "split", "metrics",
            "wall_time_s", "device", "world_size"} <= set(r)
    assert (r["trainer"], r["dataset"], r["shots"], r["seed"], r["split"]) == ("CoOp", "Caltech101", 2, 1, "test")
    assert r["method"] == "CoOp (M=16, unified, end)" and r["backbone"] == "TinyCLIP"
    assert r["metrics"]["accuracy"] == pytest.approx(final_accuracy(log), abs=0.05)
    assert len(r["config_hash"]) == 16 and r["wall_time_s"] > 0 and r["device"] == "cpu"
    import parse_test_res as ptr

    metric = [{"name": "accuracy", "regex": ptr.metric_regex("accuracy")}]
    from_json = ptr.read_seed_values(str(runs), metric, ptr.END_OF_TRAINING, prefer_json=True)
    from_log = ptr.read_seed_values(str(runs), metric, ptr.END_OF_TRAINING)
    assert from_json[0]["file"].endswith("results.json") and from_log[0]["file"].endswith("log.txt")
    assert from_json[0]["accuracy"] == pytest.approx(from_log[0]["accuracy"], abs=0.05)


def _fake_result(path, dataset, method, shots, seed, acc):
    path.mkdir(parents=True)
    path.joinpath("results.json").write_text(json.dumps({
        "trainer": method, "method": method, "backbone": "RN50", "dataset": dataset, "shots": shots, "seed": seed,
        "split": "test", "subsample_classes": "all", "metrics": {"accuracy": acc}}))


def test_plot_tool_writes_png(tmp_path):
    root = tmp_path / "output"
    for d, dataset in enumerate(["Caltech101", "DescribableTextures"]):
        for k in (1, 2, 4, 8, 16):
            for s in (1, 2, 3):
                _fake_result(root / dataset / "CoOp" / f"{k}shots" / f"seed{s}", dataset, "CoOp", k, s, 50 + 2 * k + s + d)
        _fake_result(root / "ZeroshotCLIP" / dataset, dataset, "ZeroshotCLIP", -1, -1, 55.0)
    sys.path.insert(0, str(REPO / "tools"))
    import plot_fewshot

    out = plot_fewshot.plot(plot_fewshot.collect(str(root)), str(tmp_path / "fig.png"))
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (1200, 320)  # 3 panels (2 datasets + average) at 100 dpi
    pdf = plot_fewshot.plot(plot_fewshot.collect(str(root)), str(tmp_path / "fig.pdf"))
    assert open(pdf, "rb").read(4) == b"%PDF"


def test_sweep_runs_grid_and_skips_finished(data_root, tmp_path, clip_cache):
    cmd = [sys.executable, str(REPO / "scripts/sweep.py"), "--trainer", "CoOp", "--datasets", "caltech101",
           "--shots", "1", "--seeds", "1", "2", "--configs", "tiny_ep10", "--root", data_root,
           "--output-root", str(tmp_path / "output"), "--", "OPTIM.MAX_EPOCH", "1", "MODEL.BACKBONE.CACHE_DIR", clip_cache]
    first = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "[1/2]" in first and "[2/2]" in first and "Done: 2 run, 0 skipped, 0 failed" in first
    exp = tmp_path / "output/caltech101/CoOp/tiny_ep10_1shots/nctx16_cscFalse_ctpend"
    assert (exp / "seed1/results.json").is_file() and (exp / "seed2/results.json").is_file()
    again = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "Done: 0 run, 2 skipped, 0 failed" in again and again.count("(so skip this job)") == 2
    (exp / "seed2/results.json").unlink()
    sep = cmd.index("--")
    listed = subprocess.run(cmd[:sep] + ["--print"] + cmd[sep:], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert listed.count("train.py") == 1 and "seed2" in listed and "seed1" not in listed


def test_compare_table_of_methods(tmp_path, capsys):
    """parse_test_res.py --compare: one row per LABEL=DIR (a single run, or seed sub-folders), as make demo prints."""
    import parse_test_res as ptr

    _fake_result(tmp_path / "zs", "Caltech101", "ZeroshotCLIP", 0, 1, 50.0)
    for seed, acc in ((1, 70.0), (2, 80.0), (3, 90.0)):
        _fake_result(tmp_path / "coop" / f"seed{seed}", "Caltech101", "CoOp", 16, seed, acc)
    csv_path = tmp_path / "t.csv"
    rows = ptr.compare_table([f"zero-shot={tmp_path / 'zs'}", f"CoOp, 16 shots={tmp_path / 'coop'}"],
                             csv_path=str(csv_path))
    assert rows[0] == ["zero-shot", 50.0, 0.0, 1]
    assert rows[1][0] == "CoOp, 16 shots" and rows[1][1] == pytest.approx(80.0)
    assert rows[1][2] == pytest.approx(8.165, abs=1e-3) and rows[1][3] == 3  # population std, as the seed summary
    out = capsys.readouterr().out
    assert "CoOp, 16 shots" in out and "80.00" in out
    assert "\"CoOp, 16 shots\",80.0,8.16,3" in csv_path.read_text()  # quoted by the csv module
    with pytest.raises(SystemExit, match="LABEL=DIR"):
        ptr.compare_table([str(tmp_path / "zs")])
    with pytest.raises(SystemExit, match="no finished run"):
        (tmp_path / "empty").mkdir()
        ptr.compare_table([f"x={tmp_path / 'empty'}"])
