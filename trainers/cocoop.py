"""CoCoOp (Zhou et al., CVPR 2022): context conditioned on each image through a small meta-net.

ctx_i = ctx + meta_net(f_i) (the same vector added to every context token), with f_i the normalised
image feature. Everything else (context init, prompt assembly, text encoder, precision, training
step, checkpoint loading) is shared with CoOp. Unlike the reference, which encodes the prompts of one
image at a time, all images of a batch are encoded together, in chunks of TRAINER.COCOOP.TEXT_CHUNK
prompts, and each image's shared prefix (start token + its context) is encoded once for all classes.
"""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import PromptCLIP, PromptLearner, TextEncoder, clip_dtype, clip_embed_dim
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer


class CoCoOpPromptLearner(PromptLearner):
    def __init__(self, clip_model, classnames, n_ctx: int, ctx_init: str, vis_dim: int, dtype: torch.dtype,
                 fast: bool = True):
        super().__init__(clip_model, classnames, n_ctx=n_ctx, ctx_init=ctx_init, dtype=dtype, fast=fast)
        ctx_dim = self.ctx.shape[-1]
        # Created right after the context (as the reference), so the torch RNG order matches.
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ])).to(dtype)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        """Normalised image features (B, E) -> prompts (B, n_cls, L, D)."""
        bias = self.meta_net(image_features.to(self.ctx.dtype))  # (B, D)
        return self.assemble_batched(self.ctx.unsqueeze(0) + bias.unsqueeze(1))


class CoCoOpCLIP(PromptCLIP):
    image_conditioned = True  # no class text features to encode once per evaluation

    def __init__(self, clip_model, prompt_learner: CoCoOpPromptLearner, text_chunk: int):
        super().__init__(clip_model)
        self.prompt_learner = prompt_learner
        self.text_encoder = TextEncoder(clip_model)
        self.text_chunk = text_chunk

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_cls): one group of class prompts per image; each image's context prefix is encoded once."""
        image_features = self.encode_image(image)
        pl = self.prompt_learner
        text = F.normalize(self.text_encoder.encode(pl(image_features), pl.plan, self.text_chunk), dim=-1)
        return self.logit_scale.exp() * torch.einsum("be,bce->bc", image_features, text.to(image_features.dtype))


@TRAINER_REGISTRY.register()
class CoCoOp(CLIPTrainer):
    prec_key = "COCOOP"
    learnable = "prompt_learner"

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        # vlprompt: TEXT_CHUNK = most prompt sequences per text-encoder call. All images of a batch are
        # encoded together (the reference loops over images); above this, the work is split into chunks
        # whose activations are recomputed in backward (checkpointing), so memory stays bounded.
        declare(cfg, "TRAINER.COCOOP", N_CTX=16, CTX_INIT="", PREC="fp16", TEXT_CHUNK=4096)

    def build_custom_clip(self, classnames, clip_model):
        c = self.cfg.TRAINER.COCOOP
        vis_dim = clip_embed_dim(clip_model)
        prompt_learner = CoCoOpPromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, vis_dim, clip_dtype(clip_model),
                                             fast=self.fast_text)
        # The reference computation encodes one image's prompts at a time.
        chunk = c.TEXT_CHUNK if self.fast_text else prompt_learner.n_cls
        return CoCoOpCLIP(clip_model, prompt_learner, chunk)
