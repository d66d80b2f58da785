"""Straightforward reference computations (the original code's way), used to check and time the fast paths.

- CoOp: every class prompt padded to 77 tokens and encoded in full, at every step and test batch.
- CoCoOp: one image at a time, 77-token prompts for every class.
- Deep prompts (IVLP, MaPLe, PromptSRC): 77-token prompts with the deep text prompts replaced before their
  blocks, nothing shared; the image through open_clip's own ``VisionTransformer.forward`` with the vision
  prompts inserted by hooks, as the official patched CLIP inserts them.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import PromptLearner, TextEncoder


def reference_text_features(prompt_learner: PromptLearner, text_encoder: TextEncoder,
                            chunk_size: int = 0, layer_prompts: Optional[Dict[int, torch.Tensor]] = None) -> torch.Tensor:
    """Normalised class text features from full-length prompts, no shared prefix (CoOp's reference).

    ``chunk_size`` > 0 encodes that many prompts at a time with activation checkpointing: the same
    values with less memory (needed to run the reference at ImageNet scale on small machines).
    ``layer_prompts``: deep prompts replaced before their blocks (see :class:`TextEncoder`).
    """
    plan = prompt_learner.make_plan(truncate=False, shared_prefix=False)
    prompts = prompt_learner(plan)
    if chunk_size > 0:
        feats = text_encoder.encode(prompts, plan, chunk_size=chunk_size, layer_prompts=layer_prompts)
    else:
        feats = text_encoder(prompts, plan.eot_indices, layer_prompts)
    return F.normalize(feats, dim=-1)


def reference_image_features(visual: nn.Module, image: torch.Tensor, shallow: Optional[torch.Tensor] = None,
                             deep: Optional[Dict[int, torch.Tensor]] = None) -> torch.Tensor:
    """Image features (not normalised) from open_clip's own ViT forward, the prompts inserted by hooks with the
    official semantics: ``shallow`` appended to the tokens entering ``ln_pre``, ``deep[i]`` replacing the last
    tokens entering block i."""
    handles = []
    if shallow is not None:
        def append(module, args):
            x = args[0]
            return (torch.cat([x, shallow.to(x.dtype).expand(x.shape[0], -1, -1)], dim=1),)
        handles.append(visual.ln_pre.register_forward_pre_hook(append))
    for i, prompt in (deep or {}).items():
        def replace(module, args, kwargs, prompt=prompt):
            x = args[0]
            n = prompt.shape[0]
            x = torch.cat([x[:, :-n], prompt.to(x.dtype).expand(x.shape[0], -1, -1)], dim=1)
            return (x, *args[1:]), kwargs
        handles.append(visual.transformer.resblocks[i].register_forward_pre_hook(replace, with_kwargs=True))
    try:
        return visual(image)
    finally:
        for h in handles:
            h.remove()


def reference_deep_prompt_logits(model, image: torch.Tensor) -> torch.Tensor:
    """IVLP / MaPLe / PromptSRC logits the official way: every class prompt at 77 tokens through every block
    with the deep text prompts, and the image through :func:`reference_image_features`. ``model`` offers
    ``text_layer_prompts()`` and ``vision_prompts()`` -> (shallow or None, {block: prompt})."""
    pl = model.prompt_learner
    text = reference_text_features(pl, model.text_encoder, layer_prompts=model.text_layer_prompts())
    shallow, deep = model.vision_prompts()
    image_features = F.normalize(reference_image_features(model.image_encoder, image.type(model.dtype), shallow, deep),
                                 dim=-1)
    return model.logit_scale.exp() * image_features @ text.to(image_features.dtype).t()


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
