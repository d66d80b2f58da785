"""CLIP as a classifier: image features against class text features, scaled by exp(logit_scale)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .loader import clip_dtype


class PromptCLIP(nn.Module):
    """Frozen CLIP image encoder + a source of class text features -> logits (every forward returns logits).

    Subclasses implement :meth:`text_features` (normalised, (n_cls, d)). Unless ``image_conditioned``
    (the prompts depend on the image, as CoCoOp's), the trainer computes them once per evaluation and
    passes them to :meth:`forward`, instead of re-encoding every class prompt for every test batch as
    the reference does.
    """

    image_conditioned = False

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        self.image_encoder = clip_model.visual
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_dtype(clip_model)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_encoder(image.type(self.dtype)), dim=-1)

    def text_features(self) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """exp(logit_scale) * normalised image features @ normalised text features^T."""
        return self.logit_scale.exp() * image_features @ text_features.to(image_features.dtype).t()

    def forward(self, image: torch.Tensor, text_features: torch.Tensor = None) -> torch.Tensor:
        image_features = self.encode_image(image)
        if text_features is None:
            text_features = self.text_features()
        return self.logits(image_features, text_features)


class FixedTextCLIP(PromptCLIP):
    """Class text features fixed at build time (hand-written prompts), kept as a buffer."""

    def __init__(self, clip_model: nn.Module, text_features: torch.Tensor):
        super().__init__(clip_model)
        self.register_buffer("fixed_text_features", text_features)

    def text_features(self) -> torch.Tensor:
        return self.fixed_text_features
