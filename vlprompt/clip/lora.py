"""Low-rank adapters (LoRA) in CLIP's attention, as CLIP-LoRA (Zanella & Ben Ayed, CVPRW 2024) places them.

For every selected block of the text and/or vision transformer, the attention's query, key, value
and/or output projection W (out, in) gets a trainable low-rank update:

    y = W x + b + s * B (A dropout(x)),   A (r, in) Kaiming-uniform (a = sqrt 5), B (out, r) zeros,

with s = alpha / sqrt(r) (the official scaling, not alpha / r) and dropout on the LoRA input only, in
training mode. B = 0 at the start, so the adapted CLIP starts as the original one.

Where things live (so that checkpoints hold only the adapters):

- :class:`LoRAAdapters` holds every factor, registered as ``layer_<i>.<proj>.w_lora_{A,B}`` with
  ``<proj>`` in q_proj / k_proj / v_proj / proj and i counting the adapted attention modules in the
  official order (text blocks first, then vision blocks): its state dict flattens the official
  checkpoint's ``weights`` dict. It is the module a trainer registers and saves.
- :class:`LoRAAttention` replaces ``nn.MultiheadAttention`` in an adapted block. It keeps the frozen
  weights of the module it replaces (``in_proj_weight``/``in_proj_bias``, ``out_proj``: the CLIP state
  dict is unchanged) and *refers* to its layer's factors without registering them. It has
  ``nn.MultiheadAttention``'s call signature (open_clip's blocks call ``attn(x, x, x,
  need_weights=False, attn_mask=...)[0]``) and offers ``qkv(x)`` and ``out_proj``, so
  :class:`~vlprompt.clip.TextEncoder`'s shared-prefix path drives it unchanged.

The official module copies the fused input projection into three separate Linear layers; here the
fused projection is applied once and the three low-rank updates are added to its chunks: the same
values (up to float rounding), one matrix product instead of three. The official merges B A into W in
eval mode; we always add the low-rank term (numerically equivalent).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

# Official parameter letters -> projection names (the official checkpoint's keys).
PROJECTIONS = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "proj"}
ENCODERS = ("text", "vision", "both")
POSITIONS = ("all", "bottom", "mid", "up", "half-up", "half-bottom", "top", "top1", "top2", "top3")


def block_indices(position: str, depth: int) -> List[int]:
    """Blocks adapted for ``position`` in a tower of ``depth`` blocks.

    For 12 blocks (ViT-B and CLIP's text transformer) these are the official tables: bottom 0-3, mid
    4-7, up 8-11, half-bottom 0-5, half-up 6-11, top/top1 11, top2 10-11, top3 9-11, all 0-11. Other
    depths use the same rule (thirds, halves, last blocks); "all" is every block (the official table
    for ViT-L/14's vision tower lists only blocks 0-20 of its 24).
    """
    if position not in POSITIONS:
        raise ValueError(f'LoRA position must be one of {list(POSITIONS)}, got "{position}"')
    third, half = depth // 3, depth // 2
    table = {
        "all": range(depth), "bottom": range(third), "mid": range(third, 2 * third), "up": range(2 * third, depth),
        "half-bottom": range(half), "half-up": range(half, depth), "top": range(depth - 1, depth),
        "top1": range(depth - 1, depth), "top2": range(max(depth - 2, 0), depth), "top3": range(max(depth - 3, 0), depth),
    }
    return list(table[position])


class LoRAFactors(nn.Module):
    """The low-rank update s * B (A dropout(x)) of one projection (out, in)."""

    def __init__(self, in_features: int, out_features: int, r: int, alpha: float, dropout: float):
        super().__init__()
        self.w_lora_A = nn.Parameter(torch.empty(r, in_features))
        self.w_lora_B = nn.Parameter(torch.zeros(out_features, r))
        nn.init.kaiming_uniform_(self.w_lora_A, a=math.sqrt(5))  # as nn.Linear's weight (official)
        self.scaling = alpha / math.sqrt(r)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropout is not None:
            x = self.dropout(x)
        # Factors stay float32 (the optimiser's copy); they are cast to the activations' dtype (fp16 runs).
        return F.linear(F.linear(x, self.w_lora_A.to(x.dtype)), self.w_lora_B.to(x.dtype)) * self.scaling


class LoRALayer(nn.Module):
    """The factors of one attention module, under the official names (only the enabled projections)."""

    def __init__(self, embed_dim: int, params: Sequence[str], r: int, alpha: float, dropout: float):
        super().__init__()
        for letter in params:  # creation order q, k, v, o as given (the official order of A draws)
            setattr(self, PROJECTIONS[letter], LoRAFactors(embed_dim, embed_dim, r, alpha, dropout))

    def factors(self, name: str) -> Optional[LoRAFactors]:
        return self._modules.get(name)


class LoRAAdapters(nn.Module):
    """Every LoRA layer of a model, ``layer_0`` ... in the official order; ``metadata`` as the official
    checkpoint records it (r, alpha, encoder, params, position)."""

    def __init__(self, metadata: dict):
        super().__init__()
        self.metadata = dict(metadata)

    def add(self, layer: LoRALayer) -> None:
        self.add_module(f"layer_{len(self._modules)}", layer)

    @property
    def dropout_active(self) -> bool:
        """Dropout is on (training mode, rate > 0): the update then differs per sequence and position."""
        return self.training and self.metadata.get("dropout_rate", 0) > 0


def _check_mha(mha: nn.MultiheadAttention) -> None:
    if not (mha._qkv_same_embed_dim and mha.in_proj_weight is not None):
        raise ValueError("LoRA needs self-attention with a fused input projection (in_proj_weight)")
    if mha.bias_k is not None or mha.add_zero_attn or mha.dropout:
        raise ValueError("LoRA supports plain CLIP attention (no bias_k/bias_v, no zero attention, no dropout)")


class LoRALinear(nn.Module):
    """A frozen linear layer (the replaced module's output projection) plus an optional low-rank update."""

    def __init__(self, linear: nn.Linear, factors: Optional[LoRAFactors]):
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias
        object.__setattr__(self, "lora", factors)  # referenced, not registered (lives in LoRAAdapters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        return y if self.lora is None else y + self.lora(x)


class LoRAAttention(nn.Module):
    """Drop-in for CLIP's ``nn.MultiheadAttention`` with low-rank updates of q, k, v and/or the output."""

    def __init__(self, mha: nn.MultiheadAttention, layer: LoRALayer):
        super().__init__()
        _check_mha(mha)
        self.embed_dim = mha.embed_dim
        self.num_heads = mha.num_heads
        self.head_dim = mha.head_dim
        self.batch_first = mha.batch_first
        self.in_proj_weight = mha.in_proj_weight
        self.in_proj_bias = mha.in_proj_bias
        self.out_proj = LoRALinear(mha.out_proj, layer.factors("proj"))
        object.__setattr__(self, "lora", layer)  # referenced, not registered (lives in LoRAAdapters)

    def _project(self, x: torch.Tensor, index: int) -> torch.Tensor:
        d = self.embed_dim
        bias = None if self.in_proj_bias is None else self.in_proj_bias[index * d:(index + 1) * d]
        y = F.linear(x, self.in_proj_weight[index * d:(index + 1) * d], bias)
        factors = self.lora.factors(("q_proj", "k_proj", "v_proj")[index])
        return y if factors is None else y + factors(x)

    def qkv(self, x: torch.Tensor):
        """(q, k, v) of ``x`` (..., L, D): the fused frozen projection plus each enabled update."""
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        out = []
        for t, name in zip((q, k, v), ("q_proj", "k_proj", "v_proj")):
            factors = self.lora.factors(name)
            out.append(t if factors is None else t + factors(x))
        return tuple(out)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_padding_mask=None,
                need_weights: bool = True, attn_mask: Optional[torch.Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        """``nn.MultiheadAttention``'s signature; returns (output, None) (no attention weights, as the official)."""
        if key_padding_mask is not None:
            raise ValueError("LoRAAttention does not support key_padding_mask (CLIP does not use it)")
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if query is key and key is value:
            q, k, v = self.qkv(query)
        else:
            q, k, v = self._project(query, 0), self._project(key, 1), self._project(value, 2)
        n, lq, _ = q.shape
        lk = k.shape[1]
        heads = self.num_heads

        def split(t, length):  # (N, L, D) -> (N, H, L, hd)
            return t.reshape(n, length, heads, self.head_dim).transpose(1, 2)

        if attn_mask is not None and attn_mask.dtype == torch.bool:  # MHA: True = not allowed
            attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill(attn_mask, float("-inf"))
        elif attn_mask is not None:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(split(q, lq), split(k, lk), split(v, lk), attn_mask=attn_mask,
                                             is_causal=is_causal and attn_mask is None)
        out = self.out_proj(out.transpose(1, 2).reshape(n, lq, self.embed_dim))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, None


def _towers(clip_model: nn.Module, encoder: str) -> Dict[str, nn.Module]:
    """The transformers to adapt, text first (the official order)."""
    if encoder not in ENCODERS:
        raise ValueError(f'LoRA encoder must be one of {list(ENCODERS)}, got "{encoder}"')
    towers = {}
    if encoder in ("text", "both"):
        from .towers import text_tower

        towers["text"] = text_tower(clip_model).transformer  # CLIP and CustomTextCLIP layouts alike
    if encoder in ("vision", "both"):
        visual = getattr(clip_model.visual, "transformer", None)
        if visual is None:
            raise ValueError(f"LoRA on the vision encoder needs a ViT image encoder; this CLIP's is a "
                             f"{type(clip_model.visual).__name__}. Use a ViT backbone or TRAINER.CLIP_LORA.ENCODER text.")
        towers["vision"] = visual
    return towers


def apply_lora(clip_model: nn.Module, encoder: str = "both", position: str = "all", params: Sequence[str] = ("q", "k", "v"),
               r: int = 2, alpha: float = 1.0, dropout: float = 0.25, log=print) -> LoRAAdapters:
    """Replace the attention of the selected blocks of ``clip_model`` (in place) by :class:`LoRAAttention`
    and return the :class:`LoRAAdapters` holding the new factors (float32, on the CPU)."""
    params = list(params)
    unknown = [p for p in params if p not in PROJECTIONS]
    if unknown or not params or len(set(params)) != len(params):
        raise ValueError(f"LoRA params must be distinct letters among {list(PROJECTIONS)}, got {params}")
    if r < 1:
        raise ValueError(f"LoRA rank r must be >= 1, got {r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"LoRA dropout rate must be in [0, 1), got {dropout}")
    adapters = LoRAAdapters({"r": r, "alpha": alpha, "encoder": encoder, "params": params, "position": position,
                             "dropout_rate": dropout})
    for name, tower in _towers(clip_model, encoder).items():
        indices = block_indices(position, len(tower.resblocks))
        for i in indices:
            block = tower.resblocks[i]
            mha = block.attn
            if not isinstance(mha, nn.MultiheadAttention):
                raise ValueError(f"Block {i} of the {name} transformer has no nn.MultiheadAttention to adapt "
                                 f"(found {type(mha).__name__}); is LoRA applied twice?")
            layer = LoRALayer(mha.embed_dim, params, r, alpha, dropout)
            adapters.add(layer)
            block.attn = LoRAAttention(mha, layer)
        log(f"LoRA ({', '.join(PROJECTIONS[p] for p in params)}, r={r}, alpha={alpha:g}, dropout={dropout:g}) in "
            f"{name} blocks {indices}")
    return adapters


# ------------------------------------------------------------------------------ official checkpoint format
OFFICIAL_METADATA = ("r", "alpha", "encoder", "params", "position")


def to_official(adapters: LoRAAdapters) -> dict:
    """The official checkpoint: {"weights": {"layer_i": {proj: {"w_lora_A", "w_lora_B"}}}, "metadata": {...}}."""
    weights: dict = {}
    for key, tensor in adapters.state_dict().items():
        layer, proj, name = key.split(".")
        weights.setdefault(layer, {}).setdefault(proj, {})[name] = tensor.detach().cpu().clone()
    return {"weights": weights, "metadata": {k: adapters.metadata[k] for k in OFFICIAL_METADATA}}


def from_official(payload: dict, adapters: LoRAAdapters, source: str) -> Dict[str, torch.Tensor]:
    """The state dict of ``adapters`` from an official checkpoint, after the official metadata checks
    (r, alpha, encoder, params, position must equal this run's; ValueError naming the difference)."""
    if not isinstance(payload, dict) or "weights" not in payload or "metadata" not in payload:
        raise ValueError(f'"{source}" is not an official CLIP-LoRA checkpoint (expected "weights" and "metadata")')
    meta = payload["metadata"]
    for key in OFFICIAL_METADATA:
        mine, theirs = adapters.metadata[key], meta.get(key)
        if (list(mine) != list(theirs or [])) if key == "params" else mine != theirs:
            raise ValueError(f'"{source}": {key} mismatch: this run has {mine!r}, the checkpoint {theirs!r} '
                             f"(set TRAINER.CLIP_LORA.{key.upper()} to the checkpoint's value)")
    state = {}
    for layer, projections in payload["weights"].items():
        for proj, tensors in projections.items():
            for name, tensor in tensors.items():
                state[f"{layer}.{proj}.{name}"] = tensor
    return state
