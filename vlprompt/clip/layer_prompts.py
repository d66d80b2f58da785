"""Learnable per-block prompts kept on the blocks they enter, under the official checkpoints' key names.

The official IVLP / PromptSRC code patched CLIP's blocks to own their deep prompts, so released checkpoints
name them ``text_encoder.transformer.resblocks.<i>.VPT_shallow`` and
``image_encoder.transformer.resblocks.<i>.VPT_shallow`` (and the first vision prompt ``image_encoder.VPT``).
Here the blocks stay open_clip's, unchanged: :func:`attach_block_prompts` only registers the tensor on
block i, so the state-dict key is the official one, and the encoders insert it (``TextEncoder.encode(...,
layer_prompts=block_prompts(...))``, :func:`vlprompt.clip.vision.encode_image`). Depth J means the input
prompt plus one prompt for each of blocks 1 .. J-1 (J = 1: the input prompt only).
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn

BLOCK_PROMPT = "VPT_shallow"  # the official attribute name


def new_prompt(n: int, width: int) -> nn.Parameter:
    """A prompt (n, width) ~ N(0, 0.02), fp32 (as the official ones: cast to the encoder's dtype when inserted)."""
    prompt = torch.empty(n, width)
    nn.init.normal_(prompt, std=0.02)
    return nn.Parameter(prompt)


def check_depth(depth: int, n_blocks: int, key: str, tower: str, minimum: int = 0) -> None:
    """``depth`` prompts at most one per block: clear error naming the config key otherwise."""
    if not minimum <= depth <= n_blocks:
        raise ValueError(f"{key} is {depth}, but must be between {minimum} and the {n_blocks} blocks of this "
                         f"backbone's {tower} encoder (the official configs assume ViT-B/16's 12; the mini_* configs "
                         "are sized for MiniCLIP)")


def attach_block_prompts(blocks: nn.ModuleList, depth: int, n: int, width: int, name: str = BLOCK_PROMPT) -> None:
    """Register a new prompt (n, width) as ``name`` on each of blocks 1 .. depth-1."""
    for i in range(1, depth):
        blocks[i].register_parameter(name, new_prompt(n, width))


def block_prompts(blocks: nn.ModuleList, name: str = BLOCK_PROMPT) -> Dict[int, torch.Tensor]:
    """{block index: prompt} of the blocks carrying a prompt ``name`` (the ``layer_prompts`` of an encoder)."""
    return {i: getattr(block, name) for i, block in enumerate(blocks) if hasattr(block, name)}
