"""Learnable context vectors and prompt assembly, shared by CoOp and CoCoOp.

Prompt text per class = "<context words> <class name>." tokenised to 77 ids. The embeddings of the
start token and of everything after the context are fixed buffers (``token_prefix``,
``token_suffix``); the context ``ctx`` is learned and inserted at the end, middle or front layout.
State-dict keys are the reference's (``ctx``, ``token_prefix``, ``token_suffix``) so released
checkpoints load.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn as nn

from .tokenizer import encode_text_tokens, tokenize

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")


def _layout_index(n_ctx: int, name_len: int, seq_len: int, position: str) -> List[int]:
    """Positions, in the 'end' layout [SOT, ctx(M), name(L), rest], that make up the given layout."""
    sot, ctx = [0], list(range(1, 1 + n_ctx))
    name = list(range(1 + n_ctx, 1 + n_ctx + name_len))
    rest = list(range(1 + n_ctx + name_len, seq_len))
    if position == "end":
        return sot + ctx + name + rest
    if position == "middle":
        half = n_ctx // 2  # the second half is the longer one for odd M (as the reference)
        return sot + ctx[:half] + name + ctx[half:] + rest
    return sot + name + ctx + rest  # front


class PromptLearner(nn.Module):
    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], n_ctx: int = 16, ctx_init: str = "",
                 csc: bool = False, class_token_position: str = "end", dtype: torch.dtype = None,
                 verbose: bool = True):
        super().__init__()
        if class_token_position not in CLASS_TOKEN_POSITIONS:
            raise ValueError(f'CLASS_TOKEN_POSITION must be one of {CLASS_TOKEN_POSITIONS}, got "{class_token_position}"')
        n_cls = len(classnames)
        if n_cls == 0:
            raise ValueError("PromptLearner needs at least one class name")
        dtype = dtype or clip_model.token_embedding.weight.dtype
        ctx_dim = clip_model.ln_final.weight.shape[0]
        context_length = clip_model.positional_embedding.shape[0]
        log = print if verbose else (lambda *a, **k: None)

        if ctx_init:
            # Context from words: a single shared context; M = number of words (overrides N_CTX).
            ctx_init = ctx_init.replace("_", " ")
            n_ctx = len(ctx_init.split(" "))
            with torch.no_grad():
                embedding = clip_model.token_embedding(tokenize(ctx_init, context_length)).type(dtype)
            ctx_vectors = embedding[0, 1:1 + n_ctx, :].clone()
            prompt_prefix = ctx_init
        else:
            if csc:
                log("Initializing class-specific contexts")
                ctx_vectors = torch.empty(n_cls, n_ctx, ctx_dim, dtype=dtype)
            else:
                log("Initializing a generic context")
                ctx_vectors = torch.empty(n_ctx, ctx_dim, dtype=dtype)
            nn.init.normal_(ctx_vectors, std=0.02)
            prompt_prefix = " ".join(["X"] * n_ctx)
        log(f'Initial context: "{prompt_prefix}"')
        log(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)

        classnames = [name.replace("_", " ") for name in classnames]
        self.name_lens = [len(encode_text_tokens(name)) for name in classnames]
        prompts = [prompt_prefix + " " + name + "." for name in classnames]
        tokenized = torch.cat([tokenize(p, context_length) for p in prompts])
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokenized).type(dtype)
        # Buffers are saved (as the reference) but dropped on load, so checkpoints transfer across classes.
        self.register_buffer("token_prefix", embedding[:, :1, :].clone())
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:, :].clone())
        self.register_buffer("eot_indices", tokenized.argmax(dim=-1), persistent=False)
        self.register_buffer("layout_index", torch.tensor(
            [_layout_index(n_ctx, n, context_length, class_token_position) for n in self.name_lens]
        ), persistent=False)

        self.tokenized_prompts = tokenized
        self.classnames = classnames
        self.n_cls = n_cls
        self.n_ctx = n_ctx
        self.csc = ctx_vectors.dim() == 3
        self.class_token_position = class_token_position
        # Prompts are assembled only up to the last EOT of all classes: the text transformer is
        # causal, so later positions cannot change the EOT features (exact, and far fewer tokens
        # than the reference's 77). ``truncate = False`` gives the reference's full-length prompts.
        self.truncate = True
        self._last_eot = int(self.eot_indices.max())  # a Python int: no device sync per step
        self._context_length = context_length
        # Leading positions identical for every class (start token + the unified context before the
        # name), which the text encoder computes once; ``False`` encodes every prompt in full.
        self.shared_prefix = True
        # Classes grouped by prompt length (EOT index + 1), so each group is encoded only up to its
        # own EOT instead of the longest class's: (length, class indices) pairs, computed once.
        by_length: dict = {}
        for i, e in enumerate(self.eot_indices.tolist()):
            by_length.setdefault(e + 1, []).append(i)
        self._length_groups = [(length, torch.tensor(idx)) for length, idx in sorted(by_length.items())]

    @property
    def seq_len(self) -> int:
        """Tokens to assemble: up to the last EOT (``truncate``) or the full context length."""
        return self._last_eot + 1 if self.truncate else self._context_length

    @property
    def length_groups(self):
        """(length, class indices) groups for :meth:`TextEncoder.encode`; None encodes all at ``seq_len``."""
        return self._length_groups if self.truncate else None

    @property
    def shared_len(self) -> int:
        if not self.shared_prefix:
            return 0
        if self.csc or self.class_token_position == "front":
            return 1  # only the start token is common to all classes
        return 1 + (self.n_ctx if self.class_token_position == "end" else self.n_ctx // 2)

    def assemble(self, ctx: torch.Tensor) -> torch.Tensor:
        """Prompts (n_cls, L, D) for every class from a unified (M, D) or class-specific (n_cls, M, D) ctx."""
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        length = self.seq_len
        n_suffix = length - 1 - self.n_ctx
        prompts = torch.cat([self.token_prefix, ctx.to(self.token_prefix.dtype), self.token_suffix[:, :n_suffix]], dim=1)
        if self.class_token_position == "end":
            return prompts
        index = self.layout_index[:, :length].unsqueeze(-1).expand(-1, -1, prompts.shape[-1])
        return torch.gather(prompts, 1, index)

    def assemble_batched(self, ctx: torch.Tensor) -> torch.Tensor:
        """Per-image contexts (B, M, D) -> prompts (B, n_cls, L, D) (class token at the end)."""
        b = ctx.shape[0]
        length = self.seq_len
        n_suffix = length - 1 - self.n_ctx
        prefix = self.token_prefix.unsqueeze(0).expand(b, -1, -1, -1)
        suffix = self.token_suffix[:, :n_suffix].unsqueeze(0).expand(b, -1, -1, -1)
        ctx = ctx.to(self.token_prefix.dtype).unsqueeze(1).expand(-1, self.n_cls, -1, -1)
        return torch.cat([prefix, ctx, suffix], dim=2)

    def forward(self) -> torch.Tensor:
        return self.assemble(self.ctx)
