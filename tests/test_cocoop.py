"""CoCoOp: image-conditioned context, batched/chunked text encoding equal to the reference's per-image
loop, training with batch > 1, and the base-to-novel / cross-dataset protocols end to end."""
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vlprompt.clip import load_clip
from vlprompt.testing.datasets import make_dtd, make_imagenet_a
from vlprompt.testing.reference import reference_cocoop_logits
from vlprompt.trainers.cocoop import CoCoOpCLIP, CoCoOpPromptLearner

from .helpers import REPO, coop_args, final_accuracy

COCOOP_CFG = str(REPO / "configs/trainers/CoCoOp/tiny_c4_ep5_batch4.yaml")
NAMES = ["apple_pie", "kite (bird of prey)", "cat", "yin yang", "face"]


@pytest.fixture(scope="module")
def model(tiny_clip_files):
    clip_model = load_clip("RN50", path=tiny_clip_files["vit"]).float()
    torch.manual_seed(0)
    pl = CoCoOpPromptLearner(clip_model, NAMES, n_ctx=4, ctx_init="a photo of a", vis_dim=32, dtype=torch.float32)
    with torch.no_grad():  # a non-trivial meta-net output
        pl.meta_net.linear2.weight.normal_(0, 0.5)
    return CoCoOpCLIP(clip_model, pl, text_chunk=4096).eval()


def test_meta_net_changes_the_context_per_image(model):
    images = torch.randn(2, 3, 32, 32)
    prompts = model.prompt_learner(model.encode_image(images))
    assert prompts.shape == (2, len(NAMES), 12, 64)
    ctx_rows = prompts[:, :, 1:5]
    assert not torch.allclose(ctx_rows[0], ctx_rows[1])  # the two images get different contexts
    assert torch.equal(prompts[0, :, 0], prompts[1, :, 0]) and torch.equal(prompts[0, :, 5:], prompts[1, :, 5:])
    assert torch.allclose(ctx_rows[0, 0], ctx_rows[0, 3])  # one bias vector for every class
    sd = model.prompt_learner.state_dict()
    assert set(sd) == {"ctx", "token_prefix", "token_suffix", "meta_net.linear1.weight", "meta_net.linear1.bias",
                       "meta_net.linear2.weight", "meta_net.linear2.bias"}
    assert sd["meta_net.linear1.weight"].shape == (2, 32)  # vis_dim // 16 bottleneck


@pytest.mark.parametrize("batch,chunk", [(1, 4096), (3, 4096), (3, 4)])
def test_batched_and_chunked_equal_the_per_image_loop(model, batch, chunk):
    torch.manual_seed(batch)
    image, label = torch.randn(batch, 3, 32, 32), torch.randint(0, len(NAMES), (batch,))
    params = [model.prompt_learner.ctx, *model.prompt_learner.meta_net.parameters()]

    def run(fn):
        for p in params:
            p.grad = None
        logits = fn(image)
        F.cross_entropy(logits, label).backward()
        return logits.detach(), [p.grad.clone() for p in params]

    model.text_chunk = chunk
    ref_logits, ref_grads = run(lambda x: reference_cocoop_logits(model, x))
    fast_logits, fast_grads = run(model)
    torch.testing.assert_close(fast_logits, ref_logits, rtol=1e-5, atol=1e-4)
    for g_fast, g_ref in zip(fast_grads, ref_grads):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-4, atol=1e-4 * g_ref.abs().max().item())
    model.text_chunk = 4096


def test_forward_returns_logits_in_training_mode_too(model):
    """Every model's forward returns logits (the reference's CoCoOp returned the loss when training);
    the trainer computes the loss, so CoCoOp logs its training accuracy like every method."""
    image = torch.randn(2, 3, 32, 32)
    model.prompt_learner.train()
    try:
        train_logits = model(image)
    finally:
        model.prompt_learner.eval()
    assert train_logits.shape == (2, len(NAMES))
    torch.testing.assert_close(train_logits, model(image))


def test_cocoop_trains_with_batch_above_one(run_train, data_root, tmp_path):
    log = run_train(coop_args(data_root, tmp_path / "run", trainer="CoCoOp", config=COCOOP_CFG),
                    ["DATASET.NUM_SHOTS", "8", "OPTIM.MAX_EPOCH", "8", "OPTIM.LR", "0.05"])
    losses = [float(x) for x in re.findall(r"loss ([\d.]+) \(", log)]
    assert re.search(r"epoch \[1/8\] .* loss [\d.]+ \([\d.]+\) acc [\d.]+ \([\d.]+\)", log)  # loss and acc
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4
    assert "Parameters to be updated: ['prompt_learner.ctx', 'prompt_learner.meta_net.linear1.bias'" in log
    assert "=> result" in log.split("Finish training")[1]
    assert (tmp_path / "run/prompt_learner/model.pth.tar-8").is_file()


def _sh(work, env, *cmd, **extra):
    return subprocess.run(["bash", *cmd], cwd=work, env=dict(env, **extra), check=True, capture_output=True, text=True)


def test_base2new_scripts_and_table(script_env):
    work, env = script_env
    tiny = {"CFG": "tiny_c4_ep5_batch4", "LOADEP": "5"}
    _sh(work, env, "scripts/cocoop/base2new_train.sh", "caltech101", "1", **tiny)
    _sh(work, env, "scripts/cocoop/base2new_test.sh", "caltech101", "1", **tiny)
    rel = "caltech101/shots_16/CoCoOp/tiny_c4_ep5_batch4/seed1/log.txt"
    base_log = (work / "output/base2new/train_base" / rel).read_text()
    new_log = (work / "output/base2new/test_new" / rel).read_text()
    assert "SUBSAMPLE BASE CLASSES!" in base_log and "SUBSAMPLE NEW CLASSES!" in new_log
    assert "# classes  4" in base_log and "# classes  4" in new_log  # 8 classes -> 4 base / 4 new
    assert "(epoch = 5)" in new_log
    base, new = final_accuracy(base_log), final_accuracy(new_log)
    out = subprocess.run([sys.executable, "parse_test_res.py", "--base2new", "output/base2new", "--csv", "t.csv"],
                         cwd=work, check=True, capture_output=True, text=True).stdout
    h = 2 * base * new / (base + new) if base + new else 0.0
    assert re.search(rf"caltech101\s+{base:.2f}\s+{new:.2f}\s+{h:.2f}", out), out
    assert (work / "t.csv").read_text().splitlines()[0] == "table,dataset,base,novel,H"


def test_harmonic_mean_table_on_known_numbers(tmp_path):
    import parse_test_res as ptr

    root = tmp_path / "base2new"
    numbers = {"dtd": [(80.0, 60.0), (82.0, 62.0)], "eurosat": [(90.0, 50.0), (92.0, 70.0)]}
    for dataset, seeds in numbers.items():
        for s, (b, n) in enumerate(seeds, start=1):
            rel = f"{dataset}/shots_16/CoCoOp/cfg/seed{s}"
            (root / "train_base" / rel).mkdir(parents=True)
            (root / "train_base" / rel / "log.txt").write_text(f"Finish training\n=> result\n* accuracy: {b}%\n")
            (root / "test_new" / rel).mkdir(parents=True)
            (root / "test_new" / rel / "log.txt").write_text(f"=> result\n* accuracy: {n}%\n")
    rows = ptr.base2new_tables(str(root))["CoCoOp/cfg/shots_16"]
    assert rows[0][:3] == ["dtd", 81.0, 61.0] and rows[0][3] == pytest.approx(2 * 81 * 61 / 142)
    assert rows[1][:3] == ["eurosat", 91.0, 60.0] and rows[1][3] == pytest.approx(2 * 91 * 60 / 151)
    assert rows[2][1:3] == [86.0, 60.5] and rows[2][3] == pytest.approx(2 * 86 * 60.5 / 146.5)


def test_cross_dataset_and_domain_generalisation(data_root, script_env):
    """A CoCoOp model trained on one dataset evaluates on datasets with other class names (and a
    200-class ImageNet-A subset), via xd_train.sh / xd_test.sh; the transfer tables aggregate them."""
    make_dtd(data_root)
    make_imagenet_a(data_root)
    work, env = script_env
    tiny = {"CFG": "tiny_c4_ep5_batch4", "LOADEP": "5", "DATASET": "caltech101", "SOURCE": "caltech101"}
    _sh(work, env, "scripts/cocoop/xd_train.sh", "1", **tiny)
    for target in ("dtd", "imagenet_a"):
        _sh(work, env, "scripts/cocoop/xd_test.sh", target, "1", **tiny)
        log = (work / f"output/evaluation/CoCoOp/tiny_c4_ep5_batch4_16shots/{target}/seed1/log.txt").read_text()
        assert "(epoch = 5)" in log and "* accuracy:" in log
    out = subprocess.run([sys.executable, "parse_test_res.py", "--xd", "output/evaluation/CoCoOp/tiny_c4_ep5_batch4_16shots",
                          "--source-dir", "output/caltech101/CoCoOp/tiny_c4_ep5_batch4_16shots"],
                         cwd=work, check=True, capture_output=True, text=True).stdout
    assert "Cross-dataset transfer" in out and "Domain generalisation" in out
    assert re.search(r"\ndtd\s+[\d.]+", out) and re.search(r"\nimagenet_a\s+[\d.]+", out) and "source" in out


def test_interpret_prompt_prints_words(run_train, data_root, tmp_path, clip_cache, capsys):
    run_train(coop_args(data_root, tmp_path / "run", trainer="CoCoOp", config=COCOOP_CFG), ["OPTIM.MAX_EPOCH", "1"])
    import interpret_prompt

    interpret_prompt.main([str(tmp_path / "run/prompt_learner/model.pth.tar-1"), "3", "--backbone", "TinyCLIP",
                           "--cache-dir", clip_cache])
    out = capsys.readouterr().out
    assert "Return the top-3 matched words" in out and "Size of context: (4, 64)" in out
    lines = [line for line in out.splitlines() if re.match(r"\d: \[", line)]
    assert len(lines) == 4
    # The context was initialised from "a photo of a" and trained one epoch: "photo</w>" is still nearest.
    assert lines[1].startswith("2: ['photo</w>'")
