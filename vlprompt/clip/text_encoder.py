"""CLIP's text transformer applied to prompt *embeddings* (so context vectors can be learned)."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint


class TextEncoder(nn.Module):
    """Prompt embeddings (N, L, D) + EOT positions (N,) -> projected EOT features (N, embed_dim).

    Any L up to the context length works: the transformer is causal, so prompts cut after their
    last EOT (as :class:`PromptLearner` assembles them) give the same EOT features as 77 tokens.
    """

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.register_buffer("attn_mask", clip_model.attn_mask.clone(), persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.get_cast_dtype()

    def forward(self, prompts: torch.Tensor, eot_indices: torch.Tensor) -> torch.Tensor:
        length = prompts.shape[1]
        dtype = self.dtype
        x = prompts.to(dtype) + self.positional_embedding[:length].to(dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_indices]
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    def forward_chunked(self, prompts: torch.Tensor, eot_indices: torch.Tensor, chunk_size: int) -> torch.Tensor:
        """``forward`` over at most ``chunk_size`` sequences at a time.

        With gradients and more than one chunk, each chunk is checkpointed: its activations are
        recomputed in backward instead of stored, so peak memory is that of one chunk.
        """
        n = prompts.shape[0]
        if chunk_size <= 0 or n <= chunk_size:
            return self(prompts, eot_indices)
        use_ckpt = torch.is_grad_enabled() and prompts.requires_grad
        outs = []
        for start in range(0, n, chunk_size):
            p, e = prompts[start:start + chunk_size], eot_indices[start:start + chunk_size]
            outs.append(checkpoint(self, p, e, use_reentrant=False) if use_ckpt else self(p, e))
        return torch.cat(outs)
