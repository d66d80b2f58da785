"""Runs that fail are loud and marked failed; nothing is lost: resume checkpoints, config-checked resume,
results.json that says what the run used, scripts that take paths with spaces."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from vlprompt.launch import RunSpec, launch, run_status

from .helpers import REPO, TINY_CFG, coop_args, final_accuracy

SHOTS = ["DATASET.NUM_SHOTS", "8", "TRAINER.COOP.CSC", "True"]


def test_divergence_fails_loudly_and_is_marked_failed(run_train, data_root, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FloatingPointError) as err:
        run_train(coop_args(data_root, out), SHOTS + ["OPTIM.LR", "1e6"])
    msg = str(err.value)
    assert "infinite or NaN" in msg and "epoch " in msg and "batch " in msg and "lr 1.0000e+06" in msg
    log = (out / "log.txt").read_text()
    assert f"Run failed: {msg}" in log and "Traceback" in log  # the message and the traceback are in log.txt
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "failed" and record["error"] == msg and record["metrics"] == {}
    assert run_status(str(out)) == "failed"


def test_a_failed_run_is_reported_not_repeated_and_a_crashed_one_is_retried(data_root, tmp_path, clip_cache, capsys):
    opts = ("MODEL.BACKBONE.CACHE_DIR", clip_cache, "OPTIM.MAX_EPOCH", "2", "DATASET.NUM_SHOTS", "2")
    spec = RunSpec("fewshot", "CoOp", "caltech101", TINY_CFG, seed=1, shots=2, root=data_root,
                   output_root=str(tmp_path / "out"), opts=opts + ("OPTIM.LR", "1e30"))
    first = launch([spec], in_process=True)
    assert first.failed == 1 and spec.status() == "failed"
    again = launch([spec], in_process=True)
    assert (again.ran, again.failed) == (0, 1)  # reported, not re-run
    assert "failed earlier (Loss is infinite or NaN!" in capsys.readouterr().err
    # A run that crashed (no results.json) is not "done": the next launch runs it again.
    crashed = RunSpec("fewshot", "CoOp", "caltech101", TINY_CFG, seed=2, shots=2, root=data_root,
                      output_root=str(tmp_path / "out"), opts=opts)
    os.makedirs(crashed.output_dir)
    with open(os.path.join(crashed.output_dir, "log.txt"), "w") as f:
        f.write("Traceback (most recent call last):\n")
    assert crashed.status() == "interrupted"
    summary = launch([crashed], in_process=True)
    assert (summary.ran, summary.failed) == (1, 0) and crashed.status() == "finished"


def test_results_json_records_what_the_run_used(run_train, data_root, tmp_path):
    out = tmp_path / "run"
    log = run_train(coop_args(data_root, out), ["DATASET.NUM_SHOTS", "12", "TRAINER.COOP.PREC", "fp16",
                                                "OPTIM.MAX_EPOCH", "1"])
    assert "PREC: fp16" in log  # the config asked for fp16 ...
    assert "Precision: fp32 (TRAINER.COOP.PREC fp16 needs a GPU)" in log  # ... the CPU ran fp32, and says so
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "completed" and record["precision"] == "fp32" and record["device"] == "cpu"
    assert record["images_evaluated"] == 48 and record["images_skipped"] == {"train_x": 0, "val": 0, "test": 0}
    assert record["shots_obtained"]["requested"] == 12 and record["shots_obtained"]["min_per_class"] == 10
    assert record["shots_obtained"]["num_short_classes"] == 8  # 10 training images a class < 12 asked


def test_resume_with_nothing_to_resume_is_an_error(run_train, data_root, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="there is no checkpoint to resume from"):
        run_train(coop_args(data_root, tmp_path / "run") + ["--resume", str(empty)], SHOTS)
    assert not (tmp_path / "run/results.json").exists()


def test_resume_refuses_a_checkpoint_of_another_config(run_train, data_root, tmp_path):
    out = tmp_path / "run"
    run_train(coop_args(data_root, out), SHOTS + ["OPTIM.MAX_EPOCH", "2"])
    before = (out / "results.json").read_text()
    with pytest.raises(ValueError) as err:  # a 4-shot, lr 0.5 run into the finished 8-shot run's folder
        run_train(coop_args(data_root, out), ["DATASET.NUM_SHOTS", "4", "TRAINER.COOP.CSC", "True", "OPTIM.LR", "0.5",
                                              "OPTIM.MAX_EPOCH", "2"])
    msg = str(err.value)
    assert "another configuration" in msg and "DATASET.NUM_SHOTS: 8 in the checkpoint, 4 now" in msg
    assert "OPTIM.LR: 0.02 in the checkpoint, 0.5 now" in msg and "new --output-dir" in msg
    assert (out / "results.json").read_text() == before  # the finished run's result is untouched


def test_a_run_killed_at_a_random_epoch_resumes_to_the_same_result(data_root, tmp_path, clip_cache):
    """SIGKILL during training (no clean-up at all), then the same command again: it resumes from the
    rolling checkpoint of the last finished epoch and ends exactly as an uninterrupted run."""
    epochs = 100
    opts = SHOTS + ["OPTIM.MAX_EPOCH", str(epochs), "MODEL.BACKBONE.CACHE_DIR", clip_cache]
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def cmd(out):
        return [sys.executable, str(REPO / "train.py"), *coop_args(data_root, out), *opts]

    subprocess.run(cmd(tmp_path / "full"), check=True, capture_output=True, env=env)
    kill_at = random.Random(0).randint(3, 20)
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    last = out / "prompt_learner/model-last.pth.tar"  # rewritten (atomically) after every epoch
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and torch.load(last, weights_only=True)["epoch"] >= kill_at:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()
    assert (out / "prompt_learner/model-last.pth.tar").exists()
    resumed = subprocess.run(cmd(out), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Found checkpoint at" in resumed.stdout and "Previous epoch: " in resumed.stdout
    final = [torch.load(d / f"prompt_learner/model.pth.tar-{epochs}", weights_only=True)["state_dict"]["ctx"]
             for d in (tmp_path / "full", out)]
    assert torch.equal(*final)
    accs = [json.loads((d / "results.json").read_text())["metrics"]["accuracy"] for d in (tmp_path / "full", out)]
    assert accs[0] == accs[1]


def test_scripts_take_paths_with_spaces(script_env, tmp_path):
    import shutil

    work, env = script_env
    spaced = tmp_path / "my data"
    shutil.copytree(env["DATA"], spaced)
    env = dict(env, DATA=str(spaced), SEEDS="1", OMP_NUM_THREADS="1")
    result = subprocess.run(["bash", "scripts/common/fewshot_main.sh", "CoOp", "caltech101", "tiny_ep10", "1",
                             "OPTIM.MAX_EPOCH", "1"], cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    exp = work / "output/caltech101/CoOp/tiny_ep10_1shots/nctx16_cscFalse_ctpend/seed1"
    assert json.loads((exp / "results.json").read_text())["status"] == "completed"
    assert final_accuracy((exp / "log.txt").read_text()) >= 0
    assert f"root: {spaced}" in (exp / "log.txt").read_text()
