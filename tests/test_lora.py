"""Low-rank adapters in CLIP's attention (vlprompt/clip/lora.py): exactness of the module and of the fast
text path with LoRA, fixed prompts and their plan, the official checkpoint format, the iteration schedule."""
import copy

import pytest
import torch

from vlprompt.clip import FixedPrompts, TextEncoder
from vlprompt.clip.lora import LoRAAttention, apply_lora, block_indices, from_official, to_official
from vlprompt.clip.prompt_learner import common_prefix_length
from vlprompt.clip.tiny import build_tiny_clip
from vlprompt.optim import IterationCosineLR
from vlprompt.testing.reference import reference_lora_text_features

pytestmark = pytest.mark.usefixtures("one_thread")
NAMES = ["apple_pie", "kite (bird of prey)", "cat", "yin yang", "face", "cat food"]


@pytest.fixture(scope="module")
def clip4():
    """A tiny fp32 CLIP with 4 blocks per tower."""
    return build_tiny_clip(layers=4).float()


def lora_clip(base, params=("q", "k", "v"), dropout=0.0, encoder="both", position="all", seed=0):
    """A copy of ``base`` with LoRA; B drawn at random (B = 0 would make every A gradient vanish)."""
    clip = copy.deepcopy(base)
    torch.manual_seed(seed)
    adapters = apply_lora(clip, encoder, position, params, r=2, alpha=1.0, dropout=dropout, log=lambda *a: None)
    with torch.no_grad():
        for name, p in adapters.named_parameters():
            if name.endswith("w_lora_B"):
                p.normal_(std=0.1)
    return clip, adapters


def images(n=3, size=32):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(5))


def test_b_zero_is_plain_clip_and_the_update_is_the_merged_weight(clip4):
    """B = 0 at the start (official init): the adapted CLIP is the original. With B != 0 every adapted
    attention equals nn.MultiheadAttention with W + s B A (the official eval-mode merge), in both towers."""
    tokens = FixedPrompts(clip4, NAMES, "a photo of a {}.").tokenized_prompts
    clip = copy.deepcopy(clip4)
    adapters = apply_lora(clip, "both", "all", ["q", "k", "v", "o"], r=2, alpha=1.0, dropout=0.25, log=lambda *a: None)
    assert all(isinstance(b.attn, LoRAAttention) for b in [*clip.transformer.resblocks, *clip.visual.transformer.resblocks])
    assert set(clip.state_dict()) == set(clip4.state_dict())  # the CLIP state dict is unchanged
    adapters.eval()
    with torch.no_grad():
        torch.testing.assert_close(clip.encode_text(tokens), clip4.encode_text(tokens), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(clip.encode_image(images()), clip4.encode_image(images()), rtol=1e-5, atol=1e-5)

    clip, adapters = lora_clip(clip4, params=("q", "k", "v", "o"))
    merged = copy.deepcopy(clip4)
    blocks = [*merged.transformer.resblocks, *merged.visual.transformer.resblocks]  # the official layer order
    with torch.no_grad():
        for i, block in enumerate(blocks):
            layer = getattr(adapters, f"layer_{i}")
            d = block.attn.embed_dim
            for j, proj in enumerate(("q_proj", "k_proj", "v_proj")):
                f = getattr(layer, proj)
                block.attn.in_proj_weight[j * d:(j + 1) * d] += f.scaling * f.w_lora_B @ f.w_lora_A
            block.attn.out_proj.weight += layer.proj.scaling * layer.proj.w_lora_B @ layer.proj.w_lora_A
        assert layer.proj.scaling == pytest.approx(2 ** -0.5)  # alpha / sqrt(r), not alpha / r
        adapters.eval()
        torch.testing.assert_close(clip.encode_text(tokens), merged.encode_text(tokens), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(clip.encode_image(images()), merged.encode_image(images()), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(clip.encode_text(tokens), clip4.encode_text(tokens), atol=1e-3)  # B matters


@pytest.mark.parametrize("params", [("q", "k", "v"), ("v", "o")])
def test_fast_text_path_with_lora_is_exact(clip4, params):
    """EOT truncation, length groups and the shared "SOT a photo of a" prefix, driven through the LoRA
    attention's qkv(): the same features and LoRA gradients as CLIP's own 77-token encode_text."""
    clip, adapters = lora_clip(clip4, params=params)
    prompts = FixedPrompts(clip, NAMES, "a photo of a {}.")
    enc = TextEncoder(clip)

    def run(fn):
        adapters.zero_grad()
        feats = fn()
        (feats * torch.linspace(-1, 1, feats.shape[-1])).sum().backward()
        return feats.detach(), {n: p.grad.clone() for n, p in adapters.named_parameters() if p.grad is not None}

    f_ref, g_ref = run(lambda: reference_lora_text_features(clip, prompts.tokenized_prompts))
    text_grads = {n for n in g_ref if int(n.split(".")[0].split("_")[1]) < 4}  # layers 0-3: the text tower
    assert text_grads and all(g_ref[n].abs().max() > 0 for n in text_grads)
    assert prompts.plan.shared_len == 5 and prompts.plan.seq_len == 12  # SOT a photo of a | kite ( bird of prey ) . EOT
    for truncate, shared in [(True, True), (True, False), (False, True), (False, False)]:
        plan = prompts.make_plan(truncate, shared)
        f, g = run(lambda: torch.nn.functional.normalize(enc.encode(prompts(plan), plan), dim=-1))
        torch.testing.assert_close(f, f_ref, rtol=1e-5, atol=1e-5)
        assert set(g) == set(g_ref)
        for n in g_ref:
            torch.testing.assert_close(g[n], g_ref[n], rtol=1e-4, atol=1e-4 * g_ref[n].abs().max().item())


def test_fixed_prompts_share_what_all_prompts_have_in_common(clip4):
    prompts = FixedPrompts(clip4, ["red circle", "red square", "red star"], "a photo of a {}.")
    assert prompts.plan.shared_len == 6  # SOT a photo of a red: identical tokens are shared too
    assert prompts.make_plan(True, False).shared_len == 0 and prompts.make_plan(False, False).is_reference
    assert FixedPrompts(clip4, ["cat"], "a photo of a {}.").shared_len == 7  # one class: all but its EOT
    one = FixedPrompts(clip4, ["cat"], "a photo of a {}.").tokenized_prompts
    assert common_prefix_length(one) == int(one.argmax()) and FixedPrompts(clip4, ["a", "b"], "{} x.").shared_len == 1
    assert prompts().shape == (3, prompts.plan.seq_len, 64) and not dict(prompts.state_dict())  # nothing saved


def test_dropout_is_per_prompt_and_position_while_training(clip4):
    """In training the dropout on the LoRA input draws a mask for every prompt and position (official):
    two classes with the same prompt then get different features; a shared prefix would have given
    their prefix the same draw, so the model shares nothing while dropout is active (evaluation does)."""
    from vlprompt.trainers.clip_lora import LoRACLIP

    clip, adapters = lora_clip(clip4, dropout=0.5)
    model = LoRACLIP(clip, ["cat", "cat", "dog"], "a photo of a {}.", adapters, 100.0)
    plans = []
    encode = model.text_encoder.encode
    model.text_encoder.encode = lambda p, plan, **k: plans.append(plan) or encode(p, plan, **k)
    adapters.train()
    torch.manual_seed(0)
    train = model.text_features()
    adapters.eval()
    evaluation = model.text_features()
    assert plans[0].shared_len == 0 and plans[0].length_groups is not None and plans[1].shared_len == 5
    assert not torch.allclose(train[0], train[1], atol=1e-4)  # independent draws for the two "cat" prompts
    torch.testing.assert_close(evaluation[0], evaluation[1])


def test_positions_and_vit_b16_parameter_count():
    assert block_indices("all", 12) == list(range(12))
    assert block_indices("bottom", 12) == [0, 1, 2, 3] and block_indices("mid", 12) == [4, 5, 6, 7]
    assert block_indices("up", 12) == [8, 9, 10, 11] and block_indices("half-up", 12) == [6, 7, 8, 9, 10, 11]
    assert block_indices("half-bottom", 12) == [0, 1, 2, 3, 4, 5] and block_indices("top3", 12) == [9, 10, 11]
    assert block_indices("top", 12) == [11] and block_indices("all", 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="position must be one of"):
        block_indices("middle", 12)
    import open_clip

    vit = open_clip.create_model("ViT-B-16", pretrained=None)
    adapters = apply_lora(vit, log=lambda *a: None)  # the official defaults: both towers, all blocks, q k v, r 2
    assert sum(p.numel() for p in adapters.parameters()) == 184_320  # the official count
    assert len(adapters._modules) == 24 and adapters.layer_12.q_proj.w_lora_A.shape == (2, 768)
    with pytest.raises(ValueError, match="is LoRA applied twice"):
        apply_lora(vit, "text", log=lambda *a: None)


def test_vision_lora_needs_a_vit_and_bad_settings_are_named():
    rn = build_tiny_clip(arch="rn").float()
    with pytest.raises(ValueError, match="needs a ViT image encoder.*ENCODER text"):
        apply_lora(rn, "both", log=lambda *a: None)
    assert len(apply_lora(rn, "text", log=lambda *a: None)._modules) == 2  # its text tower works
    for kwargs, match in [(dict(params=["q", "x"]), "distinct letters"), (dict(r=0), "rank"),
                          (dict(dropout=1.0), "dropout"), (dict(encoder="image"), "encoder must be")]:
        with pytest.raises(ValueError, match=match):
            apply_lora(build_tiny_clip().float(), log=lambda *a: None, **kwargs)


def test_official_checkpoint_format_round_trip(clip4):
    _, adapters = lora_clip(clip4)
    payload = to_official(adapters)
    assert set(payload) == {"weights", "metadata"}
    assert payload["metadata"] == {"r": 2, "alpha": 1.0, "encoder": "both", "params": ["q", "k", "v"], "position": "all"}
    assert sorted(payload["weights"]) == [f"layer_{i}" for i in range(8)]
    assert set(payload["weights"]["layer_0"]) == {"q_proj", "k_proj", "v_proj"}
    assert set(payload["weights"]["layer_0"]["q_proj"]) == {"w_lora_A", "w_lora_B"}
    _, fresh = lora_clip(clip4, seed=1)
    fresh.load_state_dict(from_official(payload, fresh, "f.pt"))
    for (n, a), (_, b) in zip(adapters.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), n
    payload["metadata"]["r"] = 4
    with pytest.raises(ValueError, match="r mismatch: this run has 2, the checkpoint 4"):
        from_official(payload, fresh, "f.pt")
    with pytest.raises(ValueError, match="not an official CLIP-LoRA checkpoint"):
        from_official({"state_dict": {}}, fresh, "f.pt")


def test_iteration_cosine_equals_torch_cosine_annealing_stepped_per_iteration():
    p = torch.nn.Parameter(torch.zeros(1))
    ours = IterationCosineLR(torch.optim.AdamW([p], lr=2e-4), 37, eta_min=1e-6)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 37, eta_min=1e-6)
    for _ in range(37):
        assert ours.get_last_lr()[0] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        ref.step()
        ours.step()
    assert ours.get_last_lr()[0] == pytest.approx(1e-6)
    state = ours.state_dict()
    again = IterationCosineLR(torch.optim.AdamW([p], lr=2e-4), 37, eta_min=1e-6)
    again.load_state_dict(state)
    assert again.get_last_lr() == ours.get_last_lr()
    with pytest.raises(ValueError, match="Cannot resume a schedule of 10 iterations"):
        IterationCosineLR(torch.optim.AdamW([p], lr=2e-4), 10).load_state_dict(state)
