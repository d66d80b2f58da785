"""CLIP's text transformer applied to prompt *embeddings* (so context vectors can be learned).

Besides the plain forward, :meth:`TextEncoder.encode` computes a prefix that is identical for every
class (start token + unified context) once and lets each class encode only its own tokens, attending
to the prefix's keys/values at every layer, as a key/value cache does. Attention is causal, so the
prefix's hidden states do not depend on what follows: the result equals the plain computation.

**Layer prompts** (the one mechanism deep-prompt methods use): ``layer_prompts`` maps a block index i to
a tensor that replaces the hidden states at positions 1..n (after the start token; 0..n-1 on towers
without one, SigLIP) right before block i (the official IVLP /
MaPLe / PromptSRC / TCP semantics). A tensor (n, D) is the same for every prompt (deep prompts); a
tensor (n_cls, n, D) holds one per class (TCP's class-aware tokens). Shared replacements inside the
shared prefix keep the prefix shared; from the first class-specific one on, the prefix is copied to
every class ("unshared") and the remaining blocks run per class: still exact, and the blocks before
it are still computed once.

Attention modules: ``nn.MultiheadAttention`` (OpenAI / open_clip), or any module with the same call
signature that also offers ``qkv(x) -> (q, k, v)`` and ``out_proj`` (e.g. an attention with low-rank
adapters); the shared-prefix path drives both.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .towers import text_tower

if TYPE_CHECKING:
    from .prompt_learner import EncodingPlan

LayerPrompts = Dict[int, torch.Tensor]


def attention_qkv(attn: nn.Module, x: torch.Tensor):
    """(q, k, v) projections of ``x`` by an attention module (see the module docstring)."""
    if hasattr(attn, "qkv"):
        return attn.qkv(x)
    return F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)


def replace_positions(x: torch.Tensor, prompt: torch.Tensor, start: int = 1) -> torch.Tensor:
    """``x`` (B, L, D) with positions start..start+n-1 (1..n: after CLIP's start token) replaced by ``prompt``
    (n, D) or one per row (B, n, D)."""
    n = prompt.shape[-2]
    if prompt.dim() == 2:
        prompt = prompt.unsqueeze(0).expand(x.shape[0], -1, -1)
    return torch.cat([x[:, :start], prompt.to(x.dtype), x[:, start + n:]], dim=1)


def _rows(layer_prompts: Optional[LayerPrompts], index=None, repeat: int = 1) -> Optional[LayerPrompts]:
    """Class-specific layer prompts restricted to the classes ``index`` and tiled ``repeat`` times
    (rows of a flattened (groups x classes) batch); shared ones unchanged."""
    if not layer_prompts:
        return layer_prompts
    out = {}
    for i, p in layer_prompts.items():
        if p.dim() == 3:
            p = p[index] if index is not None else p
            p = p.repeat(repeat, 1, 1) if repeat > 1 else p
        out[i] = p
    return out


class TextEncoder(nn.Module):
    """Prompt embeddings (N, L, D) + EOT positions (N,) -> projected EOT features (N, embed_dim).

    Any L up to the context length works on a causal tower: prompts cut after their last EOT (as
    :class:`PromptLearner` assembles them) give the same EOT features as 77 tokens. Any open_clip text
    tower (:func:`~vlprompt.clip.towers.text_tower`); on a bidirectional one the plan must be the
    reference plan (``PromptLearner`` chooses it there).
    """

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        tower = text_tower(clip_model)  # any open_clip layout (vlprompt.clip.towers)
        self.transformer = tower.transformer
        self.positional_embedding = tower.positional_embedding
        self.ln_final = tower.ln_final
        self.text_projection = tower.text_projection
        # None: a bidirectional tower (SigLIP); the plain computation is then the only exact one.
        mask = tower.attn_mask.clone() if tower.causal else None
        self.register_buffer("attn_mask", mask, persistent=False)
        self.causal = tower.causal
        self.lead = tower.lead  # layer prompts replace the positions after the leading special tokens

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.get_cast_dtype()

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.resblocks

    def forward(self, prompts: torch.Tensor, eot_indices: torch.Tensor,
                layer_prompts: Optional[LayerPrompts] = None) -> torch.Tensor:
        """The plain computation: every prompt through every block (``layer_prompts`` per row)."""
        length = prompts.shape[1]
        dtype = self.dtype
        x = prompts.to(dtype) + self.positional_embedding[:length].to(dtype)
        mask = None if self.attn_mask is None else self.attn_mask[:length, :length]
        x = self._run_blocks(x, mask, layer_prompts)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_indices]
        return self._project(x)

    def _run_blocks(self, x: torch.Tensor, attn_mask: torch.Tensor, layer_prompts: Optional[LayerPrompts],
                    first: int = 0) -> torch.Tensor:
        """Blocks ``first``... on (B, L, D), with the layer prompts replaced before their blocks."""
        batch_first = getattr(self.transformer, "batch_first", True)
        for i in range(first, len(self.blocks)):
            if layer_prompts and i in layer_prompts:
                x = replace_positions(x, layer_prompts[i], self.lead)
            if batch_first:
                x = self.blocks[i](x, attn_mask=attn_mask)
            else:  # older open_clip layouts run sequence-first
                x = self.blocks[i](x.transpose(0, 1), attn_mask=attn_mask).transpose(0, 1)
        return x

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if self.text_projection is None:
            return x
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    @property
    def supports_shared_prefix(self) -> bool:
        """Plain pre-LN self-attention blocks (OpenAI/open_clip CLIP) whose weights we can drive."""
        from open_clip.transformer import ResidualAttentionBlock

        def drivable(attn) -> bool:
            return isinstance(attn, nn.MultiheadAttention) or (hasattr(attn, "qkv") and hasattr(attn, "out_proj"))

        return getattr(self.transformer, "batch_first", False) and all(
            type(blk) is ResidualAttentionBlock and not hasattr(blk, "ln_1_kv") and drivable(blk.attn)
            for blk in self.blocks
        )

    def encode(self, prompts: torch.Tensor, plan: "EncodingPlan", chunk_size: int = 0,
               layer_prompts: Optional[LayerPrompts] = None) -> torch.Tensor:
        """Text features of prompts (N, L, D) or groups of prompts (G, N, L, D) -> (N, E) / (G, N, E).

        ``plan`` (:class:`~vlprompt.clip.prompt_learner.EncodingPlan`) says where each EOT is, which
        leading positions are identical for the N prompts of a group (encoded once per group) and how
        classes are grouped by length (each group encoded only up to its own EOT). ``chunk_size``:
        most sequences per transformer call; with gradients and several chunks each chunk is
        checkpointed (activations recomputed in backward), so peak memory is that of one chunk.
        ``layer_prompts``: see the module docstring (class-specific ones are indexed by class, the
        same for every group). All of these are exact: the transformer is causal and the EOT row is
        what is read out.
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
                sub, eot, lp = prompts, eot_indices, layer_prompts
            else:
                idx = idx.to(prompts.device)
                sub, eot, lp = prompts[:, idx, :seq_len], eot_indices[idx], _rows(layer_prompts, idx)
                order.append(idx)
            outs.append(self._encode_same_length(sub, eot, plan.shared_len, per_chunk, run, lp))
        out = torch.cat(outs, dim=1)
        if order:  # back to class order
            out = out[:, torch.argsort(torch.cat(order))]
        return out if grouped else out[0]

    def _prefix_can_be_shared(self, shared_len: int, length: int, layer_prompts: Optional[LayerPrompts]) -> bool:
        if not (shared_len > 0 and self.causal and self.supports_shared_prefix and length > shared_len):
            return False
        # A shared replacement must lie inside the shared prefix (it is written into the prefix once).
        return all(p.dim() == 3 or self.lead + p.shape[-2] <= shared_len for p in (layer_prompts or {}).values())

    def _encode_same_length(self, prompts, eot_indices, shared_len, per_chunk, run, layer_prompts) -> torch.Tensor:
        g, n, length, dim = prompts.shape
        use_shared = self._prefix_can_be_shared(shared_len, length, layer_prompts)
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
                    row.append(run(self._forward_shared_prefix, prefix[gs], suffix[gs, ns], eot_local[ns],
                                   _rows(layer_prompts, ns)))
                else:
                    chunk = prompts[gs, ns]
                    feats = run(self, chunk.reshape(-1, length, dim), eot_indices[ns].repeat(chunk.shape[0]),
                                _rows(layer_prompts, ns, repeat=chunk.shape[0]))
                    row.append(feats.reshape(chunk.shape[0], chunk.shape[1], -1))
            outs.append(torch.cat(row, dim=1))
        return torch.cat(outs, dim=0)

    def _forward_shared_prefix(self, prefix: torch.Tensor, suffix: torch.Tensor, eot_local: torch.Tensor,
                               layer_prompts: Optional[LayerPrompts] = None) -> torch.Tensor:
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
        blocks = self.blocks
        for i, blk in enumerate(blocks):
            prompt = (layer_prompts or {}).get(i)
            if prompt is not None and prompt.dim() == 3:
                # Class-specific from here on: every class gets its own copy of the prefix.
                x = torch.cat([xp.unsqueeze(1).expand(g, n, p, dim), xs], dim=2).reshape(g * n, p + s, dim)
                rest = {j: q for j, q in layer_prompts.items() if j >= i}
                x = self._run_blocks(x, self.attn_mask[:p + s, :p + s], _rows(rest, repeat=g), first=i)
                x = self.ln_final(x).reshape(g, n, p + s, dim)
                return self._project(x[:, torch.arange(n, device=x.device), eot_local + p])
            if prompt is not None:
                xp = replace_positions(xp, prompt, self.lead)
            attn = blk.attn
            heads = attn.num_heads
            hd = dim // heads
            qp, kp, vp = attention_qkv(attn, blk.ln_1(xp))
            qs, ks, vs = attention_qkv(attn, blk.ln_1(xs))

            def heads_of(t, *lead):  # (..., L, D) -> (..., H, L, hd)
                return t.reshape(*lead, t.shape[-2], heads, hd).transpose(-3, -2)

            kp_h, vp_h = heads_of(kp, g).unsqueeze(1), heads_of(vp, g).unsqueeze(1)  # (G, 1, H, P, hd)
            k = torch.cat([kp_h.expand(g, n, heads, p, hd), heads_of(ks, g, n)], dim=-2)
            v = torch.cat([vp_h.expand(g, n, heads, p, hd), heads_of(vs, g, n)], dim=-2)
            att_s = F.scaled_dot_product_attention(heads_of(qs, g, n), k, v, attn_mask=allowed)
            att_s = att_s.transpose(-3, -2).reshape(g, n, s, dim)
            xs = xs + blk.ls_1(attn.out_proj(att_s))
            xs = xs + blk.ls_2(blk.mlp(blk.ln_2(xs)))
            # The prefix's own update; after the last block it is never attended to.
            if i + 1 < len(blocks):
                att_p = F.scaled_dot_product_attention(heads_of(qp, g), heads_of(kp, g), heads_of(vp, g),
                                                       is_causal=True)
                xp = xp + blk.ls_1(attn.out_proj(att_p.transpose(-3, -2).reshape(g, p, dim)))
                xp = xp + blk.ls_2(blk.mlp(blk.ln_2(xp)))
        xs = self.ln_final(xs)
        x = xs[:, torch.arange(n, device=xs.device), eot_local]  # (G, N, D)
        return self._project(x)
