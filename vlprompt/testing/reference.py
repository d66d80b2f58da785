"""Straightforward reference computations (the original code's way), used to check and time the fast paths.

- CoOp: every class prompt padded to 77 tokens and encoded in full, at every step and test batch.
- CoCoOp: one image at a time, 77-token prompts for every class.
- CLIP-LoRA: CLIP's own ``encode_text`` of the 77-token prompts (through the LoRA attention's forward).
- Tip-Adapter: the official hyper-parameter search, recomputing every term for every grid point.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vlprompt.clip import PromptLearner, TextEncoder


def reference_text_features(prompt_learner: PromptLearner, text_encoder: TextEncoder,
                            chunk_size: int = 0) -> torch.Tensor:
    """Normalised class text features from full-length prompts, no shared prefix (CoOp's reference).

    ``chunk_size`` > 0 encodes that many prompts at a time with activation checkpointing: the same
    values with less memory (needed to run the reference at ImageNet scale on small machines).
    """
    plan = prompt_learner.make_plan(truncate=False, shared_prefix=False)
    prompts = prompt_learner(plan)
    if chunk_size > 0:
        feats = text_encoder.encode(prompts, plan, chunk_size=chunk_size)
    else:
        feats = text_encoder(prompts, plan.eot_indices)
    return F.normalize(feats, dim=-1)


def reference_cocoop_logits(model, image: torch.Tensor) -> torch.Tensor:
    """CoCoOp's reference loop: per image, ctx + meta_net(f_i) for every class, 77 tokens each."""
    pl = model.prompt_learner
    f = model.encode_image(image)
    bias = pl.meta_net(f.to(pl.ctx.dtype))
    out = []
    for f_i, bias_i in zip(f, bias):
        ctx_i = (pl.ctx + bias_i).unsqueeze(0).expand(pl.n_cls, -1, -1)
        prompts = torch.cat([pl.token_prefix, ctx_i, pl.token_suffix], dim=1)  # full context length
        text = F.normalize(TextEncoder.forward(model.text_encoder, prompts, pl.eot_indices), dim=-1)
        out.append(model.logit_scale.exp() * f_i @ text.to(f_i.dtype).t())
    return torch.stack(out)


def reference_lora_text_features(clip_model, tokenized: torch.Tensor) -> torch.Tensor:
    """Normalised text features of the 77-token prompts by CLIP's own ``encode_text`` (the official
    CLIP-LoRA computation: every prompt in full, every step)."""
    return F.normalize(clip_model.encode_text(tokenized.to(clip_model.positional_embedding.device)), dim=-1)


def reference_tip_search(features, labels, clip_weights, cache_keys, cache_values, scale, steps):
    """The official ``search_hp`` transcribed: (beta, alpha) of the first strictly best val accuracy, with
    ``clip_weights`` (D, C) and ``cache_keys`` (D, N) as the official code holds them."""
    beta_list = [i * (scale[0] - 0.1) / steps[0] + 0.1 for i in range(steps[0])]
    alpha_list = [i * (scale[1] - 0.1) / steps[1] + 0.1 for i in range(steps[1])]
    best_acc, best_beta, best_alpha = 0, 0, 0
    for beta in beta_list:
        for alpha in alpha_list:
            affinity = features @ cache_keys
            cache_logits = ((-1) * (beta - beta * affinity)).exp() @ cache_values
            clip_logits = 100. * features @ clip_weights
            tip_logits = clip_logits + cache_logits * alpha
            acc = 100 * float((tip_logits.topk(1, 1, True, True)[1].t()[0] == labels).float().sum()) / labels.shape[0]
            if acc > best_acc:
                best_acc, best_beta, best_alpha = acc, beta, alpha
    return best_beta, best_alpha, best_acc
