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
"""
from __future__ import annotations

import os
import socket
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


def load_clip(name: str, path: str = "", cache_dir: str = "~/.cache/clip", pretrained_tag: str = "") -> nn.Module:
    """Return CLIP (on the CPU, OpenAI precision layout, eval mode) for a config backbone name.

    ``name``: an OpenAI name used by the original configs (``RN50``, ``ViT-B/16``, ...), or any
    open_clip architecture (then ``pretrained_tag`` or ``path`` gives the weights).
    """
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise CLIPWeightsNotFoundError(f'MODEL.BACKBONE.PATH "{path}" does not exist')
        if name in OPENAI_MODELS or name in BUILTIN_MODELS or name == "":
            return build_from_openai_file(path)
        if path.endswith((".npz", ".npy")):  # big_vision weights, no pickle: open_clip reads these
            return _create_open_clip(name, path)
        # Read (safely) here first; open_clip then reads an intact, allowed file with weights_only=True.
        state_dict = _read_state_dict(path)
        if is_openai_state_dict(state_dict):
            return build_from_openai_state_dict(state_dict, path)
        return _create_open_clip(name, path)

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
    if not pretrained_tag:
        raise ValueError(
            f'Unknown CLIP backbone "{name}". Use one of {list(OPENAI_MODELS)} (OpenAI weights), '
            f"{list(BUILTIN_MODELS)} (built in), or an "
            "open_clip architecture with MODEL.BACKBONE.PRETRAINED_TAG (e.g. ViT-B-32 + laion2b_s34b_b79k) "
            "or MODEL.BACKBONE.PATH."
        )
    return _create_open_clip(name, pretrained_tag, cache_dir=cache_dir)


def _create_open_clip(name: str, pretrained: str, cache_dir: Optional[str] = None) -> nn.Module:
    import open_clip
    from open_clip.model import convert_weights_to_lp

    try:
        model = open_clip.create_model(name, pretrained=pretrained, cache_dir=cache_dir)
    except Exception as e:
        raise CLIPWeightsNotFoundError(
            f'open_clip could not build "{name}" with pretrained="{pretrained}" ({type(e).__name__}: {e}). '
            f"Known architectures: {open_clip.list_models()[:20]}..."
        ) from None
    convert_weights_to_lp(model)  # same precision layout as OpenAI's models
    return model.eval()


def clip_dtype(clip_model: nn.Module) -> torch.dtype:
    """The model's compute dtype (OpenAI: dtype of the first conv of the image encoder)."""
    visual = clip_model.visual
    conv = getattr(visual, "conv1", None)
    if conv is not None:
        return conv.weight.dtype
    return next(p.dtype for p in visual.parameters() if p.is_floating_point())


def build_clip_from_cfg(cfg) -> nn.Module:
    """``load_clip`` with the backbone keys of a config; prints which weights are used."""
    bb = cfg.MODEL.BACKBONE
    print(f"Loading CLIP (backbone: {bb.NAME})")
    return load_clip(bb.NAME, path=bb.PATH, cache_dir=bb.CACHE_DIR, pretrained_tag=bb.PRETRAINED_TAG)
