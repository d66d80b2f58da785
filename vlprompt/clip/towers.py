"""Text-tower adapter: what the prompt learner and the text encoder need from any open_clip model.

open_clip keeps the text tower in two layouts: on the model itself (``CLIP``: OpenAI, LAION, DataComp,
DFN, MetaCLIP 1 and 2 ...) or under ``model.text`` (``CustomTextCLIP``: SigLIP, EVA-CLIP, PE-Core,
MobileCLIP ... whose tower is an open_clip ``TextTransformer``). :func:`text_tower` reads either into one
:class:`TextTower`: the embeddings, the blocks, the attention mask (causal or None), the final norm, the
projection (a matrix, an ``nn.Linear`` or none), the pooling rule, the context length and the tokenizer.

Its flags say which fast paths are exact. Cutting prompts after their EOT token and encoding a prefix
shared by every class once both rely on a causal mask (a position never sees what follows it) and on
pooling a token at a known position (the EOT: argmax of the ids, or the first eos id). Bidirectional
towers with last-position pooling (SigLIP, SigLIP 2, CLIPA) get the plain computation.

Tokenizers: CLIP's BPE (every tower with ``vocab_size`` 49,408 and no Hugging Face tokenizer), or a
Hugging Face ``tokenizer.json`` applied with the ``tokenizers`` package (SigLIP's SentencePiece, MetaCLIP
2's XLM-V), cleaned as open_clip cleans, padded to the context length with the tokenizer's pad token.
A model built by :mod:`vlprompt.clip.loader` carries its tokenizer as ``model.text_tokenizer``; a model
without one uses CLIP's BPE (OpenAI files, TinyCLIP, MiniCLIP).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

POOL_TYPES = ("argmax", "eos", "last", "first")


class CLIPBPETokenizer:
    """CLIP's byte-level BPE: [SOT] + BPE + [EOT], zero-padded (see :mod:`vlprompt.clip.tokenizer`)."""

    name = "CLIP BPE"

    def __init__(self):
        from .tokenizer import get_tokenizer

        enc = get_tokenizer().encoder
        self.lead = (enc["<start_of_text>"],)
        self.eot_id = enc["<end_of_text>"]
        self.pad_id = 0

    def words(self, text: str) -> List[int]:
        from .tokenizer import encode_text_tokens

        return encode_text_tokens(text)

    def length(self, text: str) -> int:
        """Tokens of ``text`` with its special tokens."""
        return len(self.words(text)) + 2

    def __call__(self, texts: Union[str, Sequence[str]], context_length: int) -> torch.Tensor:
        from .tokenizer import tokenize

        return tokenize(texts, context_length)


class HFJsonTokenizer:
    """A Hugging Face ``tokenizer.json`` (the ``tokenizers`` package), as open_clip's ``HFTokenizer`` applies
    it: text cleaned (``clean``: open_clip's "whitespace", "lower" or "canonicalize"), special tokens
    from the tokenizer's post-processor, padded with its pad token to the context length. Too long
    raises (open_clip truncates silently)."""

    def __init__(self, path: str, clean: str = "whitespace", source: str = ""):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ImportError(
                f"The text tower of {source or 'this backbone'} uses a Hugging Face tokenizer, read with the "
                '"tokenizers" package, which is not installed: pip install "tokenizers>=0.19,<1"'
            ) from None
        from open_clip.tokenizer import get_clean_fn

        self.name = f"Hugging Face tokenizer {path}"
        self.path = path
        self.tok = Tokenizer.from_file(path)
        self.tok.no_truncation()
        self.tok.no_padding()
        self.clean = get_clean_fn(clean)
        self.pad_id = self._pad_id(path)
        # Special tokens around a text: what the post-processor adds before / after the words.
        full, words = self.tok.encode("a").ids, self.tok.encode("a", add_special_tokens=False).ids
        start = next(i for i in range(len(full)) if full[i:i + len(words)] == words)
        self.lead = tuple(full[:start])
        tail = full[start + len(words):]
        self.eot_id = tail[0] if tail else None

    def _pad_id(self, path: str) -> int:
        folder = os.path.dirname(os.path.abspath(path))
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            file = os.path.join(folder, name)
            if os.path.isfile(file):
                with open(file, encoding="utf-8") as f:
                    pad = json.load(f).get("pad_token")
                if isinstance(pad, dict):
                    pad = pad.get("content")
                if pad is not None and self.tok.token_to_id(pad) is not None:
                    return self.tok.token_to_id(pad)
        with open(path, encoding="utf-8") as f:
            padding = json.load(f).get("padding") or {}
        if "pad_id" in padding:
            return int(padding["pad_id"])
        raise ValueError(
            f'The tokenizer "{path}" names no pad token (looked in special_tokens_map.json and '
            "tokenizer_config.json beside it, and in its own padding settings). Put the tokenizer's "
            "special_tokens_map.json (from the same Hugging Face repository) beside it."
        )

    def words(self, text: str) -> List[int]:
        return self.tok.encode(self.clean(text), add_special_tokens=False).ids

    def length(self, text: str) -> int:
        """Tokens of ``text`` with its special tokens."""
        return len(self.tok.encode(self.clean(text)).ids)

    def __call__(self, texts: Union[str, Sequence[str]], context_length: int) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        out = torch.full((len(texts), context_length), self.pad_id, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.tok.encode(self.clean(text)).ids
            if len(ids) > context_length:
                raise RuntimeError(f"Input {text!r} is too long for context length {context_length} ({len(ids)} tokens)")
            out[i, :len(ids)] = torch.tensor(ids)
        return out


@dataclass
class TextTower:
    """The pieces of a text tower (shared with the model: nothing is copied)."""

    token_embedding: nn.Embedding
    positional_embedding: nn.Parameter
    transformer: nn.Module  # open_clip Transformer: .resblocks, .batch_first, .get_cast_dtype()
    attn_mask: Optional[torch.Tensor]  # additive causal mask (context_length, context_length), or None
    ln_final: nn.Module
    text_projection: Union[nn.Linear, nn.Parameter, None]
    pool: str  # argmax | eos | last | first
    eos_id: Optional[int]
    tokenizer: object
    family: str

    @property
    def context_length(self) -> int:
        return self.positional_embedding.shape[0]

    @property
    def width(self) -> int:
        return self.token_embedding.weight.shape[1]

    @property
    def causal(self) -> bool:
        return self.attn_mask is not None

    @property
    def fast_paths_exact(self) -> bool:
        """EOT truncation and the shared prefix are exact: causal attention and EOT pooling."""
        return self.causal and self.pool in ("argmax", "eos")

    @property
    def lead(self) -> int:
        """Special tokens before the words (1: CLIP's start token; 0: SigLIP's SentencePiece)."""
        return len(self.tokenizer.lead)

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        return self.tokenizer(texts, self.context_length)

    def pooled_positions(self, ids: torch.Tensor) -> torch.Tensor:
        """The position each tokenised text is read out at, by the tower's pooling rule."""
        if self.pool == "argmax":
            return ids.argmax(dim=-1)
        if self.pool == "eos":
            found = ids == self.eos_id
            if not bool(found.any(dim=-1).all()):
                raise ValueError(f"A tokenised prompt has no eos token (id {self.eos_id}), which this text tower pools")
            return found.int().argmax(dim=-1)
        if self.pool == "last":
            return torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long)
        return torch.zeros(ids.shape[0], dtype=torch.long)


def text_tower(clip_model: nn.Module) -> TextTower:
    """The text tower of an open_clip model (``CLIP`` or ``CustomTextCLIP``) as a :class:`TextTower`."""
    tokenizer = getattr(clip_model, "text_tokenizer", None) or CLIPBPETokenizer()
    text = getattr(clip_model, "text", None)
    if text is None:  # CLIP: the tower's pieces live on the model itself
        if not hasattr(clip_model, "transformer") or not hasattr(clip_model, "token_embedding"):
            raise ValueError(f"{type(clip_model).__name__} has no text tower this toolbox can drive "
                             "(expected open_clip's CLIP or CustomTextCLIP)")
        pool = getattr(clip_model, "text_pool_type", "argmax")
        return TextTower(clip_model.token_embedding, clip_model.positional_embedding, clip_model.transformer,
                         clip_model.attn_mask, clip_model.ln_final, clip_model.text_projection, _check_pool(pool),
                         getattr(clip_model, "text_eos_id", None), tokenizer, "CLIP")
    from open_clip.transformer import TextTransformer

    if not isinstance(text, TextTransformer):
        raise ValueError(
            f"The text tower of this model is a {type(text).__name__} (a Hugging Face text model, e.g. RoBERTa or "
            "mT5): prompt learning here drives open_clip's TextTransformer only. Use a model whose config has no "
            "hf_model_name."
        )
    if text.cls_emb is not None:
        raise ValueError("This text tower appends a class token (CoCa): not supported for prompt learning")
    if getattr(text, "use_pad_mask", False):
        raise ValueError("This text tower masks padding tokens (use_pad_mask): not supported for prompt learning")
    return TextTower(text.token_embedding, text.positional_embedding, text.transformer, text.attn_mask, text.ln_final,
                     text.text_projection, _check_pool(text.pool_type), getattr(text, "eos_id", None), tokenizer,
                     "CustomTextCLIP")


def _check_pool(pool: str) -> str:
    if pool not in POOL_TYPES:
        raise ValueError(f'Text pooling "{pool}" is not supported for prompt learning (supported: {POOL_TYPES})')
    return pool
