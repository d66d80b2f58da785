"""Deep prompts in both encoders (IVLP, MaPLe, PromptSRC): the shared text and vision mechanisms against plain
references (values and gradients), the leading-context rule and the extended shared prefix, official
checkpoints, Gaussian prompt aggregation and its resume, PromptSRC's losses, precision paths, configs, scripts."""
import ast
import copy
import json
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vlprompt.clip import IMAGENET_TEMPLATES, PromptLearner, TextEncoder, encode_class_prompts, init_leading_context, vision
from vlprompt.clip.tokenizer import tokenize
from vlprompt.testing.reference import reference_deep_prompt_logits, reference_image_features, reference_text_features
from vlprompt.trainers.coop import CoOpCLIP
from vlprompt.trainers.ivlp import DeepPromptCLIP
from vlprompt.trainers.maple import MaPLeCLIP, MaPLePromptLearner
from vlprompt.trainers.promptsrc import PromptSRCCLIP, gpa_weights, srclosses

from .helpers import CALTECH_CFG, REPO, coop_args, final_accuracy

pytestmark = pytest.mark.usefixtures("one_thread")
NAMES = ["apple_pie", "kite (bird of prey)", "cat", "yin yang", "face"]
TINY = {"IVLP": "tiny_ep3_batch4_2+2ctx", "MaPLe": "tiny_ep3_batch4_2ctx", "PromptSRC": "tiny_ep4_batch4_4+4ctx"}
FOLDER = {"IVLP": "VLPromptLearner", "MaPLe": "MultiModalPromptLearner", "PromptSRC": "VLPromptLearner"}


def tiny_cfg(trainer: str) -> str:
    return str(REPO / f"configs/trainers/{trainer}/{TINY[trainer]}.yaml")


@pytest.fixture(scope="module")
def clip4_base():
    """A tiny CLIP with 4 blocks per encoder (room for prompts at several depths); models get copies, since
    deep-prompt models register their prompts on the blocks."""
    from vlprompt.clip.tiny import build_tiny_clip

    return build_tiny_clip(layers=4).float()


@pytest.fixture()
def clip4(clip4_base):
    return copy.deepcopy(clip4_base)


def trainable(model):
    return [p for n, p in model.named_parameters() if "prompt_learner" in n or "VPT" in n]


def logits_and_grads(fn, params, label):
    for p in params:
        p.grad = None
    logits = fn()
    F.cross_entropy(logits, label).backward()
    return logits.detach(), [p.grad.clone() for p in params]


def assert_grads_close(got, expected):
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


def build(kind: str, clip_model, **kw):
    torch.manual_seed(0)
    if kind == "MaPLe":
        pl = MaPLePromptLearner(clip_model, NAMES, kw.get("n_ctx", 2), "a photo of a", kw.get("depth", 3),
                                vision.vit_width(clip_model.visual), torch.float32)
        return MaPLeCLIP(clip_model, pl)
    cls = PromptSRCCLIP if kind == "PromptSRC" else DeepPromptCLIP
    args = {"n_ctx_text": 2, "n_ctx_vision": 3, "depth_text": 4, "depth_vision": 3, "ctx_init": "a photo of a"}
    args.update(kw)
    return cls(clip_model, NAMES, **args)


# ----------------------------------------------------------------------------- the vision encoder
def test_vision_encoder_without_prompts_is_clip_encode_image(clip4):
    image = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(vision.encode_image(clip4.visual, image), clip4.encode_image(image))
        tokens = vision.embed_image(clip4.visual, image)
        assert tokens.shape == (3, 1 + 16, 64)  # [CLS] + 4x4 patches
        assert torch.equal(vision.encode_embedded(clip4.visual, tokens), clip4.encode_image(image))


def test_vision_prompts_follow_the_official_semantics(clip4):
    """Shallow prompt appended before ln_pre, deep prompts replacing the last tokens before blocks 1..3: equal
    (features and gradients) to open_clip's own forward with the prompts inserted by hooks."""
    torch.manual_seed(0)
    shallow = torch.nn.Parameter(torch.randn(3, 64) * 0.5)
    deep = {i: torch.nn.Parameter(torch.randn(3, 64) * 0.5) for i in (1, 2, 3)}
    params = [shallow, *deep.values()]
    image = torch.randn(2, 3, 32, 32)

    def run(fn):
        for p in params:
            p.grad = None
        feats = fn()
        (feats * torch.linspace(-1, 1, feats.shape[-1])).sum().backward()
        return feats.detach(), [p.grad.clone() for p in params]

    f, g = run(lambda: vision.encode_image(clip4.visual, image, shallow, deep))
    f_ref, g_ref = run(lambda: reference_image_features(clip4.visual, image, shallow, deep))
    torch.testing.assert_close(f, f_ref, rtol=1e-5, atol=1e-5)
    assert_grads_close(g, g_ref)
    assert all(x.abs().sum() > 0 for x in g)  # every prompt reaches the output
    with torch.no_grad():
        assert not torch.allclose(f, clip4.encode_image(image), atol=1e-3)  # the prompts matter
        shallow_only = vision.encode_image(clip4.visual, image, shallow)
        assert not torch.allclose(f, shallow_only, atol=1e-3)  # and so do the deep ones
    with pytest.raises(ValueError, match="give a shallow prompt too"):
        vision.encode_image(clip4.visual, image, None, deep)


def test_resnet_backbone_gets_a_clear_error(tiny_clip_files):
    from vlprompt.clip import load_clip

    rn = load_clip("RN50", path=tiny_clip_files["rn"]).float()
    with pytest.raises(ValueError) as err:
        DeepPromptCLIP(copy.deepcopy(rn), NAMES, 2, 2, 2, 2, "a photo of a")
    msg = str(err.value)
    assert "ModifiedResNet" in msg and "ViT-B/16" in msg and "ViT-L/14" in msg and "MODEL.BACKBONE.NAME" in msg
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="MaPLe need a ViT image encoder"):
        vision.check_prompted_vit(rn.visual, "MaPLe")
    # Deep *text* prompts alone (PROMPT_DEPTH_VISION 0) need no image tokens: any backbone.
    model = DeepPromptCLIP(copy.deepcopy(rn), NAMES, 2, 0, 2, 0, "a photo of a")
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, len(NAMES))


@pytest.mark.parametrize("option", [{"pool_type": "avg"}, {"patch_dropout": 0.5}, {"attentional_pool": True}])
def test_unsupported_vit_variants_are_refused(option):
    from open_clip.transformer import VisionTransformer

    visual = VisionTransformer(image_size=32, patch_size=8, width=64, layers=1, heads=1, mlp_ratio=4.0,
                               output_dim=32, attn_pooler_heads=1, **option)
    with pytest.raises(ValueError, match="does not support"):
        vision.check_prompted_vit(visual)


# ----------------------------------------------------------------------------- the text side
def test_leading_context_keeps_the_rest_of_the_init_words(clip4):
    ctx, text = init_leading_context(clip4, 2, "a photo of a", torch.float32)
    ids = tokenize("a photo of a")[0]
    assert text == "a photo of a" and torch.equal(ctx, clip4.token_embedding.weight[ids[1:3]])
    pl = PromptLearner(clip4, ["cat"], context=(ctx, text), verbose=False)
    assert pl.n_ctx == 2 and pl.tokenized_prompts[0, :7].tolist() == tokenize("a photo of a cat.")[0, :7].tolist()
    # "of a" stays fixed after the learned tokens
    assert torch.equal(pl.token_suffix[0, :2], clip4.token_embedding.weight[ids[3:5]])
    torch.manual_seed(0)
    ctx, text = init_leading_context(clip4, 5, "a photo of a", torch.float32)  # more than 4 tokens: Gaussian
    assert text == "X X X X X" and ctx.shape == (5, 64) and 0.01 < ctx.std() < 0.03
    with pytest.raises(ValueError, match="has 2 tokens, fewer than the 3 context tokens"):
        init_leading_context(clip4, 3, "a photo", torch.float32)


@pytest.mark.parametrize("names,expected", [(NAMES, 5), (["red circle", "red ring", "red_square"], 6)])
def test_shared_prefix_covers_fixed_words_and_stays_exact(clip4, names, expected):
    """With 2 learned tokens of "a photo of a", "of a" (and a first word every class name shares) are common
    to all classes: the shared prefix covers them, and with deep prompts the fast paths still equal the
    77-token computation (features and gradients)."""
    torch.manual_seed(0)
    pl = PromptLearner(clip4, names, context=init_leading_context(clip4, 2, "a photo of a", torch.float32), verbose=False)
    assert pl.plan.shared_len == expected
    enc = TextEncoder(clip4)
    deep = {i: torch.nn.Parameter(torch.randn(2, 64) * 0.02) for i in (1, 2, 3)}
    params = [pl.ctx, *deep.values()]

    def run(fn):
        for p in params:
            p.grad = None
        feats = fn()
        (feats * torch.linspace(-1, 1, feats.shape[-1])).sum().backward()
        return feats.detach(), [p.grad.clone() for p in params]

    f_ref, g_ref = run(lambda: reference_text_features(pl, enc, layer_prompts=deep))
    for truncate, shared in [(True, True), (False, True), (True, False)]:
        plan = pl.make_plan(truncate, shared)
        f, g = run(lambda: F.normalize(enc.encode(pl(plan), plan, layer_prompts=deep), dim=-1))
        torch.testing.assert_close(f, f_ref, rtol=1e-5, atol=1e-5)
        assert_grads_close(g, g_ref)


# ----------------------------------------------------------------------------- whole models
@pytest.mark.parametrize("kind,kw", [("IVLP", {}), ("IVLP", {"n_ctx_vision": 0, "depth_vision": 0}),
                                     ("MaPLe", {}), ("PromptSRC", {"n_ctx_text": 4, "depth_text": 3})],
                         ids=["IVLP", "IVLP-language-only", "MaPLe", "PromptSRC"])
def test_fast_paths_equal_the_official_computation(clip4, kind, kw):
    """Logits and the gradients of every trainable tensor: shared-prefix / truncated text encoding with deep
    prompts + the block-driven prompted ViT == 77-token prompts + open_clip's forward with hooked prompts."""
    model = build(kind, clip4, **kw)
    with torch.no_grad():  # non-trivial deep prompts (the official init is small)
        for n, p in model.named_parameters():
            if "VPT" in n or "compound_prompts_text" in n:
                p.normal_(0, 0.5)
    params = trainable(model)
    image, label = torch.randn(3, 3, 32, 32), torch.tensor([0, 2, 4])
    fast, g_fast = logits_and_grads(lambda: model(image), params, label)
    ref, g_ref = logits_and_grads(lambda: reference_deep_prompt_logits(model, image), params, label)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-4)
    assert_grads_close(g_fast, g_ref)
    assert all(g.abs().sum() > 0 for g in g_fast)
    assert model.prompt_learner.plan.shared_len == 1 + model.prompt_learner.n_ctx + (2 if kind != "PromptSRC" else 0)


def test_depth_one_reduces_to_the_shallow_case(clip4, clip4_base):
    """IVLP at text/vision depth 1: the text side is CoOp with the same context, the image side appends its
    prompt at the input only; MaPLe at depth 1: only proj(ctx) enters the image encoder."""
    model = build("IVLP", clip4, n_ctx_text=4, depth_text=1, depth_vision=1)
    assert not any("VPT_shallow" in n for n, _ in model.named_parameters())
    assert model.text_layer_prompts() == {} and model.vision_prompts()[1] == {}
    coop_clip = copy.deepcopy(clip4_base)
    coop = CoOpCLIP(coop_clip, PromptLearner(coop_clip, NAMES, n_ctx=4, ctx_init="a photo of a", verbose=False))
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.text_features(), coop.text_features(), rtol=0, atol=0)
        shallow_only = F.normalize(vision.encode_image(clip4.visual, image, model.image_encoder.VPT), dim=-1)
        torch.testing.assert_close(model.encode_image(image), shallow_only, rtol=0, atol=0)
    maple = build("MaPLe", copy.deepcopy(clip4_base), depth=1)
    shallow, deep = maple.vision_prompts()
    assert deep == {} and maple.text_layer_prompts() == {} and len(maple.prompt_learner.compound_prompts_text) == 0
    with torch.no_grad():
        torch.testing.assert_close(shallow, maple.prompt_learner.proj(maple.prompt_learner.ctx))


def test_prompt_depth_beyond_the_backbone_is_an_error(clip4):
    with pytest.raises(ValueError, match=r"TRAINER.IVLP.PROMPT_DEPTH_TEXT is 5, but must be between 1 and the 4 blocks"):
        build("IVLP", clip4, depth_text=5)
    with pytest.raises(ValueError, match="N_CTX_VISION is 0 with PROMPT_DEPTH_VISION 3"):
        build("IVLP", clip4, n_ctx_vision=0)


# ----------------------------------------------------------------------------- PromptSRC's objective
@pytest.fixture()
def src_model(clip4):
    model = build("PromptSRC", clip4, n_ctx_text=4, depth_text=3, depth_vision=2)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "VPT" in n:
                p.normal_(0, 0.5)
        model.fixed_embeddings = encode_class_prompts(clip4, NAMES, IMAGENET_TEMPLATES, average="raw")
    return model


def test_promptsrc_loss_is_the_official_objective(src_model):
    """Every term against its plain computation: frozen image features from CLIP's own (separate) forward,
    prompted features and logits the official way, the official loss formula; gradients equal too."""
    model = src_model
    visual = model.image_encoder
    image, label = torch.randn(3, 3, 32, 32), torch.tensor([1, 3, 4])
    out = model(image, regularize=True)
    with torch.no_grad():
        zs_image = F.normalize(visual(image), dim=-1)  # the official separate frozen tower (same weights)
        torch.testing.assert_close(out.zs_image, zs_image, rtol=0, atol=1e-6)
        zs_text = F.normalize(model.fixed_embeddings, dim=-1)
        torch.testing.assert_close(out.zs_logits, model.logit_scale.exp() * zs_image @ zs_text.t())
    params = trainable(model)

    def official_loss():
        pl = model.prompt_learner
        text = reference_text_features(pl, model.text_encoder, layer_prompts=model.text_layer_prompts())
        shallow, deep = model.vision_prompts()
        img = F.normalize(reference_image_features(visual, image, shallow, deep), dim=-1)
        logits = model.logit_scale.exp() * img @ text.t()
        zs_logits = model.logit_scale.exp() * zs_image @ zs_text.t()
        q, log_q, log_p = zs_logits.softmax(dim=1), zs_logits.log_softmax(dim=1), logits.log_softmax(dim=1)
        kl = (q * (log_q - log_p)).sum() / logits.numel()  # KL(q || p) summed, divided by B*C
        return (F.cross_entropy(logits, label) + kl + 25 * (text - zs_text).abs().mean()
                + 10 * (img - zs_image).abs().mean())

    def grads(fn):
        for p in params:
            p.grad = None
        loss = fn()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in params]

    loss, g = grads(lambda: srclosses(model(image, regularize=True), label, 25, 10))
    loss_ref, g_ref = grads(official_loss)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-5)
    assert_grads_close(g, g_ref)
    # The regularisers are not negligible here (the test would pass vacuously otherwise).
    assert loss - F.cross_entropy(out.logits, label) > 0.1


def test_frozen_text_features_average_raw_template_features(clip4):
    raw = torch.stack([clip4.encode_text(tokenize([t.format(n.replace("_", " ")) for n in NAMES]))
                       for t in IMAGENET_TEMPLATES]).mean(0).detach()
    torch.testing.assert_close(encode_class_prompts(clip4, NAMES, IMAGENET_TEMPLATES, average="raw"),
                               F.normalize(raw, dim=-1))
    assert len(IMAGENET_TEMPLATES) == 60 and IMAGENET_TEMPLATES[0] == "a photo of a {}."
    assert not torch.allclose(encode_class_prompts(clip4, NAMES, IMAGENET_TEMPLATES), F.normalize(raw, dim=-1), atol=1e-4)


def test_frozen_image_features_come_from_the_prompted_pass_only_without_vision_prompts(clip4_base):
    """Without vision prompts the prompted encoder *is* the frozen one: one image pass; with them, one more
    pass, without gradients (the frozen encoder cannot share the prompted pass: the prompts change every token)."""
    calls = {"n": 0}
    for depth_vision, passes in ((0, 1), (2, 2)):
        clip_model = copy.deepcopy(clip4_base)
        model = build("PromptSRC", clip_model, depth_vision=depth_vision, depth_text=2)
        model.fixed_embeddings = torch.randn(len(NAMES), 32)
        handles = [blk.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
                   for blk in clip_model.visual.transformer.resblocks]
        calls["n"] = 0
        out = model(torch.randn(2, 3, 32, 32), regularize=True)
        assert calls["n"] == passes * 4, (depth_vision, calls)
        assert not out.zs_image.requires_grad
        if depth_vision == 0:
            assert torch.equal(out.zs_image, out.image.detach())
        for h in handles:
            h.remove()


# ----------------------------------------------------------------------------- GPA
def test_gpa_weights_are_the_official_values():
    w = gpa_weights(20, 15, 1)  # base-to-novel
    assert [round(x, 4) for x in w[12:17]] == [0.0540, 0.2420, 0.3989, 0.2420, 0.0540]
    assert w[11] == pytest.approx(0.00443, abs=1e-5) and w[10] == pytest.approx(1.34e-4, rel=1e-2)
    assert sum(w) == pytest.approx(1.0) and w[19] == pytest.approx(w[9]) and w[19] == pytest.approx(1.49e-6, rel=1e-2)
    assert max(w[:9]) < 1e-8  # 6 standard deviations and more below the mean
    w = gpa_weights(20, 6, 10)  # cross-dataset
    assert (round(w[0], 4), round(w[5], 4), round(w[19], 4)) == (0.0554, 0.0628, 0.0236)
    w = gpa_weights(50, 30, 30)  # few-shot
    assert (round(w[0], 4), round(w[29], 4), round(w[49], 4)) == (0.0141, 0.0225, 0.0180)
    with pytest.raises(ValueError, match="GPA_STD must be > 0"):
        gpa_weights(5, 3, 0)
    with pytest.raises(ValueError, match="give no weight to any of the epochs"):
        gpa_weights(5, 1e6, 1)


def _src_run(run_train, data_root, out, *opts):
    return run_train(coop_args(data_root, out, trainer="PromptSRC", config=tiny_cfg("PromptSRC")),
                     ["DATASET.NUM_SHOTS", "4", *opts])


def test_gpa_aggregates_the_prompts_of_every_epoch(run_train, data_root, tmp_path):
    out = tmp_path / "run"
    log = _src_run(run_train, data_root, out, "TRAIN.CHECKPOINT_FREQ", "1")
    assert "Using GPA model for final inference..." in log and "Encoding the frozen text features (60 templates" in log
    w = gpa_weights(4, 3, 1)
    ckpt = [torch.load(out / f"VLPromptLearner/model.pth.tar-{e}", weights_only=True) for e in (1, 2, 3, 4)]
    for k in ckpt[0]["gpa"]["sum"]:  # the running sum of epochs 1..e, from the epochs' own (raw) prompts
        for e in (1, 2, 3):
            expected = sum(w[j] * ckpt[j]["state_dict"][k] for j in range(e))
            torch.testing.assert_close(ckpt[e - 1]["gpa"]["sum"][k], expected, rtol=1e-6, atol=1e-7)
        assert torch.equal(ckpt[3]["state_dict"][k], ckpt[3]["gpa"]["sum"][k])  # the final prompts: the sum
        assert not torch.allclose(ckpt[3]["state_dict"][k], ckpt[2]["state_dict"][k])


def test_gpa_survives_an_interrupted_run(run_train, data_root, tmp_path, monkeypatch):
    from vlprompt.trainers.promptsrc import PromptSRC

    full = tmp_path / "full"
    _src_run(run_train, data_root, full)
    original = PromptSRC.after_epoch

    def crash_after_epoch_2(self):
        original(self)  # the epoch's GPA step and rolling checkpoint
        if self.epoch == 1:
            raise KeyboardInterrupt("killed after epoch 2")

    out = tmp_path / "killed"
    monkeypatch.setattr(PromptSRC, "after_epoch", crash_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        _src_run(run_train, data_root, out)
    monkeypatch.setattr(PromptSRC, "after_epoch", original)
    assert torch.load(out / "VLPromptLearner/model-last.pth.tar", weights_only=True)["epoch"] == 2
    with pytest.raises(RuntimeError, match="its GPA weights were for 4 epochs"):  # the weights would change
        _src_run(run_train, data_root, out, "OPTIM.MAX_EPOCH", "6")
    _src_run(run_train, data_root, out)
    log = max(out.glob("log.txt*"), key=lambda f: f.stat().st_mtime).read_text()  # a resumed run starts a new log
    assert "Previous epoch: 2" in log
    final = [torch.load(d / "VLPromptLearner/model.pth.tar-4", weights_only=True)["state_dict"] for d in (full, out)]
    assert final[0].keys() == final[1].keys() and all(torch.equal(final[0][k], final[1][k]) for k in final[0])
    assert final_accuracy(log) == final_accuracy((full / "log.txt").read_text())


# ----------------------------------------------------------------------------- checkpoints
def make_trainer(trainer, data_root, out, clip_cache, *opts):
    from vlprompt.config import setup_cfg
    from vlprompt.engine import build_trainer

    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=tiny_cfg(trainer),
                    opts=["TRAINER.NAME", trainer, "DATASET.ROOT", data_root, "OUTPUT_DIR", str(out),
                          "MODEL.BACKBONE.CACHE_DIR", clip_cache,
                          "DATASET.NUM_SHOTS", "2", *opts])
    return build_trainer(cfg)


def official_checkpoint(trainer, data_root, tmp_path, clip_cache):
    """The file the official code writes: the whole CustomCLIP (fp16), buffers of the (4) base classes, PromptSRC's
    second visual tower; here with random prompts and one altered frozen weight (official loading restores it)."""
    t = make_trainer(trainer, data_root, tmp_path / "src", clip_cache, "DATASET.SUBSAMPLE_CLASSES", "base")
    torch.manual_seed(1)
    state = {k: (torch.randn_like(v) if t.trainable(k) else v.clone()).half() for k, v in t.model.state_dict().items()}
    state["image_encoder.ln_post.weight"] += 0.5
    if trainer == "PromptSRC":
        state.update({f"prompt_learner.ZS_image_encoder.{k}": v.half() for k, v in t.model.image_encoder.state_dict().items()
                      if "VPT" not in k})
    model_dir = tmp_path / "official"
    (model_dir / FOLDER[trainer]).mkdir(parents=True)
    torch.save({"state_dict": state, "epoch": 5, "optimizer": t.optim.state_dict(), "scheduler": None, "val_result": None},
               model_dir / FOLDER[trainer] / "model.pth.tar-5")
    return model_dir, state


@pytest.mark.parametrize("trainer", sorted(TINY))
def test_official_checkpoints_load(trainer, data_root, tmp_path, clip_cache, run_train):
    model_dir, state = official_checkpoint(trainer, data_root, tmp_path, clip_cache)
    assert state["prompt_learner.token_prefix"].shape[0] == 4  # trained on the 4 base classes
    t = make_trainer(trainer, data_root, tmp_path / "eval", clip_cache)  # all 8 classes
    t.load_model(str(model_dir), epoch=5)
    own = t.model.state_dict()
    for k, v in state.items():
        if k.startswith("prompt_learner.ZS_image_encoder.") or k.endswith(("token_prefix", "token_suffix")):
            assert k not in own or own[k].shape[0] == 8  # ignored / rebuilt from the current class names
            continue
        assert torch.equal(own[k], v.float()), k  # prompts and frozen weights: the checkpoint's values
    assert own["prompt_learner.token_prefix"].shape[0] == 8
    # The command line: --eval-only --model-dir DIR --load-epoch N
    log = run_train(coop_args(data_root, tmp_path / "cli", trainer=trainer, config=tiny_cfg(trainer)) +
                    ["--eval-only", "--model-dir", str(model_dir), "--load-epoch", "5"])
    assert f'Loading weights to {FOLDER[trainer]} from "{model_dir}/{FOLDER[trainer]}/model.pth.tar-5" (epoch = 5)' in log
    assert "* accuracy:" in log


def test_a_checkpoint_missing_a_prompt_is_refused(data_root, tmp_path, clip_cache):
    model_dir, state = official_checkpoint("IVLP", data_root, tmp_path, clip_cache)
    del state["image_encoder.transformer.resblocks.1.VPT_shallow"]
    torch.save({"state_dict": state, "epoch": 5}, model_dir / "VLPromptLearner/model.pth.tar-5")
    t = make_trainer("IVLP", data_root, tmp_path / "eval", clip_cache)
    with pytest.raises(RuntimeError, match=r"missing keys \['image_encoder.transformer.resblocks.1.VPT_shallow'\]"):
        t.load_model(str(model_dir), epoch=5)


@pytest.mark.parametrize("trainer", sorted(TINY))
def test_own_checkpoints_hold_the_prompts_only_and_reload(trainer, run_train, data_root, tmp_path):
    out = tmp_path / "run"
    log = run_train(coop_args(data_root, out, trainer=trainer, config=tiny_cfg(trainer)),
                    ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2"])
    enabled = re.search(r"Parameters to be updated: (\[.*\])", log).group(1)
    ckpt = torch.load(out / FOLDER[trainer] / "model.pth.tar-2", weights_only=True)
    saved = set(ckpt["state_dict"])
    assert saved == set(ast.literal_eval(enabled)) | {"prompt_learner.token_prefix", "prompt_learner.token_suffix"}
    if trainer == "MaPLe":
        assert "prompt_learner.compound_prompt_projections.0.weight" in saved
    else:
        assert {"image_encoder.VPT", "text_encoder.transformer.resblocks.1.VPT_shallow"} <= saved
    again = run_train(coop_args(data_root, tmp_path / "eval", trainer=trainer, config=tiny_cfg(trainer)) +
                      ["--eval-only", "--model-dir", str(out), "--load-epoch", "2"], ["DATASET.NUM_SHOTS", "2"])
    assert final_accuracy(again) == final_accuracy(log)


def test_two_processes_equal_one_process(data_root, tmp_path, clip_cache):
    """The registered whole model under DistributedDataParallel (torchrun, 2 processes, gloo): PromptSRC's prompts,
    losses (through the model's forward) and GPA give what one process gives."""
    import os

    opts = ["DATASET.NUM_SHOTS", "4", "OPTIM.MAX_EPOCH", "2", "TRAINER.PROMPTSRC.GPA_MEAN", "2",
            "INPUT.TRANSFORMS", "['normalize']", "MODEL.BACKBONE.CACHE_DIR", clip_cache]
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def args(out):
        return [str(REPO / "train.py"), *coop_args(data_root, out, trainer="PromptSRC", config=tiny_cfg("PromptSRC")), *opts]

    subprocess.run([sys.executable, *args(tmp_path / "one")], check=True, capture_output=True, env=env)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", *args(tmp_path / "two")],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    one, two = [torch.load(d / "VLPromptLearner/model.pth.tar-2", weights_only=True)["state_dict"]
                for d in (tmp_path / "one", tmp_path / "two")]
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5)
    assert "Distributed run: 2 processes" in (tmp_path / "two/log.txt").read_text()


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize("trainer", sorted(TINY))
def test_amp_trains_every_method(trainer, run_train, data_root, tmp_path):
    """PREC amp (bf16 autocast on the CPU) trains every method (the official MaPLe / PromptSRC amp paths crash;
    PromptSRC's loss terms under autocast: the next test)."""
    out = tmp_path / "run"
    key = {"IVLP": "IVLP", "MaPLe": "MAPLE", "PromptSRC": "PROMPTSRC"}[trainer]
    log = run_train(coop_args(data_root, out, trainer=trainer, config=tiny_cfg(trainer)),
                    ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", f"TRAINER.{key}.PREC", "amp"])
    assert "Precision: amp" in log and json.loads((out / "results.json").read_text())["precision"] == "amp"
    losses = [float(x) for x in re.findall(r"loss ([\d.]+) \(", log)]
    assert losses and all(0 < x < 20 for x in losses)


def test_promptsrc_loss_under_autocast_is_close_to_fp32(src_model):
    image, label = torch.randn(3, 3, 32, 32), torch.tensor([0, 1, 2])
    with torch.no_grad():
        fp32 = srclosses(src_model(image, regularize=True), label, 25, 10)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            amp = srclosses(src_model(image, regularize=True), label, 25, 10)
    assert torch.isfinite(amp) and abs(amp.item() - fp32.item()) < 0.05 * fp32.item()


# ----------------------------------------------------------------------------- configs, scripts, benchmark
OFFICIAL = {
    "IVLP/vit_b16_c2_ep5_batch4_2+2ctx": (0.0035, 5, "IVLP", {"N_CTX_VISION": 2, "N_CTX_TEXT": 2,
                                                               "PROMPT_DEPTH_VISION": 12, "PROMPT_DEPTH_TEXT": 12}),
    "IVLP/vit_b16_c2_ep5_batch4_4ctx_language_only": (0.0025, 5, "IVLP", {"N_CTX_VISION": 0, "N_CTX_TEXT": 4,
                                                                          "PROMPT_DEPTH_VISION": 0, "PROMPT_DEPTH_TEXT": 12}),
    "IVLP/vit_b16_c2_ep20_batch4_4+4ctx": (0.0025, 20, "IVLP", {"N_CTX_VISION": 4, "PROMPT_DEPTH_TEXT": 9}),
    "MaPLe/vit_b16_c2_ep5_batch4_2ctx": (0.0035, 5, "MAPLE", {"N_CTX": 2, "PROMPT_DEPTH": 9}),
    "MaPLe/vit_b16_c2_ep5_batch4_2ctx_cross_datasets": (0.0026, 2, "MAPLE", {"PROMPT_DEPTH": 3}),
    "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx": (0.0025, 20, "PROMPTSRC", {"PROMPT_DEPTH_VISION": 9, "GPA_MEAN": 15,
                                                                          "GPA_STD": 1, "TEXT_LOSS_WEIGHT": 25}),
    "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets": (0.0025, 20, "PROMPTSRC", {"PROMPT_DEPTH_TEXT": 3,
                                                                                         "GPA_MEAN": 6, "GPA_STD": 10}),
    "PromptSRC/vit_b16_c2_ep50_batch4_4+4ctx_few_shot": (0.0025, 50, "PROMPTSRC", {"GPA_MEAN": 30, "GPA_STD": 30,
                                                                                   "IMAGE_LOSS_WEIGHT": 10}),
}


@pytest.mark.parametrize("stem", sorted(OFFICIAL))
def test_official_configs(stem):
    from vlprompt.config import setup_cfg

    lr, epochs, node, keys = OFFICIAL[stem]
    cfg = setup_cfg(config_file=str(REPO / f"configs/trainers/{stem}.yaml"))
    assert (cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH, cfg.DATALOADER.TRAIN_X.BATCH_SIZE) == ("sgd", lr, epochs, 4)
    assert cfg.MODEL.BACKBONE.NAME == "ViT-B/16" and cfg.TRAINER[node].PREC == "fp16"
    assert cfg.TRAINER[node].CTX_INIT == "a photo of a"
    for k, v in keys.items():
        assert cfg.TRAINER[node][k] == v, k


def test_base2new_scripts_and_table(script_env):
    """The acceptance commands: scripts/<method>/base2new_{train,test}.sh on the generated layout with a tiny
    ViT CLIP, then parse_test_res.py --base2new tabulates every method."""
    work, env = script_env
    env = dict(env, OMP_NUM_THREADS="1")
    for script, trainer in (("ivlp", "IVLP"), ("maple", "MaPLe"), ("promptsrc", "PromptSRC")):
        for step in ("train", "test"):
            subprocess.run(["bash", f"scripts/{script}/base2new_{step}.sh", "caltech101", "1"], cwd=work, check=True,
                           capture_output=True, env=dict(env, CFG=TINY[trainer]))
        rel = f"caltech101/shots_16/{trainer}/{TINY[trainer]}/seed1/log.txt"
        new_log = (work / "output/base2new/test_new" / rel).read_text()
        assert "SUBSAMPLE NEW CLASSES!" in new_log and f"{FOLDER[trainer]}/model.pth.tar-" in new_log
    table = subprocess.run([sys.executable, "parse_test_res.py", "--base2new", "output/base2new"], cwd=work, check=True,
                           capture_output=True, text=True).stdout
    for trainer in TINY:
        assert f"Base-to-novel: {trainer} {TINY[trainer]} shots_16" in table
    assert len(re.findall(r"\ncaltech101\s+[\d.]+\s+[\d.]+\s+[\d.]+", table)) == 3


def test_benchmark_reports_speedup_and_exactness(tmp_path, monkeypatch):
    """bench_train.py --method ivlp|maple|promptsrc (in this process): fast and plain paths agree."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import bench_train

    for method in ("ivlp", "maple", "promptsrc"):
        out = tmp_path / f"{method}.json"
        bench_train.main(["--arch", "tiny", "--steps", "1", "--warmup", "0", "--device", "cpu", "--classes", "12",
                          "--batch", "3", "--method", method, "--json", str(out)])
        fast, plain = json.loads(out.read_text())["rows"]
        assert (fast["path"], plain["path"]) == ("fast", "plain") and fast["text tokens/step"] < plain["text tokens/step"]
        assert fast["max rel diff logits"] < 1e-4 and fast["max rel diff grad"] < 1e-3, method
