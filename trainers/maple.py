"""MaPLe, multi-modal prompt learning (Khattak et al., CVPR 2023): deep text prompts whose vision prompts are
produced from them by per-layer coupling functions.

``prompt_learner.ctx`` (N_CTX tokens; from the first N_CTX tokens of CTX_INIT when N_CTX <= 4, the rest of
CTX_INIT kept fixed) is the input text context; ``prompt_learner.proj`` (Linear d -> V) maps it to the vision
prompt appended to the image tokens. For each of blocks 1 .. PROMPT_DEPTH-1 of both encoders a text prompt
``compound_prompts_text[i-1]`` (N_CTX, d) replaces text positions 1..N_CTX, and its projection
``compound_prompt_projections[i-1]`` (Linear d -> V; all start as copies of one layer, as the official code)
replaces the last N_CTX image tokens. Gradients reach every text-side tensor from both towers.
PROMPT_DEPTH 1 is shallow MaPLe (input prompts only).

Dimensions come from the backbone (d = text width, V = vision width), so ViT-L/14 needs no edit (the
official code hard-codes ViT-B/16's 512 and 768). The encoders are the shared ones (text layer prompts,
:mod:`vlprompt.clip.vision`); text features are encoded once per evaluation. As the official code, the whole
model is registered as ``MultiModalPromptLearner`` and everything under ``prompt_learner`` trains; checkpoints
keep the official key names (``prompt_learner.proj.weight``, ``prompt_learner.compound_prompts_text.0``, ...).
"""
from __future__ import annotations

import copy
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import EncodingPlan, PromptCLIP, PromptLearner, TextEncoder, clip_dtype, init_leading_context, text_tower, vision
from vlprompt.clip.layer_prompts import check_depth, new_prompt
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer


class MaPLePromptLearner(PromptLearner):
    """The text context, the deep text prompts and the coupling functions that make the vision prompts."""

    def __init__(self, clip_model, classnames, n_ctx: int, ctx_init: str, depth: int, vision_width: int,
                 dtype: torch.dtype, fast: bool = True):
        super().__init__(clip_model, classnames, dtype=dtype, fast=fast,
                         context=init_leading_context(clip_model, n_ctx, ctx_init, dtype))
        ctx_dim = self.ctx.shape[-1]
        # Created in the official order (after the context): proj, the deep text prompts, their projections.
        # The official proj is always fp16; here it is in CLIP's dtype (fp16 under PREC fp16).
        self.proj = nn.Linear(ctx_dim, vision_width).to(dtype)
        self.compound_prompts_text = nn.ParameterList([new_prompt(self.n_ctx, ctx_dim) for _ in range(depth - 1)])
        single = nn.Linear(ctx_dim, vision_width)
        self.compound_prompt_projections = nn.ModuleList([copy.deepcopy(single) for _ in range(depth - 1)])

    def text_layer_prompts(self) -> Dict[int, torch.Tensor]:
        return {i + 1: p for i, p in enumerate(self.compound_prompts_text)}

    def vision_prompts(self) -> Tuple[torch.Tensor, Dict[int, torch.Tensor]]:
        """(shallow vision prompt proj(ctx), {block: projection of that block's text prompt})."""
        deep = {i + 1: layer(p) for i, (layer, p) in enumerate(zip(self.compound_prompt_projections,
                                                                    self.compound_prompts_text))}
        return self.proj(self.ctx), deep


class MaPLeCLIP(PromptCLIP):
    def __init__(self, clip_model, prompt_learner: MaPLePromptLearner):
        super().__init__(clip_model)
        self.prompt_learner = prompt_learner
        self.text_encoder = TextEncoder(clip_model)

    def text_layer_prompts(self) -> Dict[int, torch.Tensor]:
        return self.prompt_learner.text_layer_prompts()

    def vision_prompts(self) -> Tuple[torch.Tensor, Dict[int, torch.Tensor]]:
        return self.prompt_learner.vision_prompts()

    def text_features(self, plan: EncodingPlan = None) -> torch.Tensor:
        pl = self.prompt_learner
        plan = plan or pl.plan
        return F.normalize(self.text_encoder.encode(pl(plan), plan, layer_prompts=self.text_layer_prompts()), dim=-1)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        shallow, deep = self.vision_prompts()
        return F.normalize(vision.encode_image(self.image_encoder, image.type(self.dtype), shallow, deep), dim=-1)


@TRAINER_REGISTRY.register()
class MaPLe(CLIPTrainer):
    prec_key = "MAPLE"
    learnable = ""  # the whole model is registered, as the official code
    checkpoint_name = "MultiModalPromptLearner"

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare(cfg, "TRAINER.MAPLE", N_CTX=2, CTX_INIT="a photo of a",
                PREC="fp16",  # fp16 | fp32 | amp
                PROMPT_DEPTH=9)  # >= 1 (1: shallow MaPLe, input prompts only)

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.MAPLE
        if c.PROMPT_DEPTH < 1 or c.N_CTX < 1:
            raise ValueError(f"TRAINER.MAPLE needs PROMPT_DEPTH >= 1 (1: shallow MaPLe) and N_CTX >= 1, got "
                             f"{c.PROMPT_DEPTH} and {c.N_CTX}")

    def trainable(self, name: str) -> bool:
        return "prompt_learner" in name or "VPT" in name  # the official rule

    def build_custom_clip(self, classnames, clip_model):
        c = self.cfg.TRAINER.MAPLE
        visual = clip_model.visual
        vision.check_prompted_vit(visual, "MaPLe")
        check_depth(c.PROMPT_DEPTH, len(text_tower(clip_model).transformer.resblocks), "TRAINER.MAPLE.PROMPT_DEPTH", "text", 1)
        check_depth(c.PROMPT_DEPTH, len(vision.vit_blocks(visual)), "TRAINER.MAPLE.PROMPT_DEPTH", "image", 1)
        pl = MaPLePromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, c.PROMPT_DEPTH, vision.vit_width(visual),
                                clip_dtype(clip_model), fast=self.fast_text)
        return MaPLeCLIP(clip_model, pl)

    def method_details(self) -> str:
        c = self.cfg.TRAINER.MAPLE
        return f"{c.N_CTX} ctx, depth {c.PROMPT_DEPTH}"
