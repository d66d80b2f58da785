"""The one place that builds CLIP (through open_clip), tokenises text and encodes prompts.

Every trainer shares these: :func:`load_clip` / :func:`build_clip_from_cfg`, :func:`tokenize`,
:class:`TextEncoder`, :class:`PromptLearner` (context vectors + prompt assembly + the
:class:`EncodingPlan`), :class:`FixedPrompts` (hand-written prompts with their plan), low-rank adapters
(:mod:`vlprompt.clip.lora`), :class:`PromptCLIP` (image encoder + text features -> logits), the
hand-written prompt helpers (:func:`class_prompts`, :func:`encode_class_prompts`), and for deep prompts
:mod:`vlprompt.clip.vision` (the ViT image encoder with prompt tokens) and :mod:`vlprompt.clip.layer_prompts`.
"""
from .loader import OPENAI_MODELS, CLIPWeightsNotFoundError, build_clip_from_cfg, clip_dtype, clip_embed_dim, load_clip
from .model import FixedTextCLIP, PromptCLIP
from .prompt_learner import EncodingPlan, FixedPrompts, PromptLearner, init_context, init_leading_context
from .prompts import IMAGENET_TEMPLATES, IMAGENET_TEMPLATES_SELECT, class_prompts, encode_class_prompts, encode_texts
from .text_encoder import TextEncoder
from .tokenizer import decode_tokens, encode_text_tokens, get_tokenizer, tokenize
from .towers import TextTower, text_tower

__all__ = [
    "load_clip", "build_clip_from_cfg", "clip_dtype", "clip_embed_dim", "OPENAI_MODELS", "CLIPWeightsNotFoundError",
    "tokenize", "encode_text_tokens", "decode_tokens", "get_tokenizer", "TextEncoder", "EncodingPlan", "PromptLearner",
    "FixedPrompts", "init_context", "IMAGENET_TEMPLATES_SELECT", "class_prompts", "encode_class_prompts", "encode_texts",
    "FixedTextCLIP", "PromptCLIP", "init_leading_context", "IMAGENET_TEMPLATES", "TextTower", "text_tower",
]
