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

from vlprompt.clip import PromptCLIP, PromptLearner, TextEncoder, clip_dtype
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer


class CoCoOpPromptLearner(PromptLearner):
    def __init__(self, clip_model, classnames, n_ctx: int, ctx_init: str, vis_dim: int, dtype: torch.dtype):
        super().__init__(clip_model, classnames, n_ctx=n_ctx, ctx_init=ctx_init, dtype=dtype)
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
    def __init__(self, clip_model, prompt_learner: CoCoOpPromptLearner, text_chunk: int):
        super().__init__(clip_model)
        self.prompt_learner = prompt_learner
        self.text_encoder = TextEncoder(clip_model)
        self.text_chunk = text_chunk

    def forward(self, image: torch.Tensor, label: torch.Tensor = None) -> torch.Tensor:
        """Logits (B, n_cls); in training mode with a label, the cross-entropy loss (as the reference)."""
        image_features = self.encode_image(image)
        pl = self.prompt_learner
        # One group of class prompts per image; each image's context prefix is encoded once.
        text = self.text_encoder.encode(pl(image_features), pl.eot_indices, pl.shared_len, self.text_chunk,
                                        pl.length_groups)
        text = F.normalize(text, dim=-1)
        logits = self.logit_scale.exp() * torch.einsum("be,bce->bc", image_features, text.to(image_features.dtype))
        if self.prompt_learner.training and label is not None:
            return F.cross_entropy(logits, label)
        return logits


@TRAINER_REGISTRY.register()
class CoCoOp(CLIPTrainer):
    prec_key = "COCOOP"
    learnable = "prompt_learner"

    def build_custom_clip(self, classnames, clip_model):
        c = self.cfg.TRAINER.COCOOP
        vis_dim = clip_model.visual.output_dim
        prompt_learner = CoCoOpPromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, vis_dim, clip_dtype(clip_model))
        return CoCoOpCLIP(clip_model, prompt_learner, c.TEXT_CHUNK)

    def compute_loss(self, image, label):
        return self.model(image, label), None  # the loss summary holds only the loss

    # Prompts depend on the image: no class text features to encode once per evaluation.
    def before_test(self) -> None:
        pass

    def model_inference(self, image: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.model(image).float()
