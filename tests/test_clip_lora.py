"""CLIP-LoRA through train.py: the iteration budget on the epoch loop, a checkpoint of the adapters only
(ours and the official file), resume, fast = reference encoding, amp, two processes, the script family."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from vlprompt.launch import RunSpec, launch

from .helpers import REPO, coop_args, final_accuracy

LORA_TINY = str(REPO / "configs/trainers/CLIP_LoRA/tiny.yaml")
# 4 shots x 8 classes = 32 images in batches of 6 (5 full ones); 7 iterations per shot = 28 = 5 epochs + 3.
BUDGET = ["DATASET.NUM_SHOTS", "4", "TRAINER.CLIP_LORA.N_ITERS", "7", "DATALOADER.TRAIN_X.BATCH_SIZE", "6",
          "TRAIN.PRINT_FREQ", "1"]
pytestmark = pytest.mark.usefixtures("one_thread")


def lora_args(data_root, out, **kwargs):
    return coop_args(data_root, out, trainer="CLIP_LoRA", config=LORA_TINY, **kwargs)


def weights(run_dir):
    path = sorted((run_dir / "clip_lora").glob("model.pth.tar-*"))[-1]
    return torch.load(path, weights_only=True)["state_dict"]


def test_iterations_checkpoint_of_the_adapters_reload_and_resume(run_train, data_root, tmp_path, monkeypatch):
    out = tmp_path / "run"
    log = run_train(lora_args(data_root, out), BUDGET)
    acc = final_accuracy(log)
    assert ("CLIP-LoRA schedule: 28 iterations (TRAINER.CLIP_LORA.N_ITERS 7 x 4 shots) = 6 epochs of 5 batches of 6; "
            "the last epoch stops after 3; cosine annealing per iteration to 1e-06") in log
    steps = re.findall(r"epoch \[(\d)/6\] batch \[(\d)/(\d)\] .* lr ([\d.e+-]+)", log)
    assert len(steps) == 28 and [s[:3] for s in steps[-3:]] == [("6", "1", "3"), ("6", "2", "3"), ("6", "3", "3")]
    lrs = [float(s[3]) for s in steps]  # the lr after each step: cosine over 28 iterations, stepped every one
    expected = [1e-6 + (0.002 - 1e-6) * (1 + torch.cos(torch.tensor(torch.pi * (t + 1) / 28)).item()) / 2 for t in range(28)]
    assert lrs == pytest.approx(expected, rel=1e-3)

    # The checkpoint holds the adapters only: 2 text + 2 vision blocks x q, k, v x (A, B).
    state = weights(out)
    assert sorted(os.listdir(out / "clip_lora")) == ["checkpoint", "lora_weights.pt", "model.pth.tar-6"]
    assert set(state) == {f"layer_{i}.{p}_proj.w_lora_{m}" for i in range(4) for p in "qkv" for m in "AB"}
    assert state["layer_0.q_proj.w_lora_A"].shape == (2, 64) and state["layer_0.q_proj.w_lora_B"].abs().max() > 0
    assert (out / "clip_lora/model.pth.tar-6").stat().st_size < 200_000  # TinyCLIP itself is 27 MB

    def evaluate(name, model_dir, *opts, load_epoch=()):
        args = lora_args(data_root, tmp_path / name) + ["--eval-only", "--model-dir", str(model_dir), *load_epoch]
        return run_train(args, BUDGET + list(opts))

    assert final_accuracy(evaluate("eval", out)) == acc  # no --load-epoch: the run's final checkpoint
    assert final_accuracy(evaluate("eval6", out, load_epoch=("--load-epoch", "6"))) == acc
    official = tmp_path / "vitb16/caltech101/4shots/seed1"  # the official --save_path layout
    official.mkdir(parents=True)
    shutil.copy(out / "clip_lora/lora_weights.pt", official)
    log_official = evaluate("eval_official", official)
    assert "Loaded the official LoRA weights" in log_official and final_accuracy(log_official) == acc
    with pytest.raises(ValueError, match="r mismatch: this run has 4, the checkpoint 2"):
        evaluate("eval_r4", official, "TRAINER.CLIP_LORA.R", "4")
    with pytest.raises(ValueError, match="trained with TRAINER.CLIP_LORA.ALPHA 1.0, this run has 2.0"):
        evaluate("eval_alpha", out, "TRAINER.CLIP_LORA.ALPHA", "2.0")

    # Interrupted after 3 epochs, then resumed: the same adapters as the uninterrupted run.
    from vlprompt.trainers.clip_lora import CLIP_LoRA

    def stop(self):
        if self.epoch == 3:
            raise KeyboardInterrupt("stopped for the test")

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(CLIP_LoRA, "before_epoch", stop, raising=False)
    with pytest.raises(KeyboardInterrupt):
        run_train(lora_args(data_root, resumed), BUDGET)
    monkeypatch.undo()
    assert sorted(os.listdir(resumed / "clip_lora")) == ["checkpoint", "model-last.pth.tar"]
    with pytest.raises(RuntimeError, match="did not finish"):  # an unfinished run is not evaluated
        evaluate("eval_unfinished", resumed)
    run_train(lora_args(data_root, resumed), BUDGET)
    log_resumed = sorted(resumed.glob("log.txt-*"))[-1].read_text()  # the second run's log (Dassl's naming)
    assert "Previous epoch: 3" in log_resumed and final_accuracy(log_resumed) == acc
    for k, v in weights(resumed).items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)


def test_fast_and_reference_text_encoding_train_the_same(run_train, data_root, tmp_path):
    """Without dropout every step of the fast path (EOT truncation + shared prefix) equals the original
    77-token encoding, so whole runs agree (MODEL.TEXT_ENCODING reference is the official computation)."""
    opts = BUDGET + ["TRAINER.CLIP_LORA.DROPOUT_RATE", "0.0", "INPUT.TRANSFORMS", "['normalize']"]
    logs = {enc: run_train(lora_args(data_root, tmp_path / enc), opts + ["MODEL.TEXT_ENCODING", enc])
            for enc in ("fast", "reference")}
    assert final_accuracy(logs["fast"]) == final_accuracy(logs["reference"])
    fast, ref = weights(tmp_path / "fast"), weights(tmp_path / "reference")
    for k in fast:
        torch.testing.assert_close(fast[k], ref[k], rtol=1e-4, atol=1e-6)


def test_amp_and_a_frozen_tower(run_train, data_root, tmp_path):
    log = run_train(lora_args(data_root, tmp_path / "amp"), BUDGET + ["TRAINER.CLIP_LORA.PREC", "amp"])
    assert "Precision: amp" in log and re.search(r"epoch \[6/6\] batch \[3/3\] .* loss \d", log)
    log = run_train(lora_args(data_root, tmp_path / "vision"), BUDGET + ["TRAINER.CLIP_LORA.ENCODER", "vision"])
    assert "LoRA (q_proj, k_proj, v_proj, r=2, alpha=1, dropout=0.25) in vision blocks [0, 1]" in log
    assert "in text blocks" not in log and set(weights(tmp_path / "vision")) == {
        f"layer_{i}.{p}_proj.w_lora_{m}" for i in range(2) for p in "qkv" for m in "AB"}


def test_two_processes_equal_one_process(data_root, tmp_path, clip_cache):
    """The adapters live inside both encoders (no DDP wrapper): their gradients are averaged as they are
    accumulated, so two processes train the same adapters as one (deterministic inputs, no dropout)."""
    opts = BUDGET + ["TRAINER.CLIP_LORA.DROPOUT_RATE", "0.0", "INPUT.TRANSFORMS", "['normalize']", "TRAINER.CLIP_LORA.N_ITERS",
                     "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "MODEL.BACKBONE.CACHE_DIR", clip_cache]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(REPO / "train.py"), *lora_args(data_root, tmp_path / "one"), *opts],
                   check=True, env=env, capture_output=True)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(REPO / "train.py"),
                          *lora_args(data_root, tmp_path / "two"), *opts], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Distributed run: 2 processes (global batch 8)" in (tmp_path / "two/log.txt").read_text()
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-6)


def test_scripts_fewshot_base_to_novel_and_cross_dataset(script_env, tmp_path, clip_cache):
    work, env = script_env
    env = dict(env, OMP_NUM_THREADS="1", VLPROMPT_IN_PROCESS="1")  # one interpreter start-up per script
    subprocess.run(["bash", "scripts/clip_lora/main.sh", "caltech101", "tiny", "4"], cwd=work, env=env, check=True,
                   capture_output=True)
    exp = work / "output/caltech101/CLIP_LoRA/tiny_4shots"
    assert sorted(p.name for p in exp.iterdir()) == ["seed1", "seed2", "seed3"]
    res = subprocess.run([sys.executable, "parse_test_res.py", str(exp)], cwd=work, env=env, check=True,
                         capture_output=True, text=True).stdout
    accs = [float(a) for a in re.findall(r"accuracy: ([\d.]+)%\. ", res)]
    assert len(accs) == 3 and f"* accuracy: {sum(accs) / 3:.2f}%" in res

    b2n = dict(env, CFG="tiny", SHOTS="4")
    for step in ("base2new_train", "base2new_test"):  # the text-side adapters transfer to the new class names
        subprocess.run(["bash", f"scripts/clip_lora/{step}.sh", "caltech101", "1"], cwd=work, env=b2n, check=True,
                       capture_output=True)
    table = subprocess.run([sys.executable, "parse_test_res.py", "--base2new", "output/base2new"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert re.search(r"caltech101\s.*\d+\.\d+.*\d+\.\d+.*\d+\.\d+", table), table
    test_log = (work / "output/base2new/test_new/caltech101/shots_4/CLIP_LoRA/tiny/seed1/log.txt").read_text()
    assert re.search(r'Loading weights to clip_lora from ".*/train_base/.*/model\.pth\.tar-\d+"', test_log)

    # Cross-dataset: train on a source, evaluate its final checkpoint elsewhere (no --load-epoch needed).
    opts = ("MODEL.BACKBONE.CACHE_DIR", clip_cache)
    train = RunSpec("xd_train", "CLIP_LoRA", "caltech101", "tiny", seed=1, shots=4, root=env["DATA"],
                    output_root=str(tmp_path / "xd"), opts=opts)
    test = RunSpec("xd_test", "CLIP_LoRA", "caltech101", "tiny", seed=1, shots=4, root=env["DATA"],
                   output_root=str(tmp_path / "xd"), opts=opts, source="caltech101")
    assert test.epoch_to_load is None and "--load-epoch" not in test.argv()
    assert launch([train, test], in_process=True).failed == 0
    assert test.results()["metrics"]["accuracy"] == train.results()["metrics"]["accuracy"]
