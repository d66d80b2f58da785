"""CLIP as a classifier: image features against class text features, scaled by exp(logit_scale)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .loader import clip_dtype
from .tokenizer import tokenize


@torch.no_grad()
def encode_texts(clip_model: nn.Module, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """L2-normalised text features of plain strings (hand-written templates), in batches."""
    device = clip_model.positional_embedding.device
    feats = []
    for i in range(0, len(texts), batch_size):
        ids = tokenize(list(texts[i:i + batch_size]), clip_model.positional_embedding.shape[0]).to(device)
        feats.append(clip_model.encode_text(ids))
    return F.normalize(torch.cat(feats).float(), dim=-1)


class PromptCLIP(nn.Module):
    """Frozen CLIP image encoder + a source of class text features -> logits.

    Subclasses implement :meth:`text_features` (normalised, (n_cls, d)). During evaluation the
    trainer computes them once and passes them to :meth:`forward` (they do not depend on the image),
    instead of re-encoding every class prompt for every test batch as the reference does.
    """

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        self.image_encoder = clip_model.visual
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_dtype(clip_model)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_encoder(image.type(self.dtype)), dim=-1)

    def text_features(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, image: torch.Tensor, text_features: torch.Tensor = None) -> torch.Tensor:
        image_features = self.encode_image(image)
        if text_features is None:
            text_features = self.text_features()
        return self.logit_scale.exp() * image_features @ text_features.to(image_features.dtype).t()
