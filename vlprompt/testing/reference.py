"""Straightforward reference computations (the original code's way), used to check and time the fast paths.

- CoOp: every class prompt padded to 77 tokens and encoded in full, at every step and test batch.
- CoCoOp: one image at a time, 77-token prompts for every class.
- KgCoOp: CoOp's reference text features, CE + W * (1 - mean cos) with torch.nn.CosineSimilarity.
- ProGrad: the official update: kl.backward(retain_graph), store, zero, xe.backward(), project per tensor.
- TCP: 77-token prompts, every prompt in full with the class-aware tokens replaced before their block.
- Deep prompts (IVLP, MaPLe, PromptSRC): 77-token prompts with the deep text prompts replaced before their
  blocks, nothing shared; the image through open_clip's own ``VisionTransformer.forward`` with the vision
  prompts inserted by hooks, as the official patched CLIP inserts them.
- CLIP-LoRA: CLIP's own ``encode_text`` of the 77-token prompts (through the LoRA attention's forward).
- Tip-Adapter: the official hyper-parameter search, recomputing every term for every grid point.
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


def reference_kgcoop_loss(model, image: torch.Tensor, label: torch.Tensor, weight: float,
                          text_features: torch.Tensor = None) -> torch.Tensor:
    """The official KgCoOp loss with reference (77-token) text features, or ``text_features`` if given."""
    text = text_features if text_features is not None else reference_text_features(model.prompt_learner,
                                                                                     model.text_encoder)
    image_features = model.encode_image(image)
    logits = model.logit_scale.exp() * image_features @ text.t()
    old = model.clip_text_features / model.clip_text_features.norm(dim=-1, keepdim=True)
    score = 1.0 - torch.mean(torch.nn.CosineSimilarity(dim=1, eps=1e-07)(text, old))
    return F.cross_entropy(logits, label) + weight * score


def reference_tcp_text_features(model) -> torch.Tensor:
    """TCP's class features: 77-token prompts, each encoded in full, class-aware tokens injected per row."""
    pl = model.prompt_learner
    plan = pl.make_plan(truncate=False, shared_prefix=False)
    tokens = pl.class_tokens(model.clip_text_features)
    feats = TextEncoder.forward(model.text_encoder, pl(plan), plan.eot_indices, {model.inject_layer: tokens})
    return F.normalize(feats, dim=-1)


def reference_prograd_step_grads(model, image: torch.Tensor, label: torch.Tensor, T: float, lam: float) -> list:
    """The gradients the official ProGrad update gives the prompt learner's parameters (77-token prompts,
    a separate fp32 teacher forward, two full backward passes, the per-tensor projection)."""
    pl = model.prompt_learner
    params = [p for p in pl.parameters() if p.requires_grad]
    text = reference_text_features(pl, model.text_encoder)
    stu_logits = model.logit_scale.exp() * model.encode_image(image) @ text.t()
    with torch.no_grad():
        visual = model.teacher_visual if model.teacher_visual is not None else model.image_encoder
        f = visual(image.float()).float()
        f = f / f.norm(dim=-1, keepdim=True)
        tea_logits = model.logit_scale.exp().float() * f @ model.teacher_text_features.t()
    xe_loss = F.cross_entropy(stu_logits, label)
    tea_prob = F.softmax(tea_logits / T, dim=-1)
    kl_loss = (-tea_prob * F.log_softmax(stu_logits / T, -1) * T * T).sum(1).mean()
    for p in params:
        p.grad = None
    kl_loss.backward(retain_graph=True)
    b_grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    xe_loss.backward()
    out = []
    for p, b_grad in zip(params, b_grads):
        b_grad_norm = b_grad / torch.linalg.norm(b_grad)
        a_grad = p.grad.clone()
        a_grad_norm = a_grad / torch.linalg.norm(a_grad)
        if torch.dot(a_grad_norm.flatten(), b_grad_norm.flatten()) < 0:
            out.append(a_grad - lam * torch.dot(a_grad.flatten(), b_grad_norm.flatten()) * b_grad_norm)
        else:
            out.append(a_grad)
        p.grad = None
    return out

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
