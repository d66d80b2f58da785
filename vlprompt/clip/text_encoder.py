"""CLIP's text transformer applied to prompt *embeddings* (so context vectors can be learned)."""
from __future__ import annotations

import torch
import torch.nn as nn


class TextEncoder(nn.Module):
    """Prompt embeddings (N, L, D) + EOT positions (N,) -> projected EOT features (N, embed_dim).

    ``truncate=True`` drops every position after the last EOT of the batch before the transformer.
    The transformer is causal, so later positions cannot change the EOT feature: the result equals
    the 77-token computation (the reference's) up to float rounding, at a fraction of the cost.
    """

    def __init__(self, clip_model: nn.Module, truncate: bool = True):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.register_buffer("attn_mask", clip_model.attn_mask.clone(), persistent=False)
        self.truncate = truncate

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.get_cast_dtype()

    def forward(self, prompts: torch.Tensor, eot_indices: torch.Tensor) -> torch.Tensor:
        if self.truncate:
            length = int(eot_indices.max()) + 1
            prompts = prompts[:, :length]
        length = prompts.shape[1]
        dtype = self.dtype
        x = prompts.to(dtype) + self.positional_embedding[:length].to(dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_indices]
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection
