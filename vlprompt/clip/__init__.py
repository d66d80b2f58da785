"""The one place that builds CLIP (through open_clip), tokenises text and encodes prompts.

Every trainer shares these: :func:`load_clip` / :func:`build_clip_from_cfg`, :func:`tokenize`,
:class:`TextEncoder`, :class:`PromptLearner` (context vectors + prompt assembly) and
:class:`PromptCLIP` (image encoder + text features -> logits).
"""
from .loader import load_clip, build_clip_from_cfg, clip_dtype, OPENAI_MODELS, CLIPWeightsNotFoundError
from .tokenizer import tokenize, encode_text_tokens, decode_tokens, get_tokenizer
from .text_encoder import TextEncoder
from .prompt_learner import PromptLearner
from .model import PromptCLIP, encode_texts

__all__ = [
    "load_clip", "build_clip_from_cfg", "clip_dtype", "OPENAI_MODELS", "CLIPWeightsNotFoundError", "tokenize",
    "encode_text_tokens", "decode_tokens", "get_tokenizer", "TextEncoder", "PromptLearner", "PromptCLIP",
    "encode_texts",
]
