"""KgCoOp, ProGrad and TCP: official config keys (boolean CTX_INIT, TCP's forced epochs), prompts and
initialisations, every fast path against the plain computation (logits, losses, gradients), the amp path's
loss terms, official-format checkpoints, and the script family end to end."""
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vlprompt.clip import PromptLearner, encode_class_prompts, load_clip, tokenize
from vlprompt.clip.tiny import build_tiny_clip
from vlprompt.config import bool_as_string, declare_coercion, get_cfg, setup_cfg
from vlprompt.engine import build_trainer
from vlprompt.launch import RunSpec
from vlprompt.testing.reference import (
    reference_kgcoop_loss,
    reference_prograd_step_grads,
    reference_tcp_text_features,
    reference_text_features,
)
from vlprompt.trainers.kgcoop import KgCoOpCLIP, kg_loss
from vlprompt.trainers.prograd import (
    PROGRAD_TEMPLATES,
    ProGradCLIP,
    loss_gradients,
    prograd_context,
    prograd_losses,
    project_conflicting,
)
from vlprompt.trainers.tcp import TCP_PROMPT_TEMPLATES, TCPCLIP, TCPPromptLearner

from .helpers import CALTECH_CFG, REPO, coop_args, final_accuracy

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["apple_pie", "kite (bird of prey)", "cat", "yin yang", "face"]
TINY = {t: str(REPO / f"configs/trainers/{t}/tiny_ep5.yaml") for t in ("KgCoOp", "ProGrad", "TCP")}


@pytest.fixture(scope="module")
def clip4():
    """A tiny fp32 CLIP with 4 text blocks (TCP injects before block 2)."""
    return build_tiny_clip(layers=4).float()


def _images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, len(NAMES), (n,), generator=g)


def _assert_grads_close(fast, ref):
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


# ----------------------------------------------------------------------------- config
def test_boolean_ctx_init_of_official_configs_merges_as_a_switch(tmp_path):
    cfg = setup_cfg(config_file=str(REPO / "configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml"))
    assert cfg.TRAINER.COOP.CTX_INIT == "True" and cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 128
    assert setup_cfg(config_file=str(REPO / "configs/trainers/TCP/vit_b16_ep100_ctxv1.yaml")).TRAINER.COOP.CTX_INIT == ""
    assert setup_cfg(opts=["TRAINER.COOP.CTX_INIT", "True"]).TRAINER.COOP.CTX_INIT == "True"
    assert setup_cfg(opts=["TRAINER.COOP.CTX_INIT", "False"]).TRAINER.COOP.CTX_INIT == ""
    # CoOp's strings are untouched, from a YAML and from the command line.
    assert setup_cfg(config_file=str(REPO / "configs/trainers/CoOp/vit_b16_ctxv1.yaml")).TRAINER.COOP.CTX_INIT == "a photo of a"
    assert setup_cfg(opts=["TRAINER.COOP.CTX_INIT", "a_photo_of_a"]).TRAINER.COOP.CTX_INIT == "a_photo_of_a"
    # Keys without a coercion keep yacs' type check.
    with pytest.raises(ValueError, match="Type mismatch"):
        setup_cfg(opts=["TRAINER.COOP.N_CTX", "True"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("TRAINER:\n  COOP:\n    CTX_INIT: 3\n")
    with pytest.raises(ValueError, match=f'In config file "{bad}".*Type mismatch'):
        setup_cfg(config_file=str(bad))


def test_value_coercions_must_agree_and_need_a_declared_key():
    cfg = get_cfg()
    declare_coercion(cfg, "TRAINER.COOP.CTX_INIT", bool_as_string)  # the same function again: fine
    with pytest.raises(ValueError, match='"TRAINER.COOP.CTX_INIT" has two different value coercions'):
        declare_coercion(cfg, "TRAINER.COOP.CTX_INIT", str)
    with pytest.raises(KeyError, match="declare the key first"):
        declare_coercion(cfg, "TRAINER.COOP.NOT_A_KEY", str)
    assert cfg.clone().__dict__["__vlprompt_coercions__"]["TRAINER.COOP.CTX_INIT"] is bool_as_string


def test_coop_refuses_the_boolean_switch(clip4):
    with pytest.raises(ValueError, match=r'CTX_INIT True selects the initialisation of the method.*"a photo of a"'):
        PromptLearner(clip4, NAMES, ctx_init="True", verbose=False)


def test_tcp_forces_25_epochs_on_imagenet_and_sun397_and_scripts_load_that_epoch():
    for dataset, epochs in (("imagenet", 25), ("sun397", 25), ("caltech101", 50)):
        spec = RunSpec("base2new_test", "TCP", dataset, "vit_b16_ep100_ctxv1", opts=("TRAINER.COOP.N_CTX", "4"))
        assert spec.cfg().OPTIM.MAX_EPOCH == epochs and spec.epoch_to_load == epochs
    # Only for TCP: the same config under KgCoOp keeps its epochs.
    assert RunSpec("base2new_test", "KgCoOp", "imagenet", str(REPO / "configs/trainers/TCP/vit_b16_ep100_ctxv1.yaml")
                   ).cfg().OPTIM.MAX_EPOCH == 50


def test_base2new_folders_are_the_official_ones():
    def folder(trainer, cfg, shots, *opts):
        return RunSpec("base2new_train", trainer, "dtd", cfg, shots=shots, opts=opts).output_dir

    assert folder("KgCoOp", "vit_b16_ep100_ctxv1", 16, "TRAINER.COOP.W", "8.0") == \
        "output/base2new/train_base/dtd/shots_16_8.0/KgCoOp/vit_b16_ep100_ctxv1/seed1"
    assert folder("TCP", "vit_b16_ep100_ctxv1", 16, "TRAINER.COOP.W", "1.0").split("/")[4] == "shots_16_1.0"
    assert folder("ProGrad", "rn50_ep100", 4).split("/")[4] == "shots_4"
    assert folder("CoOp", "vit_b16_ctxv1", 16).split("/")[4] == "shots_16"


# ----------------------------------------------------------------------------- prompts and initialisation
def test_prograd_init_zero_fills_the_leading_context_and_keeps_trailing_tokens(clip4):
    """Pets' template "a type of pet, a photo of a {}.": 8 words -> the last 8 of 16 context vectors are the
    first 8 BPE tokens (a type of pet , a photo of); the 9th token ("a") stays fixed after the context and,
    being the same for every class, joins the shared prefix."""
    ctx, prefix = prograd_context(clip4, PROGRAD_TEMPLATES["OxfordPets"], 16, torch.float32)
    assert prefix == "X X X X X X X X a type of pet, a photo of a"
    ids = tokenize("a type of pet, a photo of a")[0]
    assert torch.equal(ctx[:8], torch.zeros(8, 64))
    assert torch.equal(ctx[8:], clip4.token_embedding.weight[ids[1:9]].detach())
    pl = PromptLearner(clip4, NAMES, n_ctx=16, context=(ctx, prefix), verbose=False)
    a = tokenize("a")[0, 1]
    assert torch.equal(pl.tokenized_prompts[:, 17], torch.full((len(NAMES),), int(a)))
    assert pl.plan.shared_len == 18 and pl.make_plan(True, False).shared_len == 0
    dtd_ctx, dtd_prefix = prograd_context(clip4, PROGRAD_TEMPLATES["DescribableTextures"], 4, torch.float32)
    assert dtd_prefix == "X a texture of" and torch.equal(dtd_ctx[0], torch.zeros(64))
    with pytest.raises(ValueError, match=r"N_CTX 4 is smaller than the 8 words .* use N_CTX >= 8"):
        prograd_context(clip4, PROGRAD_TEMPLATES["OxfordPets"], 4, torch.float32)
    with pytest.raises(ValueError, match='needs a template ending in " {}."'):
        prograd_context(clip4, "{} texture.", 16, torch.float32)


def test_tcp_prompts_come_from_its_table_with_the_first_tokens_replaced(clip4):
    ucf = TCPPromptLearner(clip4, ["Apply_Eye_Makeup"], 4, "", TCP_PROMPT_TEMPLATES["UCF101"], torch.float32)
    ids = tokenize("a photo of a person doing Apply Eye Makeup.")[0]
    assert torch.equal(ucf.tokenized_prompts[0], ids)  # positions 1..4 ("a photo of a") are the context
    assert torch.equal(ucf.token_suffix[0, :3], clip4.token_embedding.weight[ids[5:8]].detach())
    pets = TCPPromptLearner(clip4, ["beagle"], 4, "a photo of a", TCP_PROMPT_TEMPLATES["OxfordPets"], torch.float32)
    assert torch.equal(pets.tokenized_prompts[0], tokenize("X X X X beagle, a type of pet.")[0])
    assert torch.equal(pets.ctx.detach(), clip4.token_embedding.weight[tokenize("a photo of a")[0, 1:5]].detach())
    assert {k: tuple(v.shape) for k, v in pets.state_dict().items() if k.startswith("meta_net")} == {
        "meta_net.linear1.weight": (8, 32), "meta_net.linear1.bias": (8,),
        "meta_net.linear2.weight": (256, 8), "meta_net.linear2.bias": (256,)}  # E -> E/4 -> M * D
    with pytest.raises(ValueError, match='CLASS_TOKEN_POSITION must be "end"'):
        PromptLearner(clip4, NAMES, n_ctx=4, class_token_position="middle", prompt_template="X X X X {}.")
    with pytest.raises(ValueError, match="fewer than 16 tokens before its end"):
        TCPPromptLearner(clip4, NAMES, 16, "", "X X X X {}.", torch.float32)


# ----------------------------------------------------------------------------- exactness
def test_kgcoop_loss_and_gradients_equal_the_plain_computation(clip4):
    torch.manual_seed(0)
    pl = PromptLearner(clip4, NAMES, n_ctx=4, ctx_init="a photo of a", verbose=False)
    model = KgCoOpCLIP(clip4, pl, encode_class_prompts(clip4, NAMES, ["a photo of a {}, a type of food."]))
    image, label = _images()

    def run(fn):
        pl.ctx.grad = None
        loss = fn()
        loss.backward()
        return loss.detach(), pl.ctx.grad.clone()

    def fast():
        logits, text = model.forward_train(image)
        return F.cross_entropy(logits, label) + 8.0 * kg_loss(text, model.clip_text_features)

    ref_loss, ref_grad = run(lambda: reference_kgcoop_loss(model, image, label, 8.0))
    fast_loss, fast_grad = run(fast)
    torch.testing.assert_close(fast_loss, ref_loss, rtol=1e-5, atol=1e-6)
    _assert_grads_close([fast_grad], [ref_grad])
    plain_grad = run(lambda: reference_kgcoop_loss(model, image, label, 0.0))[1]
    assert not torch.allclose(plain_grad, ref_grad, atol=1e-3 * ref_grad.abs().max())  # the KG term acts
    # Evaluation: the text features encoded once give the plain logits.
    with torch.no_grad():
        ref_text = reference_text_features(pl, model.text_encoder)
        torch.testing.assert_close(model(image, text_features=model.text_features()),
                                   model.logits(model.encode_image(image), ref_text), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batched", [True, False])
def test_prograd_update_equals_the_official_two_backward_projection(clip4, batched):
    """One forward, both gradients pulled back through the text encoder (batched or two passes), the
    teacher's image features reused from the fp32 student: the official update's gradients."""
    torch.manual_seed(0)
    ctx, prefix = prograd_context(clip4, "a photo of a {}.", 6, torch.float32)
    pl = PromptLearner(clip4, NAMES, n_ctx=6, context=(ctx + 0.02 * torch.randn_like(ctx), prefix), verbose=False)
    # A teacher that prefers other classes than the student, so some updates conflict and get projected.
    teacher_text = encode_class_prompts(clip4, NAMES[1:] + NAMES[:1], ["itap of a {}."])
    model = ProGradCLIP(clip4, pl, teacher_text)
    params = [pl.ctx]
    projected = {}
    for seed, lam in ((0, 1.0), (3, 0.8)):
        image, label = _images(seed=seed)
        ref = reference_prograd_step_grads(model, image, label, T=2.0, lam=lam)
        image_features = model.encode_image(image)
        text = model.text_features()
        xe, kl = prograd_losses(model.logits(image_features, text), model.teacher_logits(image, image_features),
                                label, 2.0)
        pairs = loss_gradients(xe, kl, text, params, batched=batched)
        fast = [project_conflicting(g_xe, g_kl, lam) for g_xe, g_kl in pairs]
        _assert_grads_close(fast, ref)
        projected[seed] = not torch.allclose(fast[0], pairs[0][0])
        # The teacher reused from the student equals a separate teacher forward.
        torch.testing.assert_close(model.teacher_logits(image, image_features), model.teacher_logits(image))
    assert projected == {0: False, 3: True}  # both branches: aligned gradients kept, a conflicting one projected


def test_projection_rule():
    g_kl = torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(project_conflicting(torch.tensor([[-2.0, 3.0]]), g_kl, 1.0), torch.tensor([[0.0, 3.0]]))
    torch.testing.assert_close(project_conflicting(torch.tensor([[-2.0, 3.0]]), g_kl, 0.5), torch.tensor([[-1.0, 3.0]]))
    torch.testing.assert_close(project_conflicting(torch.tensor([[2.0, 3.0]]), g_kl, 1.0), torch.tensor([[2.0, 3.0]]))
    zero = torch.zeros(1, 2)
    torch.testing.assert_close(project_conflicting(torch.tensor([[-2.0, 3.0]]), zero, 1.0), torch.tensor([[-2.0, 3.0]]))
    half = project_conflicting(torch.tensor([[-2.0, 3.0]]).half(), g_kl.half(), 1.0)
    assert half.dtype == torch.float16 and half.tolist() == [[0.0, 3.0]]


def test_tcp_fast_paths_equal_the_plain_computation(clip4):
    """Blocks before the injection shared, then per class; truncated after the EOT: features, the KG loss's
    gradients for the context and the meta-net, and the evaluation logits equal the plain computation."""
    torch.manual_seed(0)
    feats = encode_class_prompts(clip4, NAMES, ["a photo of a {}."])
    pl = TCPPromptLearner(clip4, NAMES, 4, "", "X X X X {}, a type of food.", torch.float32)
    model = TCPCLIP(clip4, pl, feats, inject_layer=2)
    params = [pl.ctx, *pl.meta_net.parameters()]
    image, label = _images()

    def run(text_fn):
        for p in params:
            p.grad = None
        text = text_fn()
        logits = model.logits(model.encode_image(image), text)
        (F.cross_entropy(logits, label) + 8.0 * kg_loss(text, feats)).backward()
        return text.detach(), [p.grad.clone() for p in params]

    ref_text, ref_grads = run(lambda: reference_tcp_text_features(model))
    for truncate, shared in [(True, True), (True, False), (False, True)]:
        plan = pl.make_plan(truncate, shared)
        text, grads = run(lambda: model.text_features(plan))
        torch.testing.assert_close(text, ref_text, rtol=1e-5, atol=1e-5)
        _assert_grads_close(grads, ref_grads)
    assert pl.plan.shared_len == 5  # start token + 4 context vectors, shared by blocks 0-1
    with torch.no_grad():
        without = F.normalize(model.text_encoder.encode(pl(), pl.plan), dim=-1)
    assert not torch.allclose(without, ref_text, atol=1e-3)  # the injection acts


# ----------------------------------------------------------------------------- trainers
def _trainer(trainer, data_root, clip_cache, *opts):
    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=TINY[trainer],
                    opts=["DATASET.ROOT", data_root, "MODEL.BACKBONE.CACHE_DIR", clip_cache, "OUTPUT_DIR", "unused",
                          "VERBOSE", "False", "TRAINER.NAME", trainer, "DATASET.NUM_SHOTS", "4", *opts])
    return build_trainer(cfg)


@pytest.mark.parametrize("name", ["KgCoOp", "TCP", "ProGrad"])
def test_amp_computes_the_same_loss_terms_as_fp32(data_root, clip_cache, name):
    """The official amp branches crash or drop the KG term; here amp (bf16 autocast on the CPU) computes the
    same terms as fp32 on the same weights and batch, within bf16 rounding."""
    trainer = _trainer(name, data_root, clip_cache)
    image, label = trainer.parse_batch_train(next(iter(trainer.train_loader_x)))
    if name == "KgCoOp":
        ctx = trainer.model.prompt_learner.ctx
        with torch.no_grad():
            # CTX_INIT True starts from "a photo of a {}." = Caltech101's hand-crafted prompt: no KG loss yet.
            assert trainer.loss_terms(image, label)["kg"].abs() < 1e-5
            ctx.add_(0.05 * torch.randn_like(ctx))
    terms = {}
    for prec in ("fp32", "amp"):
        trainer.precision = prec  # CLIP runs in fp32 for both; amp adds autocast
        with torch.no_grad():
            if name == "ProGrad":
                xe, kl, logits, _ = trainer.losses(image, label)
                terms[prec] = {"xe": xe, "kl": kl}
            else:
                with trainer.autocast():
                    t = trainer.loss_terms(image, label)
                torch.testing.assert_close(t["loss"], t["ce"] + trainer.kg_weight * t["kg"])
                terms[prec] = {k: t[k] for k in ("ce", "kg", "loss")}
    assert trainer.autocast_dtype() == torch.bfloat16
    assert terms["fp32"].keys() == terms["amp"].keys()
    for k in terms["fp32"]:
        assert terms["amp"][k].dtype == torch.float32
        torch.testing.assert_close(terms["amp"][k], terms["fp32"][k], rtol=0.05, atol=0.02)
    if name != "ProGrad":
        assert terms["fp32"]["kg"] > 1e-3  # the KG term is there
    trainer.forward_backward(next(iter(trainer.train_loader_x)))  # and the amp step runs
    assert all(torch.isfinite(p).all() for p in trainer.model.prompt_learner.parameters())


def test_prograd_teacher_is_an_fp32_clip_when_the_student_is_not(data_root, clip_cache):
    """An fp16 student (GPU runs) gets an fp32 copy of the image tower as teacher, and fp32 text features:
    the official zero-shot teacher's logits."""
    trainer = _trainer("ProGrad", data_root, clip_cache)
    names = trainer.dm.dataset.classnames
    model = trainer.build_custom_clip(names, load_clip("TinyCLIP", cache_dir=clip_cache))  # fp16, as OpenAI's
    assert model.image_encoder.conv1.weight.dtype == torch.float16
    assert model.teacher_visual.conv1.weight.dtype == torch.float32
    clip32 = load_clip("TinyCLIP", cache_dir=clip_cache).float()
    image = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = clip32.logit_scale.exp() * F.normalize(clip32.encode_image(image), dim=-1) @ \
            encode_class_prompts(clip32, names, ["a photo of a {}."]).t()
    torch.testing.assert_close(model.teacher_logits(image), expected, rtol=1e-5, atol=1e-5)


def test_config_errors_are_clear(data_root, clip_cache):
    with pytest.raises(ValueError, match=r"INJECT_LAYER 8 is not a block of this text encoder: it has 2 blocks, so use "
                                         r"1..1 \(the official 8 of 12 is 1 here\)"):
        _trainer("TCP", data_root, clip_cache, "TRAINER.TCP.INJECT_LAYER", "8")
    with pytest.raises(ValueError, match="set TRAINER.COOP.CSC False"):
        _trainer("TCP", data_root, clip_cache, "TRAINER.COOP.CSC", "True")
    with pytest.raises(ValueError, match='CLASS_TOKEN_POSITION must be "end", got "middle"'):
        _trainer("KgCoOp", data_root, clip_cache, "TRAINER.COOP.CLASS_TOKEN_POSITION", "middle")
    with pytest.raises(ValueError, match='ProGrad needs LOSS.NAME "prograd"'):
        _trainer("ProGrad", data_root, clip_cache, "LOSS.NAME", "")


def test_tcp_uses_the_official_adam_eps(data_root, clip_cache):
    trainer = _trainer("TCP", data_root, clip_cache)
    assert isinstance(trainer.optim, torch.optim.Adam) and trainer.optim.param_groups[0]["eps"] == 1e-3
    assert trainer.method_tag() == "TCP (M=4, injected before block 1, KG weight 8)"


# ----------------------------------------------------------------------------- checkpoints
def _official_checkpoint(folder, state_dict, epoch):
    """A checkpoint as Dassl.ProGrad.pytorch / Dassl save it: fp16 tensors, no val_result."""
    params = [torch.nn.Parameter(state_dict["ctx"].float())]
    opt = torch.optim.SGD(params, lr=0.002, momentum=0.9)
    d = folder / "prompt_learner"
    d.mkdir(parents=True)
    torch.save({"state_dict": state_dict, "epoch": epoch, "optimizer": opt.state_dict(),
                "scheduler": {"last_epoch": epoch}}, d / f"model.pth.tar-{epoch}")
    (d / "checkpoint").write_text(f"model.pth.tar-{epoch}\n")


def _official_state(trainer_name, n_cls=4):
    torch.manual_seed(1)
    h = lambda *shape: (torch.randn(*shape) * 0.02).half()  # noqa: E731
    sd = {"ctx": h(16 if trainer_name == "ProGrad" else 4, 64), "token_prefix": h(n_cls, 1, 64)}
    sd["token_suffix"] = h(n_cls, 77 - 1 - sd["ctx"].shape[0], 64)
    if trainer_name == "KgCoOp":  # created but unused by the official prompt learner
        sd.update({"bias_vectors": h(1, 512), "meta_net.linear1.weight": h(512, 512), "meta_net.linear1.bias": h(512)})
    if trainer_name == "TCP":  # TinyCLIP: E = 32 -> 8 -> 4 x 64
        sd.update({"meta_net.linear1.weight": h(8, 32), "meta_net.linear1.bias": h(8),
                   "meta_net.linear2.weight": h(256, 8), "meta_net.linear2.bias": h(256)})
    return sd


@pytest.mark.parametrize("name", ["KgCoOp", "ProGrad", "TCP"])
def test_official_checkpoints_load_for_evaluation(run_train, data_root, tmp_path, name):
    """train.py --eval-only --model-dir DIR --load-epoch N on a checkpoint in the official layout and names
    (base classes' buffers, other class count: dropped and rebuilt); KgCoOp's unused entries are ignored."""
    sd = _official_state(name)
    _official_checkpoint(tmp_path / "official", sd, 50)
    args = coop_args(data_root, tmp_path / "eval", trainer=name, config=TINY[name])
    log = run_train(args + ["--eval-only", "--model-dir", str(tmp_path / "official"), "--load-epoch", "50"],
                    ["TRAINER.COOP.N_CTX", str(sd["ctx"].shape[0])])
    assert "(epoch = 50)" in log and "* accuracy:" in log
    # Wrong shapes or keys are refused with the keys named.
    bad = dict(sd, **{"extra.weight": torch.zeros(1)})
    _official_checkpoint(tmp_path / "bad", bad, 50)
    with pytest.raises(RuntimeError, match=r"unexpected keys \['extra.weight'\]"):
        run_train(coop_args(data_root, tmp_path / "eval2", trainer=name, config=TINY[name])
                  + ["--eval-only", "--model-dir", str(tmp_path / "bad"), "--load-epoch", "50"],
                  ["TRAINER.COOP.N_CTX", str(sd["ctx"].shape[0])])


def test_loaded_official_weights_are_the_ones_used(data_root, clip_cache, tmp_path):
    sd = _official_state("TCP")
    _official_checkpoint(tmp_path / "official", sd, 50)
    trainer = _trainer("TCP", data_root, clip_cache)
    trainer.load_model(str(tmp_path / "official"), epoch=50)
    pl = trainer.model.prompt_learner
    torch.testing.assert_close(pl.ctx.detach(), sd["ctx"].float())
    torch.testing.assert_close(pl.meta_net.linear2.weight.detach(), sd["meta_net.linear2.weight"].float())


# ----------------------------------------------------------------------------- scripts
def _sh(work, env, *cmd, **extra):
    return subprocess.run(["bash", *cmd], cwd=work, env=dict(env, **extra), check=True, capture_output=True, text=True)


def test_base2new_scripts_and_table_for_each_method(script_env):
    """The acceptance commands: scripts/<method>/base2new_train.sh / base2new_test.sh on the generated
    layout with a tiny CLIP, then parse_test_res.py --base2new tabulates the three methods."""
    work, env = script_env
    folders = {"kgcoop": "shots_16_8.0/KgCoOp", "prograd": "shots_16/ProGrad", "tcp": "shots_16_1.0/TCP"}
    for method, folder in folders.items():
        tiny = {"CFG": "tiny_ep5", "LOADEP": "5", "SHOTS": "16"}
        _sh(work, env, f"scripts/{method}/base2new_train.sh", "caltech101", "1", **tiny)
        _sh(work, env, f"scripts/{method}/base2new_test.sh", "caltech101", "1", **tiny)
        rel = f"caltech101/{folder}/tiny_ep5/seed1/log.txt"
        base_log = (work / "output/base2new/train_base" / rel).read_text()
        new_log = (work / "output/base2new/test_new" / rel).read_text()
        assert "SUBSAMPLE BASE CLASSES!" in base_log and "SUBSAMPLE NEW CLASSES!" in new_log
        assert "(epoch = 5)" in new_log and "* accuracy:" in new_log
        if method == "prograd":
            assert re.search(r"xe_loss [\d.]+ \([\d.]+\) kl_loss [\d.]+ \([\d.]+\) acc", base_log)
        else:
            assert "Hand-crafted prompts (4): ['a photo of a face.'" in base_log
        if method == "kgcoop":
            assert "W: 8.0" in base_log and "N_CTX: 4" in base_log
    out = subprocess.run([sys.executable, "parse_test_res.py", "--base2new", "output/base2new"], cwd=work, check=True,
                         capture_output=True, text=True).stdout
    for method, folder in folders.items():
        shots, trainer = folder.split("/")
        base = final_accuracy((work / f"output/base2new/train_base/caltech101/{folder}/tiny_ep5/seed1/log.txt").read_text())
        new = final_accuracy((work / f"output/base2new/test_new/caltech101/{folder}/tiny_ep5/seed1/log.txt").read_text())
        h = 2 * base * new / (base + new) if base + new else 0.0
        assert f"{trainer} tiny_ep5 {shots}" in out
        assert re.search(rf"caltech101\s+{base:.2f}\s+{new:.2f}\s+{h:.2f}", out), out


def test_prograd_two_processes_equal_one_process(data_root, tmp_path, clip_cache):
    """ProGrad's update computes its gradients with torch.autograd.grad, which DDP's hooks do not see: the two
    gradients are averaged across processes by hand. torchrun with 2 processes (gloo) must train the same
    context as one process on the same global batches."""
    import os

    opts = ["DATASET.NUM_SHOTS", "4", "OPTIM.MAX_EPOCH", "3", "INPUT.TRANSFORMS", "['normalize']",
            "MODEL.BACKBONE.CACHE_DIR", clip_cache]
    args = lambda out: coop_args(data_root, out, trainer="ProGrad", config=TINY["ProGrad"]) + opts  # noqa: E731
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(REPO / "train.py"), *args(tmp_path / "one")], check=True, env=env,
                   capture_output=True)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(REPO / "train.py"),
                          *args(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Distributed run: 2 processes (global batch 8)" in (tmp_path / "two/log.txt").read_text()
    ctx = {k: torch.load(tmp_path / k / "prompt_learner/model.pth.tar-3", weights_only=True)["state_dict"]["ctx"]
           for k in ("one", "two")}
    torch.testing.assert_close(ctx["two"], ctx["one"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["kgcoop", "prograd", "tcp"])
def test_benchmark_rows_report_speedup_and_exactness(tmp_path, method):
    """benchmarks/bench_train.py --method kgcoop|prograd|tcp (tiny CLIP): the fast step's logits and update
    equal the plain (official) computation's, with fewer text-token positions."""
    import json

    out = tmp_path / "r.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks/bench_train.py"), "--arch", "tiny", "--method", method,
                    "--classes", "12", "--batch", "4", "--steps", "1", "--warmup", "0", "--device", "cpu",
                    "--json", str(out)], check=True, capture_output=True, text=True)
    fast, plain = json.loads(out.read_text())["rows"]
    assert (fast["path"], plain["path"], fast["method"]) == ("fast", "plain", method)
    assert fast["text tokens/step"] < plain["text tokens/step"]
    assert fast["max rel diff logits"] < 1e-4 and fast["max rel diff grads"] < 1e-3
