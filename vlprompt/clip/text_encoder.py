"""CLIP's text transformer applied to prompt *embeddings* (so context vectors can be learned).

Besides the plain forward, :meth:`TextEncoder.encode` computes a prefix that is identical for every
class (start token + unified context) once and lets each class encode only its own tokens, attending
to the prefix's keys/values at every layer, as a key/value cache does. Attention is causal, so the
prefix's hidden states do not depend on what follows: the result equals the plain computation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

if TYPE_CHECKING:
    from .prompt_learner import EncodingPlan


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
        self._supports_shared_prefix = self._blocks_are_plain()

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
        return self._project(x)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    @property
    def supports_shared_prefix(self) -> bool:
        """Plain pre-LN self-attention blocks (OpenAI/open_clip CLIP) whose weights we can drive."""
        return self._supports_shared_prefix

    def _blocks_are_plain(self) -> bool:
        from open_clip.transformer import ResidualAttentionBlock

        return getattr(self.transformer, "batch_first", False) and all(
            type(blk) is ResidualAttentionBlock and not hasattr(blk, "ln_1_kv") for blk in self.transformer.resblocks
        )

    def encode(self, prompts: torch.Tensor, plan: "EncodingPlan", chunk_size: int = 0) -> torch.Tensor:
        """Text features of prompts (N, L, D) or groups of prompts (G, N, L, D) -> (N, E) / (G, N, E).

        ``plan`` (:class:`~vlprompt.clip.prompt_learner.EncodingPlan`) says where each EOT is, which
        leading positions are identical for the N prompts of a group (encoded once per group) and how
        classes are grouped by length (each group encoded only up to its own EOT). ``chunk_size``:
        most sequences per transformer call; with gradients and several chunks each chunk is
        checkpointed (activations recomputed in backward), so peak memory is that of one chunk.
        All of these are exact: the transformer is causal and the EOT row is what is read out.
        """
        grouped = prompts.dim() == 4
        if not grouped:
            prompts = prompts.unsqueeze(0)
        g, n, length, dim = prompts.shape
        eot_indices = plan.eot_indices
        length_groups = plan.length_groups if plan.length_groups is not None else [(length, None)]
        use_ckpt = torch.is_grad_enabled() and prompts.requires_grad and 0 < chunk_size < g * n
        per_chunk = chunk_size if chunk_size > 0 else g * n

        def run(fn, *args):
            return checkpoint(fn, *args, use_reentrant=False) if use_ckpt else fn(*args)

        outs, order = [], []
        for seq_len, idx in length_groups:
            if idx is None:
                sub, eot = prompts, eot_indices
            else:
                idx = idx.to(prompts.device)
                sub, eot = prompts[:, idx, :seq_len], eot_indices[idx]
                order.append(idx)
            outs.append(self._encode_same_length(sub, eot, plan.shared_len, per_chunk, run))
        out = torch.cat(outs, dim=1)
        if order:  # back to class order
            out = out[:, torch.argsort(torch.cat(order))]
        return out if grouped else out[0]

    def _encode_same_length(self, prompts, eot_indices, shared_len, per_chunk, run) -> torch.Tensor:
        g, n, length, dim = prompts.shape
        use_shared = shared_len > 0 and self.supports_shared_prefix and length > shared_len
        if use_shared:
            prefix, suffix = prompts[:, 0, :shared_len], prompts[:, :, shared_len:]
            eot_local = eot_indices - shared_len
        # Chunks: whole groups when they fit, else slices of one group's classes.
        g_step, n_step = (max(1, per_chunk // n), n) if per_chunk >= n else (1, per_chunk)
        outs = []
        for g0 in range(0, g, g_step):
            gs, row = slice(g0, g0 + g_step), []
            for n0 in range(0, n, n_step):
                ns = slice(n0, n0 + n_step)
                if use_shared:
                    row.append(run(self._forward_shared_prefix, prefix[gs], suffix[gs, ns], eot_local[ns]))
                else:
                    chunk = prompts[gs, ns]
                    feats = run(self, chunk.reshape(-1, length, dim), eot_indices[ns].repeat(chunk.shape[0]))
                    row.append(feats.reshape(chunk.shape[0], chunk.shape[1], -1))
            outs.append(torch.cat(row, dim=1))
        return torch.cat(outs, dim=0)

    def _forward_shared_prefix(self, prefix: torch.Tensor, suffix: torch.Tensor, eot_local: torch.Tensor) -> torch.Tensor:
        """prefix (G, P, D) shared by the N sequences of each group, suffix (G, N, S, D) -> (G, N, E)."""
        dtype = self.dtype
        g, p, dim = prefix.shape
        n, s = suffix.shape[1:3]
        pos = self.positional_embedding.to(dtype)
        xp = prefix.to(dtype) + pos[:p]
        xs = suffix.to(dtype) + pos[p:p + s]
        # Suffix token i sees every prefix position and suffix positions <= i.
        allowed = torch.ones(s, p + s, dtype=torch.bool, device=xs.device)
        allowed[:, p:] = torch.ones(s, s, dtype=torch.bool, device=xs.device).tril()
        blocks = self.transformer.resblocks
        for i, blk in enumerate(blocks):
            attn = blk.attn
            heads = attn.num_heads
            hd = dim // heads
            qp, kp, vp = F.linear(blk.ln_1(xp), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            qs, ks, vs = F.linear(blk.ln_1(xs), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

            def heads_of(t, *lead):  # (..., L, D) -> (..., H, L, hd)
                return t.reshape(*lead, t.shape[-2], heads, hd).transpose(-3, -2)

            kp_h, vp_h = heads_of(kp, g).unsqueeze(1), heads_of(vp, g).unsqueeze(1)  # (G, 1, H, P, hd)
            k = torch.cat([kp_h.expand(g, n, heads, p, hd), heads_of(ks, g, n)], dim=-2)
            v = torch.cat([vp_h.expand(g, n, heads, p, hd), heads_of(vs, g, n)], dim=-2)
            att_s = F.scaled_dot_product_attention(heads_of(qs, g, n), k, v, attn_mask=allowed)
            att_s = att_s.transpose(-3, -2).reshape(g, n, s, dim)
            xs = xs + blk.ls_1(attn.out_proj(att_s))
            xs = xs + blk.ls_2(blk.mlp(blk.ln_2(xs)))
            if i + 1 < len(blocks):  # the last layer's prefix output is never attended to
                att_p = F.scaled_dot_product_attention(heads_of(qp, g), heads_of(kp, g), heads_of(vp, g), is_causal=True)
                xp = xp + blk.ls_1(attn.out_proj(att_p.transpose(-3, -2).reshape(g, p, dim)))
                xp = xp + blk.ls_2(blk.mlp(blk.ln_2(xp)))
        xs = self.ln_final(xs)
        x = xs[:, torch.arange(n, device=xs.device), eot_local]  # (G, N, D)
        return self._project(x)
