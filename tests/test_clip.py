"""CLIP loading (OpenAI formats), tokenizer, prompt layouts, gradients, truncation exactness."""
import pytest
import torch

from vlprompt.clip import CLIPWeightsNotFoundError, PromptLearner, TextEncoder, encode_text_tokens, load_clip, tokenize
from vlprompt.testing.reference import reference_text_features


@pytest.fixture(scope="module")
def clip_fp32(tiny_clip_files):
    return load_clip("ViT-B/16", path=tiny_clip_files["vit"]).float()


@pytest.mark.parametrize("kind", ["vit", "rn", "vit_jit"])
def test_openai_checkpoints_load_with_inferred_architecture(tiny_clip_files, kind):
    model = load_clip("RN50", path=tiny_clip_files[kind])
    # OpenAI precision layout: conv/linear weights fp16, LayerNorm and embeddings fp32; eval mode.
    assert model.visual.conv1.weight.dtype == torch.float16
    assert model.ln_final.weight.dtype == torch.float32 and model.token_embedding.weight.dtype == torch.float32
    assert not model.training
    assert model.token_embedding.weight.shape == (49408, 64) and model.positional_embedding.shape == (77, 64)
    assert type(model.visual).__name__ == ("ModifiedResNet" if kind == "rn" else "VisionTransformer")
    with torch.no_grad():
        feats = model.float().encode_image(torch.randn(2, 3, 32, 32))
    assert feats.shape == (2, 32)


def test_jit_and_state_dict_give_the_same_model(tiny_clip_files):
    a = load_clip("RN50", path=tiny_clip_files["vit"]).state_dict()
    b = load_clip("RN50", path=tiny_clip_files["vit_jit"]).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cache_folder_lookup_and_offline_error(tiny_clip_files, tmp_path, monkeypatch):
    import shutil

    shutil.copy(tiny_clip_files["vit"], tmp_path / "ViT-B-16.pt")
    assert load_clip("ViT-B/16", cache_dir=str(tmp_path)).visual.conv1.weight.shape[0] == 64

    import vlprompt.clip.loader as loader

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(loader, "_download_openai", offline)
    with pytest.raises(CLIPWeightsNotFoundError) as e:
        load_clip("RN50", cache_dir=str(tmp_path))
    msg = str(e.value)
    assert "RN50.pt" in msg and str(tmp_path) in msg and "MODEL.BACKBONE.PATH" in msg
    with pytest.raises(CLIPWeightsNotFoundError, match="does not exist"):
        load_clip("RN50", path=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="Unknown CLIP backbone"):
        load_clip("NotAModel", cache_dir=str(tmp_path))


def test_tokenizer_matches_reference_worked_example():
    ids = tokenize("X X X X apple pie.")[0]
    assert ids[:9].tolist() == [49406, 343, 343, 343, 343, 3055, 5319, 269, 49407] and ids[9:].eq(0).all()
    assert encode_text_tokens("kite (bird of prey)")[-1] == 264
    assert tokenize("X X X X kite (bird of prey).")[0][5:11].tolist() == [19867, 263, 3329, 539, 17131, 1818]
    with pytest.raises(RuntimeError, match="too long"):
        tokenize("word " * 80)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_prompt_layouts(clip_fp32, position, csc):
    names = ["apple_pie", "kite (bird of prey)", "cat"]
    pl = PromptLearner(clip_fp32, names, n_ctx=4, csc=csc, class_token_position=position, verbose=False)
    assert pl.name_lens == [2, 6, 1]
    assert pl.eot_indices.tolist() == [8, 11, 7]
    assert pl.ctx.shape == ((3, 4, 64) if csc else (4, 64))
    prompts = pl()
    assert prompts.shape == (3, 12, 64)  # truncated after the last EOT of the batch
    emb = clip_fp32.token_embedding(pl.tokenized_prompts)
    ctx = pl.ctx.detach() if csc else pl.ctx.detach().unsqueeze(0).expand(3, -1, -1)
    for i, name_len in enumerate(pl.name_lens):
        name_rows = emb[i, 5:5 + name_len]
        if position == "end":
            ctx_pos, name_pos = [1, 2, 3, 4], list(range(5, 5 + name_len))
        elif position == "middle":
            ctx_pos = [1, 2] + list(range(3 + name_len, 5 + name_len))
            name_pos = list(range(3, 3 + name_len))
        else:
            ctx_pos, name_pos = list(range(1 + name_len, 5 + name_len)), list(range(1, 1 + name_len))
        assert torch.equal(prompts[i, 0], emb[i, 0])  # SOT
        assert torch.equal(prompts[i, ctx_pos], ctx[i])
        assert torch.equal(prompts[i, name_pos], name_rows)
        eot = pl.eot_indices[i]
        assert torch.equal(prompts[i, 5 + name_len:eot + 1], emb[i, 5 + name_len:eot + 1])  # ".", EOT


def test_ctx_init_from_words_overrides_n_ctx_and_csc(clip_fp32):
    pl = PromptLearner(clip_fp32, ["cat"], n_ctx=16, ctx_init="a_photo of a", csc=True, verbose=False)
    assert pl.n_ctx == 4 and pl.ctx.shape == (4, 64)
    ids = tokenize("a photo of a")[0, 1:5]
    assert torch.equal(pl.ctx.detach(), clip_fp32.token_embedding.weight[ids])
    assert set(pl.state_dict()) == {"ctx", "token_prefix", "token_suffix"}
    assert pl.token_suffix.shape == (1, 77 - 1 - 4, 64)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_fast_text_paths_are_exact(clip_fp32, position, csc):
    """Truncation after the last EOT and shared-prefix encoding equal the reference's 77-token
    encoding of every prompt (features and context gradients), for every CoOp variant."""
    from vlprompt.trainers.coop import CoOpCLIP

    names = ["apple_pie", "kite (bird of prey)", "cat", "yin yang"]
    torch.manual_seed(0)
    pl = PromptLearner(clip_fp32, names, n_ctx=5, csc=csc, class_token_position=position, verbose=False)
    model = CoOpCLIP(clip_fp32, pl)

    def run(truncate, shared, fn=None):
        pl.ctx.grad = None
        feats = fn() if fn is not None else model.text_features(pl.make_plan(truncate, shared))
        (feats * torch.linspace(-1, 1, feats.shape[-1])).sum().backward()
        return feats.detach(), pl.ctx.grad.clone()

    f_plain, g_plain = run(True, True, lambda: reference_text_features(pl, model.text_encoder))
    assert pl.plan == pl.make_plan(True, True)  # the learner's own plan is the fast one
    assert pl(pl.make_plan(truncate=False)).shape[1] == 77
    expected_shared = 1 if csc or position == "front" else 1 + (5 if position == "end" else 2)
    for truncate, shared in [(False, False), (True, False), (True, True), (False, True)]:
        f, g = run(truncate, shared)
        assert pl.make_plan(truncate, shared).shared_len == (expected_shared if shared else 0)
        torch.testing.assert_close(f, f_plain, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g, g_plain, rtol=1e-4, atol=1e-4 * g_plain.abs().max().item())
    assert pl.plan.seq_len == 13 and pl().shape[1] == 13


def test_reference_learner_uses_the_reference_plan(clip_fp32):
    """MODEL.TEXT_ENCODING reference builds learners whose plan is the original computation."""
    pl = PromptLearner(clip_fp32, ["cat", "yin yang"], n_ctx=3, verbose=False, fast=False)
    assert pl.plan.is_reference and pl.plan.seq_len == 77 and pl().shape[1] == 77
    assert not PromptLearner(clip_fp32, ["cat"], n_ctx=3, verbose=False).plan.is_reference


def test_clip_encode_text_equals_prompt_path(clip_fp32):
    names = ["apple_pie", "kite (bird of prey)", "cat", "yin yang"]
    enc = TextEncoder(clip_fp32)
    # Same features as CLIP's own encode_text on the token ids when ctx holds the "X" embeddings.
    pl_x = PromptLearner(clip_fp32, names, n_ctx=4, class_token_position="end", verbose=False)
    with torch.no_grad():
        pl_x.ctx.copy_(clip_fp32.token_embedding.weight[343])
        ref = clip_fp32.encode_text(pl_x.tokenized_prompts)
        torch.testing.assert_close(enc(pl_x(), pl_x.eot_indices), ref, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def clip4():
    """A tiny CLIP with 4 text blocks (room for prompts at several depths)."""
    from vlprompt.clip.tiny import build_tiny_clip

    return build_tiny_clip(layers=4).float()


@pytest.mark.parametrize("kind", ["deep", "class_specific", "both"])
def test_layer_prompts_fast_paths_are_exact(clip4, kind):
    """Replacing positions 1..n before given blocks (deep prompts: one tensor for every class; TCP-style:
    one per class) gives the same features and gradients on every fast path as the plain 77-token
    computation with the same replacements."""
    names = ["apple_pie", "kite (bird of prey)", "cat", "yin yang", "face"]
    torch.manual_seed(0)
    pl = PromptLearner(clip4, names, n_ctx=4, verbose=False)
    enc = TextEncoder(clip4)
    deep = {i: torch.nn.Parameter(torch.randn(4, 64) * 0.02) for i in (1, 2)}
    per_class = {2: torch.nn.Parameter(torch.randn(len(names), 4, 64) * 0.02)}
    layer_prompts = {"deep": deep, "class_specific": per_class, "both": {1: deep[1], **per_class}}[kind]
    params = [pl.ctx, *layer_prompts.values()]

    def run(fn):
        for p in params:
            p.grad = None
        feats = fn()
        (feats * torch.linspace(-1, 1, feats.shape[-1])).sum().backward()
        return feats.detach(), [p.grad.clone() for p in params]

    ref_plan = pl.make_plan(truncate=False, shared_prefix=False)
    f_ref, g_ref = run(lambda: enc(pl(ref_plan), ref_plan.eot_indices, layer_prompts))
    for truncate, shared in [(True, True), (True, False), (False, True)]:
        plan = pl.make_plan(truncate, shared)
        f, g = run(lambda: enc.encode(pl(plan), plan, layer_prompts=layer_prompts))
        torch.testing.assert_close(f, f_ref, rtol=1e-5, atol=1e-5)
        for a, b in zip(g, g_ref):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    # The replacement matters (the test would pass vacuously otherwise).
    assert not torch.allclose(enc(pl(ref_plan), ref_plan.eot_indices), f_ref, atol=1e-4)


def test_layer_prompts_with_groups_and_chunks(clip4):
    """Grouped prompts (CoCoOp-style, one group per image) in chunks, with class-specific layer prompts."""
    names = ["apple_pie", "cat", "yin yang"]
    torch.manual_seed(1)
    pl = PromptLearner(clip4, names, n_ctx=2, verbose=False)
    enc = TextEncoder(clip4)
    per_class = {1: torch.randn(3, 2, 64) * 0.02, 3: torch.randn(2, 64) * 0.02}
    prompts = torch.stack([pl(), pl() + 0.01])  # two groups
    plan = pl.plan
    fast = enc.encode(prompts, plan, chunk_size=2, layer_prompts=per_class)
    ref_plan = pl.make_plan(False, False)
    ref = torch.stack([enc(pl(ref_plan) + 0.01 * k, ref_plan.eot_indices, per_class) for k in range(2)])
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
