"""Random-weight miniatures of open_clip's backbone families, built offline for tests.

Each family's model config is open_clip's own (``open_clip.get_model_config``) with the text tower shrunk
(width 64, 2 layers; context length, pooling, causal mask, projection, norm and tokenizer kept) and the
vision tower swapped for a small one of the same kind (open_clip's ViT at 32 px, or a small timm model
where the family's tower is a timm model). :func:`make_backbone_folder` writes an open_clip model folder
(``open_clip_config.json`` + ``open_clip_pytorch_model.bin`` [+ ``tokenizer.json``]) that
``MODEL.BACKBONE.NAME local-dir:<folder>`` loads. Families needing a Hugging Face tokenizer get a small
word-level ``tokenizer.json`` with the real tokenizer's special-token layout (SigLIP's SentencePiece: no
start token, ``</s>`` appended, ``<pad>`` padding; XLM-V: ``<s>`` ... ``</s>``, pad id 1, eos id 2).
"""
from __future__ import annotations

import copy
import json
import os
from typing import Dict, Iterable

import torch

# family -> (open_clip config, vision tower override, text overrides, tokenizer layout or None)
_SMALL_VIT = {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32}
FAMILIES: Dict[str, tuple] = {
    # CLIP class, causal, argmax (LAION / DataComp / DFN weights of ViT-B-16)
    "openclip": ("ViT-B-16", _SMALL_VIT, {}, None),
    "quickgelu": ("ViT-B-16-quickgelu", _SMALL_VIT, {}, None),
    # CustomTextCLIP, causal, argmax, EVA vision tower through timm
    "eva02": ("EVA02-B-16", {"image_size": 224, "timm_model_name": "eva02_tiny_patch14_224"}, {}, None),
    # CustomTextCLIP, context length 32
    "pecore": ("PE-Core-B-16", {"image_size": 160, "timm_model_name": "test_vit"}, {}, None),
    # CustomTextCLIP, bidirectional, last-position pooling, Linear projection with bias, SentencePiece
    "siglip": ("ViT-B-16-SigLIP", {"image_size": 160, "timm_model_name": "test_vit"}, {}, "sentencepiece"),
    # CLIP class, causal, eos pooling (eos id 2), XLM-V tokenizer
    "metaclip2": ("ViT-H-14-worldwide", _SMALL_VIT, {}, "xlmv"),
}

_WORDS = ("x a photo of the an . , type pet flower food aircraft texture satellite imagery "
          "faces leopards motorbikes accordion airplanes anchor yin yang crocodile head X Faces Leopards Motorbikes").split()


def family_config(family: str, vocab_size: int = 0) -> dict:
    """open_clip's model config of the family, shrunk (see the module docstring)."""
    import open_clip

    if family not in FAMILIES:
        raise ValueError(f'Unknown family "{family}"; known: {list(FAMILIES)}')
    name, vision, text, _ = FAMILIES[family]
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    cfg["embed_dim"] = 64  # = test_vit's width: SigLIP's image tower has no projection (timm_proj "none")
    if "timm_model_name" in vision:
        cfg["vision_cfg"].update(vision)
    else:
        cfg["vision_cfg"] = dict(vision)
    cfg["text_cfg"].update({"width": 64, "heads": 2, "layers": 2, **text})
    if vocab_size:
        cfg["text_cfg"]["vocab_size"] = vocab_size
    return cfg


def write_tokenizer(folder: str, layout: str, words: Iterable[str] = _WORDS) -> str:
    """A word-level tokenizer.json (``tokenizers``) with the special-token layout of a real one."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    if layout == "sentencepiece":  # SigLIP (T5-style): pad 0, eos 1, unk 2; "</s>" appended, no start token
        specials = ["<pad>", "</s>", "<unk>"]
        template, pad = "$A </s>", "<pad>"
    elif layout == "xlmv":  # XLM-R / XLM-V: <s> 0, <pad> 1, </s> 2, <unk> 3
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        template, pad = "<s> $A </s>", "<pad>"
    else:
        raise ValueError(f'layout must be "sentencepiece" or "xlmv", got "{layout}"')
    vocab = {t: i for i, t in enumerate(specials)}
    for w in words:
        vocab.setdefault("\u2581" + w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Metaspace()])
    tok.decoder = decoders.Metaspace()
    special_ids = [(t, vocab[t]) for t in specials if t in template]
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=special_ids)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tokenizer.json")
    tok.save(path)
    with open(os.path.join(folder, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"pad_token": pad, "eos_token": "</s>", "unk_token": "<unk>"}, f)
    return path


def build_family_model(family: str, seed: int = 0, vocab_size: int = 0):
    """The shrunk family model (random weights, fp32) from its config, as open_clip builds it."""
    import open_clip

    cfg = family_config(family, vocab_size)
    custom = cfg.pop("custom_text", False)
    cls = open_clip.CustomTextCLIP if custom else open_clip.CLIP
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(**cfg).eval()


def make_backbone_folder(folder: str, family: str, seed: int = 0) -> str:
    """An open_clip model folder of the family's miniature; returns ``local-dir:<folder>``."""
    from vlprompt.utils.tools import atomic_torch_save

    layout = FAMILIES[family][3]
    vocab_size = 0
    if layout:
        from tokenizers import Tokenizer

        vocab_size = Tokenizer.from_file(write_tokenizer(folder, layout)).get_vocab_size()
    cfg = family_config(family, vocab_size)
    model = build_family_model(family, seed, vocab_size)
    os.makedirs(folder, exist_ok=True)
    atomic_torch_save(model.state_dict(), os.path.join(folder, "open_clip_pytorch_model.bin"))
    size = cfg["vision_cfg"]["image_size"]
    preprocess = {"size": size, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic",
                  "resize_mode": "squash" if family in ("siglip", "pecore") else "shortest"}
    with open(os.path.join(folder, "open_clip_config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": preprocess}, f, indent=2)
    return "local-dir:" + folder
