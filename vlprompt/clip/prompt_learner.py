"""Learnable context vectors, prompt assembly and the encoding plan, shared by CoOp, CoCoOp and successors.

Prompt text per class = "<context words> <class name>." tokenised to the context length (77). The
embeddings of the start token and of everything after the context are fixed buffers
(``token_prefix``, ``token_suffix``); the context ``ctx`` is learned and inserted at the end, middle or
front layout. State-dict keys are the reference's (``ctx``, ``token_prefix``, ``token_suffix``) so
released checkpoints load.

How the prompts are encoded is one explicit, immutable :class:`EncodingPlan` (see its docstring): the
learner computes the fast plan and the reference plan once at construction and uses the one it was
built for (``fast``); :meth:`PromptLearner.make_plan` gives any other combination for checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .tokenizer import encode_text_tokens
from .towers import CLIPBPETokenizer, TextTower, text_tower

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")


@dataclass(frozen=True)
class EncodingPlan:
    """How a set of class prompts is assembled and encoded; every choice here is exact.

    - ``eot_indices`` (n_cls,): position of each prompt's end-of-text token (the feature read out).
    - ``seq_len``: positions assembled per prompt. The text transformer is causal, so positions after
      a prompt's EOT cannot change its EOT feature: the fast plan stops after the last EOT of all
      classes; the reference plan keeps the full context length (77), as the original code.
    - ``shared_len``: leading positions identical for every class (start token + the unified context
      before the class name), encoded once and attended to by every class like a key/value cache;
      0 encodes every prompt in full.
    - ``length_groups``: ((length, class indices), ...): classes grouped by prompt length, each group
      encoded only up to its own EOT; None encodes every prompt at ``seq_len``.
    """

    eot_indices: torch.Tensor
    seq_len: int
    shared_len: int = 0
    length_groups: Optional[Tuple[Tuple[int, torch.Tensor], ...]] = None

    @property
    def is_reference(self) -> bool:
        return self.shared_len == 0 and self.length_groups is None

    def to(self, device) -> "EncodingPlan":
        groups = None if self.length_groups is None else tuple((n, idx.to(device)) for n, idx in self.length_groups)
        return EncodingPlan(self.eot_indices.to(device), self.seq_len, self.shared_len, groups)


def _layout_index(n_ctx: int, name_len: int, seq_len: int, position: str, lead: int = 1) -> List[int]:
    """Positions, in the 'end' layout [SOT, ctx(M), name(L), rest], that make up the given layout
    (``lead``: special tokens before the words, CLIP's SOT; 0 for tokenizers without one)."""
    sot, ctx = list(range(lead)), list(range(lead, lead + n_ctx))
    name = list(range(lead + n_ctx, lead + n_ctx + name_len))
    rest = list(range(lead + n_ctx + name_len, seq_len))
    if position == "end":
        return sot + ctx + name + rest
    if position == "middle":
        half = n_ctx // 2  # the second half is the longer one for odd M (as the reference)
        return sot + ctx[:half] + name + ctx[half:] + rest
    return sot + name + ctx + rest  # front


def init_context(clip_model: nn.Module, n_ctx: int, ctx_init: str, n_cls: int, csc: bool,
                 dtype: torch.dtype, log=print) -> Tuple[torch.Tensor, str]:
    """Initial context vectors and the words standing for them in the prompt text.

    From words (``ctx_init``, "_" read as a space): a single shared context, M = number of words
    (overrides ``n_ctx`` and ``csc``), initialised with their token embeddings. Otherwise Gaussian
    (std 0.02), unified (M, D) or class-specific (n_cls, M, D), written as "X X ... X".
    """
    tower = text_tower(clip_model)
    ctx_dim = tower.width
    if ctx_init:
        ctx_init = ctx_init.replace("_", " ")
        n_ctx = len(ctx_init.split(" "))
        _check_one_token_per_word(tower, ctx_init, n_ctx)
        weight = tower.token_embedding.weight
        with torch.no_grad():
            embedding = tower.token_embedding(tower.tokenize(ctx_init).to(weight.device))
        lead = tower.lead
        return embedding[0, lead:lead + n_ctx, :].to(dtype).clone().cpu(), ctx_init
    if csc:
        log("Initializing class-specific contexts")
        ctx_vectors = torch.empty(n_cls, n_ctx, ctx_dim, dtype=dtype)
    else:
        log("Initializing a generic context")
        ctx_vectors = torch.empty(n_ctx, ctx_dim, dtype=dtype)
    nn.init.normal_(ctx_vectors, std=0.02)  # on the CPU: the same RNG stream whatever the run's device
    return ctx_vectors, " ".join(["X"] * n_ctx)


def clip_context_length(clip_model: nn.Module) -> int:
    return text_tower(clip_model).context_length


def _check_one_token_per_word(tower: TextTower, words: str, n_ctx: int) -> None:
    """Context words stand for one context vector each. CLIP's BPE is left as the reference has it;
    other tokenizers may split a word (SentencePiece), which would misplace every later position."""
    if isinstance(tower.tokenizer, CLIPBPETokenizer):
        return
    n = len(tower.tokenizer.words(words))
    if n != n_ctx:
        raise ValueError(
            f'The context "{words}" is {n_ctx} words but {n} tokens for {tower.tokenizer.name}: each context word '
            "must be one token. Choose other context words (CTX_INIT) or a random context (CTX_INIT \"\")."
        )


class PromptLearner(nn.Module):
    """Context vectors + the fixed token embeddings of each class prompt -> prompts (n_cls, L, D).

    ``fast`` (default True) selects the fast encoding plan, False the reference plan (77 tokens per
    prompt, nothing shared): ``MODEL.TEXT_ENCODING``. Both give the same text features.
    """

    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], n_ctx: int = 16, ctx_init: str = "",
                 csc: bool = False, class_token_position: str = "end", dtype: torch.dtype = None,
                 verbose: bool = True, fast: bool = True):
        super().__init__()
        if class_token_position not in CLASS_TOKEN_POSITIONS:
            raise ValueError(f'CLASS_TOKEN_POSITION must be one of {CLASS_TOKEN_POSITIONS}, got "{class_token_position}"')
        n_cls = len(classnames)
        if n_cls == 0:
            raise ValueError("PromptLearner needs at least one class name")
        tower = text_tower(clip_model)
        dtype = dtype or tower.token_embedding.weight.dtype
        context_length = tower.context_length
        lead = tower.lead
        log = print if verbose else (lambda *a, **k: None)

        ctx_vectors, prompt_prefix = init_context(clip_model, n_ctx, ctx_init, n_cls, csc, dtype, log)
        n_ctx = ctx_vectors.shape[-2]
        log(f'Initial context: "{prompt_prefix}"')
        log(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)
        _check_one_token_per_word(tower, prompt_prefix, n_ctx)

        classnames = [name.replace("_", " ") for name in classnames]
        if isinstance(tower.tokenizer, CLIPBPETokenizer):
            self.name_lens = [len(encode_text_tokens(name)) for name in classnames]
        else:  # the name's tokens where it stands in the prompt (SentencePiece marks word starts)
            words = tower.tokenizer.words
            self.name_lens = [len(words(prompt_prefix + " " + name)) - n_ctx for name in classnames]
        prompts = [prompt_prefix + " " + name + "." for name in classnames]
        for p in prompts:  # the pooled (EOT) token must fit: never a silently truncated prompt
            n = tower.tokenizer.length(p)
            if n > context_length:
                raise ValueError(
                    f'The prompt "{p}" is {n} tokens, more than the context length of this text encoder '
                    f"({context_length} tokens): its end-of-text token, which is read out, would be cut off. Use "
                    f"fewer context tokens (N_CTX, now {n_ctx}) or a shorter class name."
                )
        tokenized = torch.cat([tower.tokenize(p) for p in prompts])
        with torch.no_grad():
            weight = tower.token_embedding.weight
            embedding = tower.token_embedding(tokenized.to(weight.device)).type(dtype).cpu()
        # Buffers are saved (as the reference) but dropped on load, so checkpoints transfer across classes.
        self.register_buffer("token_prefix", embedding[:, :lead, :].clone())
        self.register_buffer("token_suffix", embedding[:, lead + n_ctx:, :].clone())
        self.register_buffer("eot_indices", tower.pooled_positions(tokenized), persistent=False)
        self.register_buffer("layout_index", torch.tensor(
            [_layout_index(n_ctx, n, context_length, class_token_position, lead) for n in self.name_lens]
        ), persistent=False)
        # The fast paths are exact on causal towers with EOT pooling only (vlprompt.clip.towers).
        self.exact_fast_paths = tower.fast_paths_exact
        if fast and not self.exact_fast_paths:
            log(f"Text encoding: the reference plan (full {context_length} tokens, nothing shared): the fast paths "
                f"are not exact for this text tower ({'causal' if tower.causal else 'bidirectional'} attention, "
                f"{tower.pool} pooling)")
            fast = False
        self.lead = lead

        self.tokenized_prompts = tokenized
        self.classnames = classnames
        self.n_cls = n_cls
        self.n_ctx = n_ctx
        self.csc = ctx_vectors.dim() == 3
        self.class_token_position = class_token_position
        self.context_length = context_length
        self.fast = fast
        self._plans = {}  # (truncate, shared_prefix) -> EncodingPlan, per device

    # ------------------------------------------------------------------ encoding plans
    def make_plan(self, truncate: bool = True, shared_prefix: bool = True) -> EncodingPlan:
        """The plan with EOT truncation / length groups (``truncate``) and prefix sharing on or off."""
        device = self.eot_indices.device
        key = (truncate, shared_prefix, str(device))
        if (truncate or shared_prefix) and not self.exact_fast_paths:
            raise ValueError("EOT truncation and the shared prefix are not exact for this text tower (bidirectional "
                             "attention or last-position pooling): only make_plan(False, False) is valid")
        if key not in self._plans:
            eot = self.eot_indices
            groups = None
            if truncate:
                by_length: dict = {}
                for i, e in enumerate(eot.tolist()):  # computed once per plan: no device sync per step
                    by_length.setdefault(e + 1, []).append(i)
                groups = tuple((length, torch.tensor(idx, device=device)) for length, idx in sorted(by_length.items()))
            seq_len = int(eot.max()) + 1 if truncate else self.context_length
            self._plans[key] = EncodingPlan(eot, seq_len, self._shared_len() if shared_prefix else 0, groups)
        return self._plans[key]

    @property
    def plan(self) -> EncodingPlan:
        """The plan this learner was built for: fast (exact fast paths) or reference."""
        return self.make_plan(self.fast, self.fast)

    def _shared_len(self) -> int:
        if self.csc or self.class_token_position == "front":
            return self.lead  # only the start token is common to all classes
        return self.lead + (self.n_ctx if self.class_token_position == "end" else self.n_ctx // 2)

    # ------------------------------------------------------------------ assembly
    def assemble(self, ctx: torch.Tensor, plan: Optional[EncodingPlan] = None) -> torch.Tensor:
        """Prompts (n_cls, L, D) for every class from a unified (M, D) or class-specific (n_cls, M, D) ctx."""
        plan = plan or self.plan
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        length = plan.seq_len
        n_suffix = length - self.lead - self.n_ctx
        prompts = torch.cat([self.token_prefix, ctx.to(self.token_prefix.dtype), self.token_suffix[:, :n_suffix]], dim=1)
        if self.class_token_position == "end":
            return prompts
        index = self.layout_index[:, :length].unsqueeze(-1).expand(-1, -1, prompts.shape[-1])
        return torch.gather(prompts, 1, index)

    def assemble_batched(self, ctx: torch.Tensor, plan: Optional[EncodingPlan] = None) -> torch.Tensor:
        """Per-image contexts (B, M, D) -> prompts (B, n_cls, L, D) (class token at the end)."""
        plan = plan or self.plan
        b = ctx.shape[0]
        n_suffix = plan.seq_len - self.lead - self.n_ctx
        prefix = self.token_prefix.unsqueeze(0).expand(b, -1, -1, -1)
        suffix = self.token_suffix[:, :n_suffix].unsqueeze(0).expand(b, -1, -1, -1)
        ctx = ctx.to(self.token_prefix.dtype).unsqueeze(1).expand(-1, self.n_cls, -1, -1)
        return torch.cat([prefix, ctx, suffix], dim=2)

    def forward(self, plan: Optional[EncodingPlan] = None) -> torch.Tensor:
        return self.assemble(self.ctx, plan)
