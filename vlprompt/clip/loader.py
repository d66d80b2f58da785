"""Build CLIP through open_clip from OpenAI-format checkpoints (or any open_clip model + pretrained tag).

Weights are looked up, in order, at:
1. ``MODEL.BACKBONE.PATH`` - a local file: OpenAI's released TorchScript archive or a plain state
   dict in OpenAI key names (optionally under "state_dict", with or without a "module." prefix);
2. ``MODEL.BACKBONE.CACHE_DIR`` (default ``~/.cache/clip``) under OpenAI's file name
   (``RN50.pt``, ``RN101.pt``, ``ViT-B-32.pt``, ``ViT-B-16.pt``, ...), as the original code caches them;
3. open_clip's own download of the OpenAI weights into that folder, when a network exists.
The architecture is inferred from the checkpoint's tensor shapes (as OpenAI's loader does), so an
OpenAI-format checkpoint of any size loads, including tiny test ones. The model is returned as
OpenAI builds it: conv/linear/attention weights fp16, LayerNorms and embeddings fp32, eval mode.
Files are read through :mod:`vlprompt.utils.safe_load` (no code from a file runs; a truncated file's
error names the file, its size and the config key it came from).

Any other open_clip model (SigLIP, EVA-CLIP, PE-Core, MobileCLIP, DFN, MetaCLIP ...): its architecture name
with ``MODEL.BACKBONE.PRETRAINED_TAG`` or ``PATH``, or ``local-dir:<folder>``; built with the activation its
weights were trained with, carrying its tokenizer (``model.text_tokenizer``, read by
:func:`vlprompt.clip.towers.text_tower`), in OpenAI's precision layout. :func:`apply_backbone_preprocess`
takes the INPUT keys from its pretrained config (``MODEL.BACKBONE.PREPROCESS``) when the config is set up.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import warnings
from typing import Optional

import torch
import torch.nn as nn

from vlprompt.utils.safe_load import safe_load

# Config name (as in the original configs) -> (OpenAI file name, open_clip architecture name)
OPENAI_MODELS = {
    "RN50": ("RN50.pt", "RN50"),
    "RN101": ("RN101.pt", "RN101"),
    "RN50x4": ("RN50x4.pt", "RN50x4"),
    "RN50x16": ("RN50x16.pt", "RN50x16"),
    "RN50x64": ("RN50x64.pt", "RN50x64"),
    "ViT-B/32": ("ViT-B-32.pt", "ViT-B-32"),
    "ViT-B/16": ("ViT-B-16.pt", "ViT-B-16"),
    "ViT-L/14": ("ViT-L-14.pt", "ViT-L-14"),
    "ViT-L/14@336px": ("ViT-L-14-336px.pt", "ViT-L-14-336"),
}


# Built-in models that need no download: written on first use into the cache folder and then loaded
# through the same OpenAI-format file path as the real weights.
def _make_tiny_clip(path: str) -> None:
    from vlprompt.clip.tiny import save_tiny_clip

    save_tiny_clip(path, arch="vit")


def _make_mini_clip(path: str) -> None:
    # MiniCLIP: pretrained on the built-in MiniCLIP world (vlprompt/mini/, docs/miniclip.md); the packaged
    # checkpoint's SHA-256 is checked and its pruned vocabulary expanded to CLIP's 49,408 tokens.
    from vlprompt.mini.model import make_builtin

    make_builtin(path)


def _mini_clip_filename() -> str:
    from vlprompt.mini.model import builtin_filename

    return builtin_filename()  # names the packaged checkpoint's SHA-256: a new checkpoint is re-expanded


BUILTIN_MODELS = {"TinyCLIP": ("TinyCLIP.pt", _make_tiny_clip), "MiniCLIP": (_mini_clip_filename(), _make_mini_clip)}


class CLIPWeightsNotFoundError(FileNotFoundError):
    """No CLIP checkpoint could be found locally and none could be downloaded."""


# How to get an intact file again, for the truncated/corrupt-file error (vlprompt.utils.safe_load).
PATH_ORIGIN = "MODEL.BACKBONE.PATH"
PATH_REMEDY = "Copy the file again from a complete source (or delete it and download it again)."


def _read_state_dict(path: str, origin: str = PATH_ORIGIN, remedy: str = PATH_REMEDY) -> dict:
    """A CLIP state dict from OpenAI's TorchScript archive or a plain ``torch.save`` file, read safely."""
    loaded = safe_load(path, what="CLIP weights", origin=origin, remedy=remedy, allow_torchscript=True)
    state_dict = loaded.state_dict() if isinstance(loaded, torch.jit.ScriptModule) else loaded
    if isinstance(state_dict, dict) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    if not isinstance(state_dict, dict):
        raise ValueError(f'"{path}" does not contain a CLIP state dict (got {type(state_dict).__name__})')
    # Drop non-weight entries some archives carry (attention masks are rebuilt by the model).
    return {(k[7:] if k.startswith("module.") else k): v for k, v in state_dict.items() if not k.endswith("attn_mask")}


def is_openai_state_dict(state_dict: dict) -> bool:
    return "text_projection" in state_dict and "token_embedding.weight" in state_dict and (
        "visual.proj" in state_dict or "visual.attnpool.positional_embedding" in state_dict
    )


def build_from_openai_state_dict(state_dict: dict, source: str) -> nn.Module:
    """Rebuild CLIP from an OpenAI-format state dict (architecture read off tensor shapes)."""
    from open_clip.model import build_model_from_openai_state_dict

    if not is_openai_state_dict(state_dict):
        raise ValueError(
            f'"{source}" is not an OpenAI-format CLIP checkpoint (keys like "visual.proj" / '
            '"token_embedding.weight" are missing). For open_clip checkpoints set MODEL.BACKBONE.NAME '
            "to the open_clip architecture name."
        )
    return build_model_from_openai_state_dict(state_dict, quick_gelu=True, cast_dtype=torch.float16)


def build_from_openai_file(path: str, origin: str = PATH_ORIGIN, remedy: str = PATH_REMEDY) -> nn.Module:
    """Rebuild CLIP from an OpenAI-format checkpoint file (``origin``/``remedy``: for the corrupt-file error)."""
    return build_from_openai_state_dict(_read_state_dict(path, origin, remedy), path)


def _download_openai(arch: str, cache_dir: str) -> str:
    from open_clip.pretrained import download_pretrained_from_url, get_pretrained_url

    url = get_pretrained_url(arch, "openai")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # fail fast when offline instead of hanging
    try:
        return download_pretrained_from_url(url, cache_dir=cache_dir)
    finally:
        socket.setdefaulttimeout(old)


def load_clip(name: str, path: str = "", cache_dir: str = "~/.cache/clip", pretrained_tag: str = "",
              tokenizer: str = "") -> nn.Module:
    """Return CLIP (on the CPU, OpenAI precision layout, eval mode) for a config backbone name.

    ``name``: an OpenAI name used by the original configs (``RN50``, ``ViT-B/16``, ...), any open_clip
    architecture (then ``pretrained_tag`` or ``path`` gives the weights), or ``local-dir:<folder>`` (open_clip's
    local model folder: ``open_clip_config.json`` + weights). ``tokenizer``: a Hugging Face ``tokenizer.json``
    (or its folder) for towers that tokenise with one (SigLIP, MetaCLIP 2 worldwide).
    """
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise CLIPWeightsNotFoundError(f'MODEL.BACKBONE.PATH "{path}" does not exist')
        if name in OPENAI_MODELS or name in BUILTIN_MODELS or name == "":
            return build_from_openai_file(path)
        if not path.endswith((".npz", ".npy")):  # big_vision weights (no pickle) go to open_clip directly
            # Read (safely) here first; open_clip then reads an intact, allowed file with weights_only=True.
            # The architecture (and so its activation) is the one named: never guessed from the weights.
            _read_state_dict(path)
        return _create_open_clip(name, path, tokenizer=tokenizer, tag=pretrained_tag)

    cache_dir = os.path.expanduser(cache_dir or "~/.cache/clip")
    if name in BUILTIN_MODELS:
        filename, make = BUILTIN_MODELS[name]
        local = os.path.join(cache_dir, filename)
        if not os.path.isfile(local):
            make(local)
        return build_from_openai_file(
            local, origin=f"the cache folder MODEL.BACKBONE.CACHE_DIR, built-in {name} written as {filename}",
            remedy="Delete the file: it is written again on the next run.")
    if name in OPENAI_MODELS:
        filename, arch = OPENAI_MODELS[name]
        local = os.path.join(cache_dir, filename)
        origin = f"the cache folder MODEL.BACKBONE.CACHE_DIR, OpenAI file name {filename}"
        remedy = (f"Delete it and run again to download it again (or copy OpenAI's {filename} there again), "
                  "or point MODEL.BACKBONE.PATH at an intact copy.")
        if not os.path.isfile(local):
            try:
                local = _download_openai(arch, cache_dir)
            except Exception as e:
                raise CLIPWeightsNotFoundError(
                    f'CLIP weights for "{name}" were not found at "{local}" and could not be downloaded '
                    f"({type(e).__name__}: {e}). Copy OpenAI's {filename} to {local} (or set "
                    f"MODEL.BACKBONE.CACHE_DIR to the folder holding it), or point MODEL.BACKBONE.PATH at the file."
                ) from None
        return build_from_openai_file(local, origin=origin, remedy=remedy)
    if name.startswith(LOCAL_DIR):
        return _create_open_clip(name, "", tokenizer=tokenizer)
    if not pretrained_tag:
        raise ValueError(
            f'Unknown CLIP backbone "{name}". Use one of {list(OPENAI_MODELS)} (OpenAI weights), '
            f"{list(BUILTIN_MODELS)} (built in), or an "
            "open_clip architecture with MODEL.BACKBONE.PRETRAINED_TAG (e.g. ViT-B-32 + laion2b_s34b_b79k) "
            "or MODEL.BACKBONE.PATH (or local-dir:<open_clip model folder>)."
        )
    return _create_open_clip(name, pretrained_tag, cache_dir=cache_dir, tokenizer=tokenizer)


# ---------------------------------------------------------------------------------- open_clip models
LOCAL_DIR = "local-dir:"
LOCAL_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_model.bin")


def is_open_clip_name(name: str) -> bool:
    """An open_clip architecture or local folder (not an OpenAI name of the original configs, not built in)."""
    return bool(name) and name not in OPENAI_MODELS and name not in BUILTIN_MODELS


def open_clip_config(name: str) -> dict:
    """``{"model_cfg": ..., ["preprocess_cfg": ...]}`` of an open_clip architecture or ``local-dir:`` folder
    (read from open_clip's configs; no weights are read)."""
    if name.startswith(LOCAL_DIR):
        folder = os.path.expanduser(name[len(LOCAL_DIR):])
        file = os.path.join(folder, "open_clip_config.json")
        if not os.path.isfile(file):
            raise CLIPWeightsNotFoundError(
                f'MODEL.BACKBONE.NAME "{name}": no open_clip_config.json in "{folder}". An open_clip model folder holds '
                f"open_clip_config.json (model_cfg, preprocess_cfg) and the weights ({' or '.join(LOCAL_WEIGHTS)}).")
        with open(file, encoding="utf-8") as f:
            info = json.load(f)
        if "model_cfg" not in info:
            raise ValueError(f'"{file}" has no "model_cfg" entry (open_clip\'s local model config format)')
        return info
    import open_clip

    model_cfg = open_clip.get_model_config(name)
    if model_cfg is None:
        raise ValueError(
            f'Unknown CLIP backbone "{name}". Use one of {list(OPENAI_MODELS)} (OpenAI weights), {list(BUILTIN_MODELS)} '
            f"(built in), an open_clip architecture (e.g. ViT-B-16, ViT-B-16-SigLIP, EVA02-B-16, PE-Core-B-16; all: "
            "open_clip.list_models()) or local-dir:<open_clip model folder>."
        )
    return {"model_cfg": model_cfg}


def _quick_gelu_kwargs(name: str, model_cfg: dict, tag: str) -> dict:
    """QuickGELU as the weights were trained: open_clip builds the architecture's activation and only warns
    when a tag was trained with the other one (e.g. ViT-B-16 + openai/dfn2b/metaclip tags)."""
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    arch_quick = bool(model_cfg.get("quick_gelu", False))
    if not tag:
        act = "QuickGELU" if arch_quick else "GELU"
        print(f"Activation: {act}, as the architecture {name} defines it (with MODEL.BACKBONE.PATH, set "
              "MODEL.BACKBONE.PRETRAINED_TAG to the tag the file holds to build what that tag was trained with)")
        return {}
    pcfg = get_pretrained_cfg(name, tag)
    base = name[:-len("-quickgelu")] if name.endswith("-quickgelu") else ""
    if not pcfg and base and get_pretrained_cfg(base, tag) and not get_pretrained_cfg(base, tag).get("quick_gelu"):
        raise ValueError(f'{name} builds QuickGELU, but the tag "{tag}" was trained with GELU: use '
                         f'MODEL.BACKBONE.NAME {base} with this tag')
    if not pcfg:
        raise ValueError(f'Unknown pretrained tag "{tag}" for {name}: known tags {list_pretrained_tags_by_model(name)}')
    tag_quick = bool(pcfg.get("quick_gelu", False))
    if tag_quick and not arch_quick:
        print(f"Activation: QuickGELU (the weights of {name}/{tag} were trained with it)")
        return {"force_quick_gelu": True}
    if arch_quick and not tag_quick:
        base = base or name
        raise ValueError(f'{name} builds QuickGELU, but the tag "{tag}" was trained with GELU: use '
                         f'MODEL.BACKBONE.NAME {base} with this tag')
    print(f"Activation: {'QuickGELU' if arch_quick else 'GELU'} (as {name}/{tag} was trained)")
    return {}


def _tokenizer_file(name: str, hf_name: str, tokenizer: str, folder: str, cache_dir: Optional[str]) -> str:
    """tokenizer.json: MODEL.BACKBONE.TOKENIZER, the local-dir folder, or the Hugging Face cache / hub."""
    if tokenizer:
        path = os.path.expanduser(tokenizer)
        path = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
        if not os.path.isfile(path):
            raise CLIPWeightsNotFoundError(f'MODEL.BACKBONE.TOKENIZER: "{path}" does not exist (a tokenizer.json or '
                                           "the folder holding it)")
        return path
    if folder and os.path.isfile(os.path.join(folder, "tokenizer.json")):
        return os.path.join(folder, "tokenizer.json")
    try:
        from huggingface_hub import hf_hub_download

        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)  # fail fast when offline instead of hanging
        try:
            for extra in ("special_tokens_map.json", "tokenizer_config.json"):  # the pad token, when present
                with contextlib.suppress(Exception):
                    hf_hub_download(hf_name, extra)
            return hf_hub_download(hf_name, "tokenizer.json")
        finally:
            socket.setdefaulttimeout(old)
    except Exception as e:
        raise CLIPWeightsNotFoundError(
            f'{name} tokenises with the Hugging Face tokenizer "{hf_name}", which is not in the local cache and could '
            f"not be downloaded ({type(e).__name__}). Download tokenizer.json and special_tokens_map.json from "
            f"https://huggingface.co/{hf_name} into a folder and set MODEL.BACKBONE.TOKENIZER to it."
        ) from None


def open_clip_tokenizer(name: str, model_cfg: dict, tokenizer: str = "", cache_dir: Optional[str] = None):
    """The tokenizer of an open_clip model config: None for CLIP's BPE (the default of
    :func:`vlprompt.clip.towers.text_tower`), else a :class:`~vlprompt.clip.towers.HFJsonTokenizer`."""
    from .towers import HFJsonTokenizer

    text_cfg = model_cfg.get("text_cfg", {})
    if text_cfg.get("hf_model_name"):
        raise ValueError(f'{name} has a Hugging Face text model ({text_cfg["hf_model_name"]}) as its text tower: prompt '
                         "learning here drives open_clip's own TextTransformer only")
    kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
    hf_name = text_cfg.get("hf_tokenizer_name")
    if not hf_name:
        if kwargs or text_cfg.get("vocab_size", 49408) != 49408:
            raise ValueError(f"{name}: a tokenizer other than CLIP's BPE without a Hugging Face tokenizer name is not "
                             "supported")
        return None
    clean = kwargs.pop("clean", "whitespace")
    if kwargs or text_cfg.get("tokenizer_mode"):
        raise ValueError(f"{name}: tokenizer options {sorted(kwargs) + ['tokenizer_mode'] * bool(text_cfg.get('tokenizer_mode'))} "
                         "are not supported")
    folder = os.path.expanduser(name[len(LOCAL_DIR):]) if name.startswith(LOCAL_DIR) else ""
    path = _tokenizer_file(name, hf_name, tokenizer, folder, cache_dir)
    tok = HFJsonTokenizer(path, clean=clean, source=name)
    print(f"Tokenizer: {tok.name} (clean: {clean})")
    return tok


def _create_open_clip(name: str, pretrained: str, cache_dir: Optional[str] = None, tokenizer: str = "",
                      tag: str = "") -> nn.Module:
    """``pretrained``: a tag or a file; ``tag``: with a file, the tag it holds (activation as trained)."""
    import open_clip

    info = open_clip_config(name)
    model_cfg = info["model_cfg"]
    text_tokenizer = open_clip_tokenizer(name, model_cfg, tokenizer, cache_dir)  # before the (slow) build
    if name.startswith(LOCAL_DIR):
        folder = os.path.expanduser(name[len(LOCAL_DIR):])
        if not any(os.path.isfile(os.path.join(folder, w)) for w in LOCAL_WEIGHTS):
            raise CLIPWeightsNotFoundError(f'"{folder}" holds no weights: put them there as {LOCAL_WEIGHTS[0]} '
                                           f"(or {LOCAL_WEIGHTS[1]})")
        kwargs, pretrained = {}, None
        print(f"Activation: {'QuickGELU' if model_cfg.get('quick_gelu') else 'GELU'} (from {folder}/open_clip_config.json)")
    else:
        is_file = os.path.isfile(os.path.expanduser(pretrained)) or pretrained.endswith((".npz", ".npy"))
        kwargs = _quick_gelu_kwargs(name, model_cfg, tag if is_file else pretrained)
    try:
        with warnings.catch_warnings():  # the QuickGELU mismatch warning is resolved above
            warnings.filterwarnings("ignore", message="QuickGELU mismatch")
            model = open_clip.create_model(name, pretrained=pretrained, cache_dir=cache_dir, **kwargs)
    except Exception as e:
        raise CLIPWeightsNotFoundError(
            f'open_clip could not build "{name}" with pretrained="{pretrained}" ({type(e).__name__}: {e}). '
            "OpenAI's released files load with their OpenAI names (e.g. ViT-B/16)."
        ) from None
    model.text_tokenizer = text_tokenizer  # read by vlprompt.clip.towers.text_tower
    to_openai_precision(model)
    return model.eval()


def to_openai_precision(model: nn.Module) -> None:
    """OpenAI's precision layout: conv / linear / attention weights and projections fp16, norms and embeddings
    fp32 (open_clip's ``convert_weights_to_lp``, which fails on a text projection that is an ``nn.Linear``:
    SigLIP). A timm vision tower goes to fp16 whole: its norms do not cast their input as open_clip's do."""
    from open_clip.model import CLIP
    from open_clip.timm_model import TimmModel
    from open_clip.transformer import Attention, TextTransformer, VisionTransformer

    def convert(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            m.half()
        if isinstance(m, (nn.MultiheadAttention, Attention)):
            for attr in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                         "bias_k", "bias_v"):
                t = getattr(m, attr, None)
                if t is not None:
                    t.data = t.data.half()
        for kind, attr in ((CLIP, "text_projection"), (TextTransformer, "text_projection"), (VisionTransformer, "proj")):
            t = getattr(m, attr, None) if isinstance(m, kind) else None
            if isinstance(t, nn.Parameter):
                t.data = t.data.half()

    model.apply(convert)
    if isinstance(getattr(model, "visual", None), TimmModel):
        model.visual.half()


def open_clip_preprocess(name: str, tag: str = ""):
    """(open_clip's final preprocessing of a model: size, mean, std, interpolation, resize_mode; where it came
    from): its defaults, the local folder's preprocess_cfg, the tag's pretrained config (without a tag: the one
    every pretrained tag of the architecture shares, if they agree), the vision tower's image size."""
    from dataclasses import asdict

    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    info = open_clip_config(name)
    pp = merge_preprocess_dict(asdict(PreprocessCfg()), info.get("preprocess_cfg", {}))
    source = name
    if tag:
        pp = merge_preprocess_dict(pp, get_pretrained_cfg(name, tag))
        source = f"{name}/{tag}"
    elif not name.startswith(LOCAL_DIR):
        keys = ("mean", "std", "interpolation", "resize_mode")
        tags = list_pretrained_tags_by_model(name)
        seen = {tuple(str(get_pretrained_cfg(name, t).get(k)) for k in keys) for t in tags}
        if len(seen) == 1:
            pp = merge_preprocess_dict(pp, get_pretrained_cfg(name, tags[0]))
            source = f"{name} (every pretrained tag: {', '.join(tags)})"
        else:
            source = f"{name} (open_clip's defaults: no PRETRAINED_TAG{', whose tags differ' if tags else ''})"
    pp["size"] = info["model_cfg"].get("vision_cfg", {}).get("image_size", pp["size"])
    return pp, source


PREPROCESS_KEYS = {"SIZE": "size", "PIXEL_MEAN": "mean", "PIXEL_STD": "std", "INTERPOLATION": "interpolation",
                   "RESIZE_MODE": "resize_mode"}
PREPROCESS_MODES = ("auto", "pretrained", "config")


def apply_backbone_preprocess(cfg, explicit: set) -> None:
    """INPUT keys of an open_clip backbone from its pretrained config (``MODEL.BACKBONE.PREPROCESS``).

    "auto": keys in ``explicit`` (set by a YAML file or a KEY VALUE option) stay, the others are taken from
    open_clip's preprocessing for the model and tag; "pretrained": every key from it; "config": none.
    OpenAI names and the built-in models keep the INPUT keys. What was taken from where is printed.
    """
    bb = cfg.MODEL.BACKBONE
    mode = bb.PREPROCESS
    if mode not in PREPROCESS_MODES:
        raise ValueError(f'MODEL.BACKBONE.PREPROCESS must be one of {PREPROCESS_MODES}, got "{mode}"')
    if mode == "config" or not is_open_clip_name(bb.NAME):
        return
    source, values = _pretrained_input_values(bb.NAME, bb.PRETRAINED_TAG)
    kept = []
    for key, value in values.items():
        if mode == "auto" and f"INPUT.{key}" in explicit:
            if _differs(cfg.INPUT[key], value):
                kept.append(f"{key} {_fmt(cfg.INPUT[key])} (the pretrained config says {_fmt(value)})")
            continue
        cfg.INPUT[key] = type(cfg.INPUT[key])(value) if isinstance(cfg.INPUT[key], (tuple, list)) else value
    if kept:
        warnings.warn(f"Preprocessing: kept as configured, unlike the pretrained config of {source}: {'; '.join(kept)}. "
                      "MODEL.BACKBONE.PREPROCESS pretrained takes every value from it.")


def _pretrained_input_values(name: str, tag: str):
    pp, source = open_clip_preprocess(name, tag)
    size = pp["size"] if isinstance(pp["size"], (tuple, list)) else (pp["size"], pp["size"])
    values = {"SIZE": tuple(size), "PIXEL_MEAN": list(pp["mean"]), "PIXEL_STD": list(pp["std"]),
              "INTERPOLATION": pp["interpolation"], "RESIZE_MODE": pp["resize_mode"]}
    from vlprompt.data.transforms import INTERPOLATION_MODES, RESIZE_MODES

    if values["INTERPOLATION"] not in INTERPOLATION_MODES or values["RESIZE_MODE"] not in RESIZE_MODES:
        raise ValueError(f"The preprocessing of {source} ({pp['interpolation']}, resize {pp['resize_mode']}) is not "
                         "supported by the data pipeline; set MODEL.BACKBONE.PREPROCESS config and the INPUT keys")
    return source, values


def describe_preprocess(cfg) -> str:
    """One log line: the INPUT preprocessing in effect for an open_clip backbone and how it compares with the
    model's pretrained config (printed inside the run, so it is in log.txt)."""
    bb = cfg.MODEL.BACKBONE
    if not is_open_clip_name(bb.NAME):
        return ""
    source, values = _pretrained_input_values(bb.NAME, bb.PRETRAINED_TAG)
    same = [f"{k} {_fmt(v)}" for k, v in values.items() if not _differs(cfg.INPUT[k], v)]
    other = [f"{k} {_fmt(cfg.INPUT[k])} (pretrained: {_fmt(v)})" for k, v in values.items() if _differs(cfg.INPUT[k], v)]
    line = f"Preprocessing (MODEL.BACKBONE.PREPROCESS {bb.PREPROCESS}): as the pretrained config of {source}: "
    line += ", ".join(same) or "nothing"
    return line + (f"; from the config instead: {', '.join(other)}" if other else "")


def _differs(a, b) -> bool:
    if isinstance(a, (tuple, list)):
        return len(a) != len(b) or any(abs(float(x) - float(y)) > 1e-9 for x, y in zip(a, b))
    return a != b


def _fmt(v) -> str:
    if isinstance(v, (tuple, list)):
        return str(tuple(x if isinstance(x, int) else round(float(x), 4) for x in v))
    return str(v)


def clip_dtype(clip_model: nn.Module) -> torch.dtype:
    """The model's compute dtype (OpenAI: dtype of the first conv of the image encoder)."""
    visual = clip_model.visual
    conv = getattr(visual, "conv1", None)
    if conv is not None:
        return conv.weight.dtype
    return next(p.dtype for p in visual.parameters() if p.is_floating_point())


def clip_embed_dim(clip_model: nn.Module) -> int:
    """Dimension of the joint image-text embedding (``visual.output_dim``; timm image towers have none: the text
    projection's output, which the image features match)."""
    dim = getattr(clip_model.visual, "output_dim", None)
    if dim:
        return dim
    from .towers import text_tower

    proj = text_tower(clip_model).text_projection
    if proj is None:
        return text_tower(clip_model).width
    return proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1]


def build_clip_from_cfg(cfg) -> nn.Module:
    """``load_clip`` with the backbone keys of a config; prints which weights are used."""
    bb = cfg.MODEL.BACKBONE
    print(f"Loading CLIP (backbone: {bb.NAME})")
    note = describe_preprocess(cfg)
    if note:
        print(note)
    return load_clip(bb.NAME, path=bb.PATH, cache_dir=bb.CACHE_DIR, pretrained_tag=bb.PRETRAINED_TAG,
                     tokenizer=bb.TOKENIZER)
