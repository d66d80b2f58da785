"""End-to-end CoOp / ZeroshotCLIP runs on generated data with the tiny CLIP (train.py in-process)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vlprompt.config import setup_cfg
from vlprompt.data import load_datum_pickle
from vlprompt.engine import build_trainer

from .helpers import CALTECH_CFG, TINY_CFG, coop_args, final_accuracy

CSC = ["TRAINER.COOP.CSC", "True", "DATASET.NUM_SHOTS", "8"]


def _losses(log):
    return [float(x) for x in re.findall(r"loss ([\d.]+) \(", log)]


def test_coop_learns_and_eval_only_reproduces(run_train, data_root, tmp_path):
    out = tmp_path / "run"
    log = run_train(coop_args(data_root, out), CSC + ["OPTIM.MAX_EPOCH", "20", "OPTIM.LR", "0.05"])
    losses = _losses(log)
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, "training loss did not go down"
    acc = final_accuracy(log)
    assert acc >= 50.0, f"accuracy {acc} is not clearly above chance (12.5%)"
    assert "Finish training" in log and "Deploy the last-epoch model" in log and re.search(r"Elapsed: \d+:\d\d:\d\d", log)
    ckpt_dir = out / "prompt_learner"
    assert (ckpt_dir / "checkpoint").read_text() == "model.pth.tar-20\n"
    ckpt = torch.load(ckpt_dir / "model.pth.tar-20", weights_only=True)
    # The reference's entries, plus rng_state (exact resume) and the config (resume refuses another config).
    assert set(ckpt) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result", "rng_state", "config",
                         "config_hash"}
    assert ckpt["config"]["DATASET.NUM_SHOTS"] == 8 and "OUTPUT_DIR" not in ckpt["config"]
    assert not (ckpt_dir / "model-last.pth.tar").exists()  # the rolling resume checkpoint is gone at the end
    assert ckpt["epoch"] == 20
    assert set(ckpt["state_dict"]) == {"ctx", "token_prefix", "token_suffix"}
    assert (out / "tensorboard").is_dir()

    eval_log = run_train(coop_args(data_root, tmp_path / "eval") + ["--eval-only", "--model-dir", str(out),
                                                                      "--load-epoch", "20"], CSC)
    assert f'Loading weights to prompt_learner from "{ckpt_dir / "model.pth.tar-20"}" (epoch = 20)' in eval_log
    assert final_accuracy(eval_log) == acc


def test_only_the_context_is_trained(data_root, clip_cache):
    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=TINY_CFG,
                    opts=["DATASET.ROOT", data_root, "MODEL.BACKBONE.CACHE_DIR", clip_cache, "OUTPUT_DIR", "unused",
                          "VERBOSE", "False", "TRAINER.NAME", "CoOp"])
    trainer = build_trainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable == ["prompt_learner.ctx"]
    batch = next(iter(trainer.train_loader_x))
    trainer.forward_backward(batch)
    assert trainer.model.prompt_learner.ctx.grad is not None and trainer.model.prompt_learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for n, p in trainer.model.named_parameters() if n != "prompt_learner.ctx")
    after = trainer.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == ["prompt_learner.ctx"]


def test_resume_equals_uninterrupted_run(run_train, data_root, tmp_path):
    opts = CSC + ["OPTIM.MAX_EPOCH", "4"]
    run_train(coop_args(data_root, tmp_path / "full"), opts)
    # "Interrupted" run: 2 epochs, checkpoint every epoch; then resume to 4 epochs.
    run_train(coop_args(data_root, tmp_path / "part"), CSC + ["OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1"])
    log = run_train(coop_args(data_root, tmp_path / "resumed") + ["--resume", str(tmp_path / "part")], opts)
    assert f"Found checkpoint at {tmp_path / 'part'} (will resume training)" in log
    assert "Previous epoch: 2" in log
    full = torch.load(tmp_path / "full/prompt_learner/model.pth.tar-4", weights_only=True)["state_dict"]["ctx"]
    resumed = torch.load(tmp_path / "resumed/prompt_learner/model.pth.tar-4", weights_only=True)["state_dict"]["ctx"]
    # Model, optimiser (momentum), schedule and RNG state are restored: the runs are identical.
    assert torch.equal(resumed, full)
    assert final_accuracy(log) == final_accuracy((tmp_path / "full/log.txt").read_text())


def test_same_seed_same_split_and_result(run_train, data_root, tmp_path):
    opts = CSC + ["OPTIM.MAX_EPOCH", "3"]
    log1 = run_train(coop_args(data_root, tmp_path / "a", seed=2), opts)
    cache = Path(data_root, "caltech-101/split_fewshot/shot_8-seed_2.pkl")
    split1 = load_datum_pickle(str(cache))  # Dassl's Datum name: plain pickle needs Dassl
    cache.unlink()
    Path(data_root, "caltech-101/split_zhou_Caltech101.json").unlink()
    log2 = run_train(coop_args(data_root, tmp_path / "b", seed=2), opts)
    split2 = load_datum_pickle(str(cache))  # Dassl's Datum name: plain pickle needs Dassl
    assert split1["train"] == split2["train"] and split1["val"] == split2["val"]
    assert [len(split1["train"]), len(split1["val"])] == [8 * 8, 4 * 8]
    assert final_accuracy(log1) == final_accuracy(log2)
    ctx_a = torch.load(tmp_path / "a/prompt_learner/model.pth.tar-3", weights_only=True)["state_dict"]["ctx"]
    ctx_b = torch.load(tmp_path / "b/prompt_learner/model.pth.tar-3", weights_only=True)["state_dict"]["ctx"]
    assert torch.equal(ctx_a, ctx_b)


@pytest.mark.parametrize("trainer", ["ZeroshotCLIP", "ZeroshotCLIP2"])
def test_zeroshot_runs_without_training(run_train, data_root, tmp_path, trainer):
    log = run_train(coop_args(data_root, tmp_path / trainer, trainer=trainer) + ["--eval-only"])
    assert "Note that load_model() is skipped" in log and "* accuracy:" in log and "Finish training" not in log
    if trainer == "ZeroshotCLIP":
        assert "Prompts: ['a photo of a face.'" in log
    else:
        assert "Prompt ensembling (n=8)" in log
    assert not (tmp_path / trainer / "tensorboard").exists()


def test_reference_layout_checkpoint_evaluates(run_train, data_root, tmp_path):
    """A prompt checkpoint as the original CoOp code saves it (fp16 ctx, buffers, pickled scheduler)."""
    torch.manual_seed(0)
    ctx = (torch.randn(16, 64) * 0.02).half()
    params = [torch.nn.Parameter(ctx.float())]
    opt = torch.optim.SGD(params, lr=0.002, momentum=0.9)
    successor = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 50.0)
    ckpt = {
        "state_dict": {"ctx": ctx, "token_prefix": torch.zeros(3, 1, 64).half(),
                       "token_suffix": torch.zeros(3, 60, 64).half()},
        "epoch": 50, "optimizer": opt.state_dict(),
        "scheduler": {"successor": successor, "warmup_epoch": 1, "cons_lr": 1e-5, "last_epoch": 1},
        "val_result": None,
    }
    d = tmp_path / "ref/prompt_learner"
    d.mkdir(parents=True)
    torch.save(ckpt, d / "model.pth.tar-50")
    log = run_train(coop_args(data_root, tmp_path / "eval") + ["--eval-only", "--model-dir", str(tmp_path / "ref"),
                                                                 "--load-epoch", "50"])
    assert "(epoch = 50)" in log and "* accuracy:" in log
    with pytest.raises(FileNotFoundError, match="Model not found at"):
        run_train(coop_args(data_root, tmp_path / "eval2") + ["--eval-only", "--model-dir", str(tmp_path / "ref"),
                                                                "--load-epoch", "7"])


def test_main_script_and_parse_test_res(script_env):
    """scripts/coop/main.sh trains seeds 1-3 into the reference layout; parse_test_res aggregates them."""
    work, env = script_env
    cmd = ["bash", "scripts/coop/main.sh", "caltech101", "tiny_ep10", "end", "16", "1", "False"]
    subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, text=True)
    exp = work / "output/caltech101/CoOp/tiny_ep10_1shots/nctx16_cscFalse_ctpend"
    for seed in (1, 2, 3):
        assert (exp / f"seed{seed}/log.txt").is_file()
        assert (exp / f"seed{seed}/prompt_learner/model.pth.tar-10").is_file()
    again = subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, text=True)
    assert "Oops! The results exist at output/caltech101/CoOp/tiny_ep10_1shots/nctx16_cscFalse_ctpend/seed1" in again.stdout
    res = subprocess.run([sys.executable, "parse_test_res.py", str(exp)], cwd=work, check=True, capture_output=True,
                         text=True).stdout
    accs = [float(a) for a in re.findall(r"accuracy: ([\d.]+)%\. ", res)]
    assert len(accs) == 3
    import numpy as np

    assert f"* accuracy: {np.mean(accs):.2f}% +- {np.std(accs):.2f}%" in res


def test_best_val_model_is_saved_and_deployed(run_train, data_root, tmp_path):
    out = tmp_path / "run"
    log = run_train(coop_args(data_root, out), CSC + ["OPTIM.MAX_EPOCH", "3", "TEST.FINAL_MODEL", "best_val"])
    assert log.count("Evaluate on the *val* set") == 3  # after every epoch
    assert "Deploy the model with the best val performance" in log
    best = torch.load(out / "prompt_learner/model-best.pth.tar", weights_only=True)
    val_accs = [float(a) for a in re.findall(r"\* accuracy: ([\d.]+)%", log)[:3]]
    assert best["val_result"] == pytest.approx(max(val_accs), abs=0.05)
    assert best["epoch"] == 1 + val_accs.index(max(val_accs))  # first epoch reaching the best (strictly better)
    assert (out / "prompt_learner/model.pth.tar-3").is_file()
    assert f'Loading weights to prompt_learner from "{out / "prompt_learner/model-best.pth.tar"}"' in log


def test_amp_on_cpu_uses_bf16_autocast(data_root, clip_cache):
    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=TINY_CFG,
                    opts=["DATASET.ROOT", data_root, "MODEL.BACKBONE.CACHE_DIR", clip_cache, "OUTPUT_DIR", "unused",
                          "VERBOSE", "False", "TRAINER.NAME", "CoOp", "TRAINER.COOP.PREC", "amp"])
    trainer = build_trainer(cfg)
    assert trainer.autocast_dtype() == torch.bfloat16 and trainer.scaler is None
    assert trainer.model.prompt_learner.ctx.dtype == torch.float32  # master weights stay fp32
    summary = trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert torch.isfinite(torch.tensor(summary["loss"])) and trainer.model.prompt_learner.ctx.grad is not None
