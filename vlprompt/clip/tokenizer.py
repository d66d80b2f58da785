"""CLIP's byte-level BPE tokenizer (open_clip's copy of OpenAI's), with the reference's strictness."""
from __future__ import annotations

from functools import lru_cache
from typing import List, Sequence, Union

import torch


@lru_cache(maxsize=1)
def get_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def encode_text_tokens(text: str) -> List[int]:
    """BPE ids of ``text`` alone (no start/end tokens); text is cleaned and lower-cased."""
    return get_tokenizer().encode(text)


def decode_tokens(ids: Sequence[int]) -> str:
    return get_tokenizer().decode(list(ids))


def tokenize(texts: Union[str, Sequence[str]], context_length: int = 77) -> torch.Tensor:
    """[SOT] + BPE + [EOT], zero-padded to ``context_length``; too long raises (no silent truncation)."""
    tok = get_tokenizer()
    if isinstance(texts, str):
        texts = [texts]
    sot, eot = tok.encoder["<start_of_text>"], tok.encoder["<end_of_text>"]
    result = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [sot] + tok.encode(text) + [eot]
        if len(ids) > context_length:
            raise RuntimeError(
                f"Input {text!r} is too long for context length {context_length} ({len(ids)} tokens)"
            )
        result[i, : len(ids)] = torch.tensor(ids)
    return result
