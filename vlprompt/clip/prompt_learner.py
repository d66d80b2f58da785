"""Learnable context vectors, prompt assembly and the encoding plan, shared by CoOp, CoCoOp and successors.

Prompt text per class = "<context words> <class name>." tokenised to the context length (77), or a
method's own prompt template (``prompt_template``, e.g. TCP's "X X X X {}, a type of pet."), whose
first M tokens after the start token are the context positions. The embeddings of the start token and
of everything after the context are fixed buffers (``token_prefix``, ``token_suffix``); the context
``ctx`` is learned and inserted at the end, middle or front layout. State-dict keys are the
reference's (``ctx``, ``token_prefix``, ``token_suffix``) so released checkpoints load.

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


def plan_from_eot(eot_indices: torch.Tensor, context_length: int, shared_len: int = 0,
                  truncate: bool = True) -> EncodingPlan:
    """The :class:`EncodingPlan` of prompts whose EOT positions are ``eot_indices`` (n_cls,).

    ``truncate``: each prompt is encoded up to its own EOT (classes grouped by length); otherwise every
    prompt at ``context_length``. ``shared_len``: leading positions identical for every prompt (0: none).
    """
    groups = None
    if truncate:
        by_length: dict = {}
        for i, e in enumerate(eot_indices.tolist()):  # computed once per plan: no device sync per step
            by_length.setdefault(e + 1, []).append(i)
        device = eot_indices.device
        groups = tuple((length, torch.tensor(idx, device=device)) for length, idx in sorted(by_length.items()))
    seq_len = int(eot_indices.max()) + 1 if truncate else context_length
    return EncodingPlan(eot_indices, seq_len, shared_len, groups)


def common_prefix_length(tokenized: torch.Tensor, eot_indices: Optional[torch.Tensor] = None) -> int:
    """Leading token positions identical in every row of ``tokenized`` (n, L), at most the first EOT
    position (so every prompt keeps at least its EOT token outside the shared prefix). ``eot_indices``:
    the pooled positions (default: CLIP's, the argmax token)."""
    same = (tokenized == tokenized[:1]).all(dim=0)
    n = int(same.long().cumprod(0).sum())
    eot = tokenized.argmax(dim=-1) if eot_indices is None else eot_indices
    return min(n, int(eot.min()))


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
    if ctx_init == "True":
        # A YAML's boolean CTX_INIT True (KgCoOp / ProGrad / TCP configs) means "the method's own init";
        # those methods resolve it before they get here (vlprompt.config.bool_as_string).
        raise ValueError('CTX_INIT True selects the initialisation of the method that defines it (KgCoOp, ProGrad, '
                         'TCP); this method reads CTX_INIT as the words to start from, e.g. "a photo of a", or "" '
                         "for a random context")
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


def init_leading_context(clip_model: nn.Module, n_ctx: int, ctx_init: str, dtype: torch.dtype,
                         max_init_tokens: int = 4, log=print) -> Tuple[torch.Tensor, str]:
    """Initial context as IVLP / MaPLe / PromptSRC make it (multimodal-prompt-learning's rule).

    With words (``ctx_init``, "_" read as a space) and ``n_ctx <= max_init_tokens``: the context is the
    token embeddings of the *first* ``n_ctx`` tokens of ``ctx_init``, and the prompt text keeps the whole
    string, so with "a photo of a" and ``n_ctx`` 2, "a photo" is learned and "of a" stays fixed in front of
    the class name. Otherwise (no words, or more tokens than ``max_init_tokens``): Gaussian (std 0.02),
    unified (M, D), written as "X X ... X" (``n_ctx`` is never overridden, unlike :func:`init_context`).
    """
    tower = text_tower(clip_model)
    ctx_dim = tower.width
    if n_ctx < 1:
        raise ValueError(f"The number of text context tokens must be >= 1, got {n_ctx}")
    if ctx_init and n_ctx <= max_init_tokens:
        ctx_init = ctx_init.replace("_", " ")
        n_words = len(tower.tokenizer.words(ctx_init))
        if n_words < n_ctx:
            # The official code would take end-of-text / padding embeddings as context and drop the first
            # tokens of every class name from the prompt.
            raise ValueError(f'CTX_INIT "{ctx_init}" has {n_words} tokens, fewer than the {n_ctx} context tokens '
                             "asked for: give a longer CTX_INIT or fewer context tokens")
        weight = tower.token_embedding.weight
        with torch.no_grad():
            embedding = tower.token_embedding(tower.tokenize(ctx_init).to(weight.device))
        return embedding[0, tower.lead:tower.lead + n_ctx, :].to(dtype).clone().cpu(), ctx_init
    log("Initializing a generic context")
    ctx_vectors = torch.empty(n_ctx, ctx_dim, dtype=dtype)
    nn.init.normal_(ctx_vectors, std=0.02)
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

    Methods with their own initialisation or prompt text pass ``context`` = (initial vectors (M, D), the
    words standing for them) instead of ``n_ctx`` / ``ctx_init`` / ``csc`` (e.g. from
    :func:`init_leading_context`), and/or ``prompt_template``: the
    whole prompt with "{}" for the class name, whose first M tokens after the start token are replaced by
    the context (class token at the end only). Default: "<context words> {}.".
    """

    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], n_ctx: int = 16, ctx_init: str = "",
                 csc: bool = False, class_token_position: str = "end", dtype: torch.dtype = None,
                 verbose: bool = True, fast: bool = True, context: Optional[Tuple[torch.Tensor, str]] = None,
                 prompt_template: Optional[str] = None):
        super().__init__()
        if class_token_position not in CLASS_TOKEN_POSITIONS:
            raise ValueError(f'CLASS_TOKEN_POSITION must be one of {CLASS_TOKEN_POSITIONS}, got "{class_token_position}"')
        if prompt_template is not None and class_token_position != "end":
            raise ValueError(f'A prompt template places the class name itself: CLASS_TOKEN_POSITION must be "end", '
                             f'got "{class_token_position}"')
        n_cls = len(classnames)
        if n_cls == 0:
            raise ValueError("PromptLearner needs at least one class name")
        tower = text_tower(clip_model)
        dtype = dtype or tower.token_embedding.weight.dtype
        context_length = tower.context_length
        lead = tower.lead
        log = print if verbose else (lambda *a, **k: None)

        if context is None:
            ctx_vectors, prompt_prefix = init_context(clip_model, n_ctx, ctx_init, n_cls, csc, dtype, log)
        else:
            ctx_vectors, prompt_prefix = context[0].to(dtype).clone().cpu(), context[1]
        n_ctx = ctx_vectors.shape[-2]
        log(f'Initial context: "{prompt_prefix}"')
        log(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)
        if context is None:
            _check_one_token_per_word(tower, prompt_prefix, n_ctx)

        classnames = [name.replace("_", " ") for name in classnames]
        if isinstance(tower.tokenizer, CLIPBPETokenizer):
            self.name_lens = [len(encode_text_tokens(name)) for name in classnames]
        else:  # the name's tokens where it stands in the prompt (SentencePiece marks word starts)
            words = tower.tokenizer.words
            self.name_lens = [len(words(prompt_prefix + " " + name)) - n_ctx for name in classnames]
        if prompt_template is None:
            prompts = [prompt_prefix + " " + name + "." for name in classnames]
        else:
            if "{}" not in prompt_template:
                raise ValueError(f'A prompt template needs a "{{}}" where the class name goes, got "{prompt_template}"')
            prompts = [prompt_template.format(name) for name in classnames]
        for p in prompts:  # the pooled (EOT) token must fit: never a silently truncated prompt
            n = tower.tokenizer.length(p)
            if n > context_length:
                raise ValueError(
                    f'The prompt "{p}" is {n} tokens, more than the context length of this text encoder '
                    f"({context_length} tokens): its end-of-text token, which is read out, would be cut off. Use "
                    f"fewer context tokens (N_CTX, now {n_ctx}) or a shorter class name."
                )
        tokenized = torch.cat([tower.tokenize(p) for p in prompts])
        eot_indices = tower.pooled_positions(tokenized)
        if int(eot_indices.min()) < lead + n_ctx:
            raise ValueError(f'The prompt "{prompts[0]}" has fewer than {n_ctx} tokens before its end: no room for '
                             f"the {n_ctx} context vectors")
        with torch.no_grad():
            weight = tower.token_embedding.weight
            embedding = tower.token_embedding(tokenized.to(weight.device)).type(dtype).cpu()
        # Buffers are saved (as the reference) but dropped on load, so checkpoints transfer across classes.
        self.register_buffer("token_prefix", embedding[:, :lead, :].clone())
        self.register_buffer("token_suffix", embedding[:, lead + n_ctx:, :].clone())
        self.register_buffer("eot_indices", eot_indices, persistent=False)
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
        key = (truncate, shared_prefix, str(self.eot_indices.device))
        if (truncate or shared_prefix) and not self.exact_fast_paths:
            raise ValueError("EOT truncation and the shared prefix are not exact for this text tower (bidirectional "
                             "attention or last-position pooling): only make_plan(False, False) is valid")
        if key not in self._plans:
            self._plans[key] = plan_from_eot(self.eot_indices, self.context_length,
                                             self._shared_len() if shared_prefix else 0, truncate)
        return self._plans[key]

    @property
    def plan(self) -> EncodingPlan:
        """The plan this learner was built for: fast (exact fast paths) or reference."""
        return self.make_plan(self.fast, self.fast)

    def _shared_len(self) -> int:
        if self.csc or self.class_token_position == "front":
            return self.lead  # only the start token is common to all classes
        if self.class_token_position == "middle":
            return self.lead + self.n_ctx // 2
        # End layout: [SOT][ctx], then any fixed tokens every class prompt has next (a template's words
        # before the class name, the "of a" after 2 learned tokens of "a photo of a"); same ids, same
        # embeddings. Every EOT stays after the shared part.
        return max(self.lead + self.n_ctx, common_prefix_length(self.tokenized_prompts, self.eot_indices))

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


class FixedPrompts(nn.Module):
    """Hand-written class prompts (one template, no learnable token) as token embeddings, with their plan.

    For methods that adapt the text *encoder* rather than its input (e.g. low-rank adapters in its
    attention, CLIP-LoRA): the prompts are fixed, so their embeddings are computed once, and the plan
    shares the leading tokens every prompt has in common (start token + the template's words before the
    class name, e.g. "a photo of a") and cuts each prompt after its EOT. ``fast`` as for
    :class:`PromptLearner` (``MODEL.TEXT_ENCODING``).
    """

    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], template: str, fast: bool = True):
        super().__init__()
        from .prompts import class_prompts

        self.prompts = class_prompts(template, classnames)
        tower = text_tower(clip_model)
        self.context_length = tower.context_length
        tokenized = tower.tokenize(self.prompts)
        weight = tower.token_embedding.weight
        with torch.no_grad():
            embedding = tower.token_embedding(tokenized.to(weight.device)).cpu()
        # Rebuilt from the class names: not saved (nothing here is learned).
        self.register_buffer("token_embeddings", embedding, persistent=False)
        self.register_buffer("eot_indices", tower.pooled_positions(tokenized), persistent=False)
        self.tokenized_prompts = tokenized
        self.shared_len = common_prefix_length(tokenized, self.eot_indices)
        # The fast paths are exact on causal towers with EOT pooling only (vlprompt.clip.towers).
        self.fast = fast and tower.fast_paths_exact
        self._plans = {}

    def make_plan(self, truncate: bool = True, shared_prefix: bool = True) -> EncodingPlan:
        key = (truncate, shared_prefix, str(self.eot_indices.device))
        if key not in self._plans:
            self._plans[key] = plan_from_eot(self.eot_indices, self.context_length,
                                             self.shared_len if shared_prefix else 0, truncate)
        return self._plans[key]

    @property
    def plan(self) -> EncodingPlan:
        """Fast (EOT truncation + shared prefix) or reference (77 tokens, nothing shared), per ``fast``."""
        return self.make_plan(self.fast, self.fast)

    def forward(self, plan: Optional[EncodingPlan] = None) -> torch.Tensor:
        """Prompt embeddings (n_cls, L, D) up to the plan's length."""
        plan = plan or self.plan
        return self.token_embeddings[:, :plan.seq_len]
