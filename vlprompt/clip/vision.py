"""CLIP's ViT image encoder run block by block with prompt tokens: the vision side of deep prompting.

The counterpart of the text encoder's layer prompts (:mod:`vlprompt.clip.text_encoder`), with the official
semantics of IVLP / MaPLe / PromptSRC (multimodal-prompt-learning's patched CLIP), for those methods and later
ones:

- a *shallow* prompt (n, V) is appended after [CLS, patches] once the positional embedding is added (it gets
  no positional embedding of its own), before ``ln_pre``: the sequence holds 1 + P + n tokens;
- a *deep* prompt of block i (``deep = {i: (n, V)}``, 1 <= i < number of blocks) replaces the last n tokens
  right before block i (the outputs of the previous block at those positions are discarded);
- the output is ``ln_post`` of token 0 (CLS), projected by ``proj``.

open_clip's ``VisionTransformer`` is driven as it is -- its own modules in its own order, no patched copy --
and the prompts are arguments, not weights of the encoder, so one image encoder serves with and without
prompts (PromptSRC's frozen image features). With no prompts the result is CLIP's own ``encode_image``.
Supported: open_clip ViTs with class-token pooling, i.e. OpenAI's ViT-B/32, ViT-B/16, ViT-L/14 and
ViT-L/14@336px (any width: nothing is hard-coded to ViT-B/16's 768) and the built-in MiniCLIP and TinyCLIP.
A ResNet image encoder, attention pooling, average pooling and patch dropout are refused with a message.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn as nn

VIT_BACKBONES = ("ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336px", "MiniCLIP", "TinyCLIP")


def check_prompted_vit(visual: nn.Module, what: str = "Vision prompts") -> None:
    """Raise a clear error unless ``visual`` is a ViT image encoder that prompts can be inserted into."""
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer):
        raise ValueError(
            f"{what} need a ViT image encoder (image tokens to prompt), but this backbone's image encoder is a "
            f"{type(visual).__name__} (ResNet backbones such as RN50 have none). Set MODEL.BACKBONE.NAME to a ViT "
            f"backbone: {', '.join(VIT_BACKBONES)} (or an open_clip ViT with class-token pooling)."
        )
    refused = []
    if getattr(visual, "attn_pool", None) is not None:
        refused.append("attention pooling (attn_pool)")
    if getattr(visual, "pool_type", "tok") != "tok":
        refused.append(f'pool_type "{visual.pool_type}" (only "tok", the class token, is supported)')
    if not isinstance(getattr(visual, "patch_dropout", nn.Identity()), nn.Identity):
        refused.append("patch dropout")
    if refused:
        raise ValueError(f"{what}: this open_clip ViT uses {', '.join(refused)}, which prompted encoding does not "
                         f"support; use one of {', '.join(VIT_BACKBONES)} or a ViT without them.")


def vit_width(visual: nn.Module) -> int:
    """Token width V of a ViT image encoder (768 for ViT-B/16)."""
    return visual.class_embedding.shape[-1]


def vit_blocks(visual: nn.Module) -> nn.ModuleList:
    return visual.transformer.resblocks


def embed_image(visual: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """[CLS, patches] + positional embedding, (B, 1 + P, V) in the encoder's dtype (before ``ln_pre``)."""
    x = visual.conv1(image.to(visual.conv1.weight.dtype))
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    return torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)


def _replace_last(x: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
    n = prompt.shape[-2]
    return torch.cat([x[:, :x.shape[1] - n], prompt.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)], dim=1)


def encode_embedded(visual: nn.Module, x: torch.Tensor, shallow: Optional[torch.Tensor] = None,
                    deep: Optional[Dict[int, torch.Tensor]] = None) -> torch.Tensor:
    """Image features (B, E) from :func:`embed_image`'s tokens, with the shallow and deep prompts inserted."""
    if shallow is not None:
        x = torch.cat([x, shallow.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)], dim=1)
    elif deep:
        raise ValueError("Deep vision prompts replace the shallow prompt's tokens: give a shallow prompt too")
    x = visual.ln_pre(x)
    batch_first = getattr(visual.transformer, "batch_first", True)
    for i, block in enumerate(vit_blocks(visual)):
        if deep and i in deep:
            x = _replace_last(x, deep[i])
        x = block(x) if batch_first else block(x.transpose(0, 1)).transpose(0, 1)
    pooled = visual.ln_post(x[:, 0])  # per-token LayerNorm: the same before or after taking the class token
    return pooled @ visual.proj if visual.proj is not None else pooled


def encode_image(visual: nn.Module, image: torch.Tensor, shallow: Optional[torch.Tensor] = None,
                 deep: Optional[Dict[int, torch.Tensor]] = None) -> torch.Tensor:
    """Image features (B, E) of ``image`` with a shallow prompt (n, V) and deep prompts ``{block: (n, V)}``."""
    return encode_embedded(visual, embed_image(visual, image), shallow, deep)
