"""open_clip backbone families (#16): the text-tower adapter, exactness of the fast paths where they are claimed
and the reference plan where they are not, CoOp / CoCoOp on every family through train.py, the context-length
error, QuickGELU and preprocessing choices. Models are random-weight miniatures of open_clip's own configs
(vlprompt/testing/backbones.py), built offline."""
import json
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vlprompt.clip import PromptLearner, TextEncoder, load_clip
from vlprompt.clip.loader import _quick_gelu_kwargs, describe_preprocess, open_clip_config, open_clip_tokenizer
from vlprompt.clip.towers import HFJsonTokenizer, text_tower
from vlprompt.config import setup_cfg
from vlprompt.engine import build_trainer
from vlprompt.launch import run_in_process
from vlprompt.testing.backbones import FAMILIES, make_backbone_folder
from vlprompt.testing.reference import reference_cocoop_logits, reference_text_features

from .helpers import CALTECH_CFG, REPO, TINY_CFG, coop_args, final_accuracy

# family -> (model class, pooling, causal, context length, leading special tokens)
EXPECTED = {
    "openclip": ("CLIP", "argmax", True, 77, 1),
    "quickgelu": ("CLIP", "argmax", True, 77, 1),
    "eva02": ("CustomTextCLIP", "argmax", True, 77, 1),
    "pecore": ("CustomTextCLIP", "argmax", True, 32, 1),
    "siglip": ("CustomTextCLIP", "last", False, 64, 0),
    "metaclip2": ("CLIP", "eos", True, 77, 1),
}
NAMES = ["Faces", "Leopards", "yin_yang", "crocodile_head", "anchor"]
COCOOP_CFG = str(REPO / "configs/trainers/CoCoOp/tiny_c4_ep5_batch4.yaml")
# The miniatures' image sizes differ from the tiny configs' 32 px: take every INPUT key from the model.
ONE_EPOCH = ["OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "1", "MODEL.BACKBONE.PREPROCESS", "pretrained"]


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("backbones")
    return {f: make_backbone_folder(str(root / f), f) for f in FAMILIES}


@pytest.fixture(scope="module")
def models(families) -> dict:
    return {f: load_clip(name).float() for f, name in families.items()}


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory) -> str:
    from vlprompt.testing.datasets import make_caltech101

    root = tmp_path_factory.mktemp("data")
    make_caltech101(str(root))
    return str(root)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tower_flags_and_plan(models, family, one_thread):
    model = models[family]
    cls, pool, causal, length, lead = EXPECTED[family]
    tower = text_tower(model)
    assert (type(model).__name__, tower.pool, tower.causal, tower.context_length, tower.lead) == EXPECTED[family]
    pl = PromptLearner(model, NAMES, n_ctx=4, verbose=False)
    if family == "siglip":  # bidirectional, last position: the plain computation only
        assert not tower.fast_paths_exact and pl.plan.is_reference and pl.plan.seq_len == 64
        assert pl.eot_indices.tolist() == [63] * len(NAMES)
        with pytest.raises(ValueError, match="not exact for this text tower"):
            pl.make_plan(truncate=True, shared_prefix=True)
    else:
        assert tower.fast_paths_exact and pl.plan.shared_len == 1 + 4 and pl.plan.seq_len < length
        assert len(pl.plan.length_groups) == 2  # one-word and two-word class names


@pytest.mark.parametrize("family", list(FAMILIES))
def test_prompt_features_equal_open_clips_own_encoder(models, family, one_thread):
    """Context words as the context: the learner + encoder give what open_clip's encode_text gives for the text."""
    model = models[family]
    tower = text_tower(model)
    pl = PromptLearner(model, NAMES, ctx_init="a photo of the", verbose=False)
    ours = F.normalize(TextEncoder(model).encode(pl(), pl.plan), dim=-1)
    ids = tower.tokenize([f"a photo of the {n.replace('_', ' ')}." for n in NAMES])
    theirs = F.normalize(model.encode_text(ids), dim=-1)
    torch.testing.assert_close(ours, theirs, atol=2e-6, rtol=0)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_fast_paths_equal_the_plain_computation(models, family, position, one_thread):
    model = models[family]
    pl = PromptLearner(model, NAMES, n_ctx=4, class_token_position=position, verbose=False)
    te = TextEncoder(model)
    image = F.normalize(torch.randn(3, 64, generator=torch.Generator().manual_seed(0)), dim=-1)

    def logits_and_grad(fn):
        pl.ctx.grad = None
        logits = 50 * image @ fn().t()
        F.cross_entropy(logits, torch.tensor([0, 2, 4])).backward()
        return logits.detach(), pl.ctx.grad.clone()

    fast = logits_and_grad(lambda: F.normalize(te.encode(pl(pl.plan), pl.plan), dim=-1))
    ref = logits_and_grad(lambda: reference_text_features(pl, te))
    torch.testing.assert_close(fast[0], ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast[1], ref[1], rtol=1e-4, atol=1e-4 * ref[1].abs().max().item())


def test_over_long_prompt_on_a_32_token_tower_names_the_limit(models):
    # A Stanford Cars class, 13 BPE tokens: 1 + 16 context + 13 + "." + end-of-text = 32, PE-Core's limit: fits.
    name = "Chevrolet Silverado 2500HD Regular Cab 2012"
    pl = PromptLearner(models["pecore"], [name], n_ctx=16, verbose=False)
    assert pl.eot_indices.tolist() == [31]
    with pytest.raises(ValueError, match=r"is 33 tokens, more than the context length of this text encoder "
                                         r"\(32 tokens\).*fewer context tokens \(N_CTX, now 16\)"):
        PromptLearner(models["pecore"], [name + " pickup"], n_ctx=16, verbose=False)
    PromptLearner(models["pecore"], [name + " pickup"], n_ctx=15, verbose=False)  # fits with one fewer
    with pytest.raises(ValueError, match=r"context length of this text encoder \(64 tokens\)"):
        PromptLearner(models["siglip"], [" ".join(["faces"] * 60)], n_ctx=4, verbose=False)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_coop_trains_evaluates_and_reloads(families, family, shared_data, tmp_path, one_thread):
    out = tmp_path / "run"
    bb = ["MODEL.BACKBONE.NAME", families[family]]
    run_in_process(coop_args(shared_data, out) + ONE_EPOCH + bb)
    log = (out / "log.txt").read_text()
    acc = final_accuracy(log)
    losses = [float(x) for x in re.findall(r"loss ([\d.]+) \(", log)]
    assert losses and all(x == x and x < 20 for x in losses)
    assert json.loads((out / "results.json").read_text())["status"] == "completed"
    assert ("Text encoding: the reference plan" in log) == (family == "siglip")
    size = 224 if family == "eva02" else 160 if family in ("siglip", "pecore") else 32
    assert (f"Preprocessing (MODEL.BACKBONE.PREPROCESS pretrained): as the pretrained config of {families[family]}: "
            f"SIZE ({size}, {size}), PIXEL_MEAN (0.5, 0.5, 0.5), PIXEL_STD (0.5, 0.5, 0.5)") in log
    sd = torch.load(out / "prompt_learner" / "model.pth.tar-1", weights_only=True)["state_dict"]
    lead = EXPECTED[family][4]
    assert sd["ctx"].shape == (16, 64) and sd["token_prefix"].shape[1] == lead
    assert sd["token_prefix"].shape[1] + 16 + sd["token_suffix"].shape[1] == EXPECTED[family][3]
    run_in_process(coop_args(shared_data, tmp_path / "eval") + ONE_EPOCH + bb
                   + ["--eval-only", "--model-dir", str(out), "--load-epoch", "1"])
    assert final_accuracy((tmp_path / "eval" / "log.txt").read_text()) == acc


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cocoop_step_equals_the_reference_loop(families, family, shared_data, tmp_path, one_thread):
    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=COCOOP_CFG,
                    opts=["DATASET.ROOT", shared_data, "OUTPUT_DIR", str(tmp_path), "TRAINER.NAME", "CoCoOp",
                          "VERBOSE", "False", "MODEL.BACKBONE.NAME", families[family]] + ONE_EPOCH)
    trainer = build_trainer(cfg)
    batch = next(iter(trainer.train_loader_x))
    image = batch["img"][:2]
    with torch.no_grad():
        torch.testing.assert_close(trainer.model(image), reference_cocoop_logits(trainer.model, image),
                                   atol=1e-4, rtol=1e-5)
    pl = trainer.model.prompt_learner
    before = {k: v.clone() for k, v in pl.state_dict().items()}
    summary = trainer.forward_backward(batch)
    assert summary["loss"] == summary["loss"]  # finite
    after = pl.state_dict()
    assert not torch.equal(before["ctx"], after["ctx"])
    assert not torch.equal(before["meta_net.linear2.weight"], after["meta_net.linear2.weight"])


# ------------------------------------------------------------------------------------- loading choices
def test_quick_gelu_follows_the_tag_or_fails():
    cfg = open_clip_config("ViT-B-16")["model_cfg"]
    assert _quick_gelu_kwargs("ViT-B-16", cfg, "dfn2b") == {"force_quick_gelu": True}  # trained with QuickGELU
    assert _quick_gelu_kwargs("ViT-B-16", cfg, "laion2b_s34b_b88k") == {}
    quick = open_clip_config("ViT-B-16-quickgelu")["model_cfg"]
    with pytest.raises(ValueError, match="use MODEL.BACKBONE.NAME ViT-B-16 with this tag"):
        _quick_gelu_kwargs("ViT-B-16-quickgelu", quick, "laion2b_s34b_b88k")
    with pytest.raises(ValueError, match="Unknown pretrained tag"):
        _quick_gelu_kwargs("ViT-B-16", cfg, "no_such_tag")


def test_quick_gelu_is_built_when_the_tag_needs_it(families, models):
    from open_clip.transformer import QuickGELU

    def acts(m):
        return {type(x).__name__ for x in m.modules() if isinstance(x, (QuickGELU, torch.nn.GELU))}

    assert acts(models["quickgelu"]) == {"QuickGELU"} and acts(models["openclip"]) == {"GELU"}


def _cfg(name, tag="", opts=(), config=TINY_CFG):
    return setup_cfg(dataset_config_file=CALTECH_CFG, config_file=config,
                     opts=["MODEL.BACKBONE.NAME", name, "MODEL.BACKBONE.PRETRAINED_TAG", tag, *opts])


def test_preprocessing_from_the_pretrained_config_unless_set():
    # The tiny config sets SIZE, INTERPOLATION, mean and std: those stay (with a warning); RESIZE_MODE is taken.
    with pytest.warns(UserWarning, match=r"kept as configured.*PIXEL_MEAN .*pretrained config says \(0.5, 0.5, 0.5\)"):
        cfg = _cfg("ViT-B-16-SigLIP", "webli")
    assert cfg.INPUT.SIZE == (32, 32) and cfg.INPUT.RESIZE_MODE == "squash"
    assert describe_preprocess(cfg) == (
        "Preprocessing (MODEL.BACKBONE.PREPROCESS auto): as the pretrained config of ViT-B-16-SigLIP/webli: "
        "INTERPOLATION bicubic, RESIZE_MODE squash; from the config instead: SIZE (32, 32) (pretrained: (224, 224)), "
        "PIXEL_MEAN (0.4815, 0.4578, 0.4082) (pretrained: (0.5, 0.5, 0.5)), PIXEL_STD (0.2686, 0.2613, 0.2758) "
        "(pretrained: (0.5, 0.5, 0.5))")
    cfg = _cfg("PE-Core-B-16", "meta", ["MODEL.BACKBONE.PREPROCESS", "pretrained"])
    assert (cfg.INPUT.SIZE, cfg.INPUT.INTERPOLATION, cfg.INPUT.RESIZE_MODE) == ((224, 224), "bilinear", "squash")
    assert list(cfg.INPUT.PIXEL_MEAN) == [0.5, 0.5, 0.5]
    # A local file without a tag: the preprocessing every pretrained tag of the architecture shares.
    cfg = _cfg("ViT-B-16-SigLIP", "", ["MODEL.BACKBONE.PREPROCESS", "pretrained"])
    assert list(cfg.INPUT.PIXEL_MEAN) == [0.5, 0.5, 0.5] and cfg.INPUT.RESIZE_MODE == "squash"
    assert "as the pretrained config of ViT-B-16-SigLIP (every pretrained tag: webli)" in describe_preprocess(cfg)
    cfg = _cfg("ViT-B-16-SigLIP", "webli", ["MODEL.BACKBONE.PREPROCESS", "config"])
    assert cfg.INPUT.RESIZE_MODE == "shortest" and cfg.INPUT.SIZE == (32, 32)
    cfg = _cfg("ViT-B/16", "", ["MODEL.BACKBONE.PREPROCESS", "pretrained"])  # OpenAI names keep the INPUT keys
    assert cfg.INPUT.SIZE == (32, 32)
    with pytest.raises(ValueError, match="MODEL.BACKBONE.PREPROCESS must be one of"):
        _cfg("EVA02-B-16", "", ["MODEL.BACKBONE.PREPROCESS", "tag"])


def test_squash_resize_keeps_the_whole_image():
    from vlprompt.data.transforms import build_transform

    cfg = _cfg("ViT-B-16-SigLIP", "webli", ["MODEL.BACKBONE.PREPROCESS", "pretrained"])
    names = [type(t).__name__ for t in build_transform(cfg, is_train=False).transforms]
    assert names == ["Resize", "ToTensor", "Normalize"]


def test_tokenizer_errors(families, tmp_path, monkeypatch):
    siglip = open_clip_config("ViT-B-16-SigLIP")["model_cfg"]
    with pytest.raises(FileNotFoundError, match="MODEL.BACKBONE.TOKENIZER"):
        open_clip_tokenizer("ViT-B-16-SigLIP", siglip, tokenizer=str(tmp_path / "missing.json"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match=r"timm/ViT-B-16-SigLIP.*set MODEL.BACKBONE.TOKENIZER"):
        open_clip_tokenizer("ViT-B-16-SigLIP", siglip, cache_dir=str(tmp_path))
    folder = Path(families["siglip"][len("local-dir:"):])
    tok = open_clip_tokenizer("ViT-B-16-SigLIP", siglip, tokenizer=str(folder))
    assert isinstance(tok, HFJsonTokenizer) and tok.lead == () and tok.pad_id == 0 and tok.eot_id == 1
    with pytest.raises(ValueError, match="Hugging Face text model"):
        open_clip_tokenizer("roberta-ViT-B-32", open_clip_config("roberta-ViT-B-32")["model_cfg"])
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match='"tokenizers" package, which is not installed'):
        HFJsonTokenizer(str(folder / "tokenizer.json"))


def test_context_words_must_be_one_token_each(models):
    with pytest.raises(ValueError, match="each context word must be one token"):
        PromptLearner(models["metaclip2"], NAMES, ctx_init="a photo of the.x", verbose=False)


BACKBONE_CONFIGS = ["vitb16_laion2b", "vitb16_datacomp", "vitb16_dfn2b", "siglip_b16", "eva02_b16", "pecore_b16",
                    "mobileclip2_b"]


@pytest.mark.parametrize("stem", BACKBONE_CONFIGS)
def test_backbone_configs_take_preprocessing_and_activation_from_their_tag(stem):
    from open_clip.pretrained import get_pretrained_cfg

    for config in (REPO / f"configs/trainers/CoOp/{stem}_ep50.yaml", REPO / f"configs/trainers/CoCoOp/{stem}_c4_ep10_batch1.yaml"):
        cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=str(config))
        bb = cfg.MODEL.BACKBONE
        tag_cfg = get_pretrained_cfg(bb.NAME, bb.PRETRAINED_TAG)
        assert tag_cfg, f"{bb.NAME}/{bb.PRETRAINED_TAG} is not an open_clip pretrained tag"
        assert list(cfg.INPUT.PIXEL_MEAN) == list(tag_cfg["mean"]) and cfg.INPUT.RESIZE_MODE == tag_cfg["resize_mode"]
        assert cfg.INPUT.INTERPOLATION == tag_cfg["interpolation"]
        kwargs = _quick_gelu_kwargs(bb.NAME, open_clip_config(bb.NAME)["model_cfg"], bb.PRETRAINED_TAG)
        assert kwargs == {}  # the configs name the architecture the tag was trained with


@pytest.mark.parametrize("family", ["siglip", "metaclip2"])
def test_amp_runs_the_same_loss_in_bf16_autocast(families, family, shared_data, tmp_path, one_thread):
    out = tmp_path / "amp"
    run_in_process(coop_args(shared_data, out) + ONE_EPOCH
                   + ["MODEL.BACKBONE.NAME", families[family], "TRAINER.COOP.PREC", "amp"])
    log = (out / "log.txt").read_text()
    assert "Precision: amp" in log
    fp32 = tmp_path / "fp32"
    run_in_process(coop_args(shared_data, fp32) + ONE_EPOCH + ["MODEL.BACKBONE.NAME", families[family]])
    loss_amp, loss_fp32 = (float(re.findall(r"loss ([\d.]+) \(", (d / "log.txt").read_text())[0]) for d in (out, fp32))
    assert abs(loss_amp - loss_fp32) < 0.05 * loss_fp32  # the same cross-entropy, in bf16


@pytest.mark.parametrize("family", ["siglip", "eva02"])
def test_layer_prompts_replace_the_context_positions(models, family, one_thread):
    """Deep prompts replace the positions of the context (after CLIP's start token; from 0 on SigLIP, which
    has none): replacing them before block 0 with the context itself changes nothing."""
    model = models[family]
    pl = PromptLearner(model, NAMES, n_ctx=4, verbose=False)
    te = TextEncoder(model)
    plain = te.encode(pl(), pl.plan)
    lead = text_tower(model).lead
    pos = te.positional_embedding[lead:lead + 4]
    same = te.encode(pl(), pl.plan, layer_prompts={0: pl.ctx.detach() + pos.detach()})
    torch.testing.assert_close(same, plain, atol=1e-5, rtol=1e-5)
    moved = te.encode(pl(), pl.plan, layer_prompts={1: torch.zeros(4, pl.ctx.shape[-1])})
    assert not torch.allclose(moved, plain, atol=1e-4)


def test_unknown_names_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r'Unknown CLIP backbone "ViT-Q-99".*open_clip.list_models\(\)'):
        load_clip("ViT-Q-99", pretrained_tag="laion2b")
    with pytest.raises(FileNotFoundError, match="no open_clip_config.json"):
        load_clip(f"local-dir:{tmp_path}")
    folder = tmp_path / "noweights"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip_config("ViT-B-16")["model_cfg"]}))
    with pytest.raises(FileNotFoundError, match="holds no weights: put them there as open_clip_model.safetensors"):
        load_clip(f"local-dir:{folder}")


# The successors read the text tower through the adapter too: on a CustomTextCLIP with a timm image tower (the
# SigLIP miniature) each trains an epoch and evaluates; what needs a ViT image tower says so.
SUCCESSORS = [
    ("KgCoOp", "KgCoOp/tiny_ep5.yaml", []),
    ("ProGrad", "ProGrad/tiny_ep5.yaml", []),
    ("TCP", "TCP/tiny_ep5.yaml", []),
    ("IVLP", "IVLP/tiny_ep3_batch4_2+2ctx.yaml", ["TRAINER.IVLP.PROMPT_DEPTH_VISION", "0"]),
    ("CLIP_LoRA", "CLIP_LoRA/tiny.yaml", ["TRAINER.CLIP_LORA.ENCODER", "text"]),
    ("TipAdapterF", "TipAdapterF/tiny.yaml", []),
]


@pytest.mark.parametrize("trainer,config,extra", SUCCESSORS, ids=[s[0] for s in SUCCESSORS])
def test_successors_run_on_a_custom_text_tower(families, shared_data, tmp_path, one_thread, trainer, config, extra):
    out = tmp_path / "run"
    args = coop_args(shared_data, out, trainer=trainer, config=str(REPO / "configs/trainers" / config))
    run_in_process(args + ONE_EPOCH + ["MODEL.BACKBONE.NAME", families["siglip"]] + extra)
    log = (out / "log.txt").read_text()
    assert json.loads((out / "results.json").read_text())["status"] == "completed" and final_accuracy(log) >= 0
    if trainer not in ("CLIP_LoRA", "TipAdapterF"):  # learned prompts on SigLIP's bidirectional tower: plain encoding
        assert "Text encoding: the reference plan" in log


def test_vision_side_methods_name_what_a_timm_image_tower_lacks(families, shared_data, tmp_path, one_thread):
    bb = ["MODEL.BACKBONE.NAME", families["siglip"]]
    with pytest.raises(ValueError, match="LoRA on the vision encoder needs a ViT image encoder.*ENCODER text"):
        run_in_process(coop_args(shared_data, tmp_path / "lora", trainer="CLIP_LoRA",
                                 config=str(REPO / "configs/trainers/CLIP_LoRA/tiny.yaml")) + ONE_EPOCH + bb)
    with pytest.raises(ValueError, match="need a ViT image encoder"):
        run_in_process(coop_args(shared_data, tmp_path / "ivlp", trainer="IVLP",
                                 config=str(REPO / "configs/trainers/IVLP/tiny_ep3_batch4_2+2ctx.yaml")) + ONE_EPOCH + bb)
