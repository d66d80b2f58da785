"""IVLP, independent vision-language prompting (Khattak et al., CVPR 2023: MaPLe's baseline): deep prompts
learned independently in the text and the image encoder.

Text: ``prompt_learner.ctx`` (N_CTX_TEXT tokens after the start token; from the first N_CTX_TEXT tokens of
CTX_INIT when N_CTX_TEXT <= 4, the rest of CTX_INIT kept fixed before the class name, else Gaussian) and one
prompt (N_CTX_TEXT, d) per text block 1 .. PROMPT_DEPTH_TEXT-1 replacing positions 1..N_CTX_TEXT. Vision
(PROMPT_DEPTH_VISION > 0): N_CTX_VISION tokens appended to the image tokens (``image_encoder.VPT``), replaced
before each of blocks 1 .. PROMPT_DEPTH_VISION-1. All deep prompts are class-independent, so the text side keeps
every exact fast path (shared prefix, EOT truncation, text features once per evaluation); the image encoder
runs with gradients when it has prompts. The encoders are the shared ones: ``TextEncoder.encode(layer_prompts=)``
and :mod:`vlprompt.clip.vision` (no patched CLIP); the prompts live on the blocks they enter
(:mod:`vlprompt.clip.layer_prompts`) so the state-dict keys are the official ones.

As the official code, the whole model is registered as ``VLPromptLearner`` and the parameters named
``prompt_learner`` or ``VPT`` train. Checkpoints written here hold those and the class-dependent buffers
(``prompt_learner.ctx``, ``image_encoder.VPT``, ``{text,image}_encoder.transformer.resblocks.<i>.VPT_shallow``,
``prompt_learner.token_prefix/suffix``); official checkpoints, which hold the whole model, load, frozen CLIP
weights included (official semantics). PromptSRC (``trainers/promptsrc.py``) reuses this model.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from vlprompt.clip import EncodingPlan, PromptCLIP, PromptLearner, TextEncoder, clip_dtype, init_leading_context, text_tower, vision
from vlprompt.clip.layer_prompts import attach_block_prompts, block_prompts, check_depth, new_prompt
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer


class DeepPromptCLIP(PromptCLIP):
    """CLIP with IVLP's independent deep prompts in the text and (``depth_vision`` > 0) the image encoder."""

    def __init__(self, clip_model, classnames, n_ctx_text: int, n_ctx_vision: int, depth_text: int,
                 depth_vision: int, ctx_init: str, fast: bool = True, key: str = "TRAINER.IVLP"):
        super().__init__(clip_model)
        self.text_encoder = TextEncoder(clip_model)
        check_depth(depth_text, len(self.text_encoder.blocks), f"{key}.PROMPT_DEPTH_TEXT", "text", minimum=1)
        if depth_vision > 0:
            vision.check_prompted_vit(self.image_encoder, f"Vision prompts ({key}.PROMPT_DEPTH_VISION > 0)")
            check_depth(depth_vision, len(vision.vit_blocks(self.image_encoder)), f"{key}.PROMPT_DEPTH_VISION", "image")
        if depth_vision > 0 and n_ctx_vision < 1:
            raise ValueError(f"{key}.N_CTX_VISION is {n_ctx_vision} with PROMPT_DEPTH_VISION {depth_vision}: give at "
                             "least 1 vision prompt token, or set PROMPT_DEPTH_VISION 0 for no vision prompts")
        # In the official order (vision prompts, text prompts, then the context); the RNG stream still differs
        # from the official code's, whose CLIP constructor draws differently (README, deliberate differences).
        self.vision_depth = depth_vision
        if depth_vision > 0:
            width = vision.vit_width(self.image_encoder)
            self.image_encoder.register_parameter("VPT", new_prompt(n_ctx_vision, width))
            attach_block_prompts(vision.vit_blocks(self.image_encoder), depth_vision, n_ctx_vision, width)
        attach_block_prompts(self.text_encoder.blocks, depth_text, n_ctx_text, text_tower(clip_model).width)
        dtype = clip_dtype(clip_model)
        context = init_leading_context(clip_model, n_ctx_text, ctx_init, dtype)
        self.prompt_learner = PromptLearner(clip_model, classnames, dtype=dtype, fast=fast, context=context)
        print(f'Initial text context: "{context[1]}" ({n_ctx_text} learnable tokens), text prompt depth {depth_text}; '
              f"vision: {n_ctx_vision if depth_vision else 0} tokens, depth {depth_vision}")

    def text_layer_prompts(self) -> Dict[int, torch.Tensor]:
        return block_prompts(self.text_encoder.blocks)

    def vision_prompts(self) -> Tuple[Optional[torch.Tensor], Dict[int, torch.Tensor]]:
        """(shallow prompt or None, {block: deep prompt})."""
        if not self.vision_depth:
            return None, {}
        return self.image_encoder.VPT, block_prompts(vision.vit_blocks(self.image_encoder))

    def text_features(self, plan: EncodingPlan = None) -> torch.Tensor:
        pl = self.prompt_learner
        plan = plan or pl.plan
        return F.normalize(self.text_encoder.encode(pl(plan), plan, layer_prompts=self.text_layer_prompts()), dim=-1)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        shallow, deep = self.vision_prompts()
        if shallow is None:  # no vision prompts: CLIP's own (frozen) image encoder, any backbone
            return super().encode_image(image)
        return F.normalize(vision.encode_image(self.image_encoder, image.type(self.dtype), shallow, deep), dim=-1)


@TRAINER_REGISTRY.register()
class IVLP(CLIPTrainer):
    prec_key = "IVLP"
    learnable = ""  # the whole model is registered, as the official code
    checkpoint_name = "VLPromptLearner"

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare(cfg, "TRAINER.IVLP", N_CTX_VISION=2, N_CTX_TEXT=2, CTX_INIT="a photo of a",
                PREC="fp16",  # fp16 | fp32 | amp
                PROMPT_DEPTH_VISION=9,  # 0: no vision prompts; J: the input prompt + blocks 1 .. J-1
                PROMPT_DEPTH_TEXT=9)  # >= 1 (1: the input context only)

    @property
    def keys(self):
        return self.cfg.TRAINER[self.prec_key]

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        c, key = cfg.TRAINER[self.prec_key], f"TRAINER.{self.prec_key}"
        if c.PROMPT_DEPTH_TEXT < 1:
            raise ValueError(f"{key}.PROMPT_DEPTH_TEXT must be >= 1 (the input context), got {c.PROMPT_DEPTH_TEXT}; "
                             "for prompts in the image encoder only, IVLP is not the method (VPT)")
        if c.N_CTX_TEXT < 1 or c.N_CTX_VISION < 0 or c.PROMPT_DEPTH_VISION < 0:
            raise ValueError(f"{key} needs N_CTX_TEXT >= 1, N_CTX_VISION >= 0 and PROMPT_DEPTH_VISION >= 0, got "
                             f"{c.N_CTX_TEXT}, {c.N_CTX_VISION}, {c.PROMPT_DEPTH_VISION}")

    def trainable(self, name: str) -> bool:
        return "prompt_learner" in name or "VPT" in name  # the official rule

    def build_custom_clip(self, classnames, clip_model):
        c = self.keys
        return DeepPromptCLIP(clip_model, classnames, c.N_CTX_TEXT, c.N_CTX_VISION, c.PROMPT_DEPTH_TEXT,
                              c.PROMPT_DEPTH_VISION, c.CTX_INIT, fast=self.fast_text, key=f"TRAINER.{self.prec_key}")

    def method_details(self) -> str:
        c = self.keys
        vision_ctx = c.N_CTX_VISION if c.PROMPT_DEPTH_VISION else 0
        return f"{c.N_CTX_TEXT}+{vision_ctx} ctx, depth {c.PROMPT_DEPTH_TEXT}/{c.PROMPT_DEPTH_VISION}"
