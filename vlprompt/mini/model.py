"""MiniCLIP: the tiny CLIP of the MiniCLIP world, its packaged checkpoint and the built-in model.

Architecture: open_clip ``CLIP`` with OpenAI's layout (QuickGELU, ViT image tower, causal text
transformer, CLIP's BPE tokenizer), built exactly as ``open_clip.model.build_model_from_openai_state_dict``
rebuilds it from tensor shapes (heads = width // 64).

The packaged checkpoint ``vlprompt/mini/miniclip.pt`` (written by ``tools/pretrain_miniclip.py``)
keeps only the token-embedding rows of the tokens the world's captions use (the 49,408-row table
would be ~12 MB on its own). :func:`expand_state_dict` restores the full table -- rows of unused tokens
are drawn from N(0, 0.02) with a fixed generator, as an untrained embedding -- so the real tokenizer
works, and the built-in ``MiniCLIP`` (see ``vlprompt/clip/loader.py``) writes that full OpenAI-format
state dict into the CLIP cache folder on first use and loads it like any OpenAI checkpoint.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Iterable, Optional

import torch

from vlprompt.utils.safe_load import safe_load

FORMAT = "vlprompt-miniclip-v1"
VOCAB_SIZE = 49408  # CLIP's BPE vocabulary
CONFIG = {
    "embed_dim": 128,
    "image_size": 32,
    "patch_size": 8,
    "vision_width": 128,
    "vision_layers": 4,
    "context_length": 32,
    "text_width": 128,
    "text_layers": 3,
}

PACKAGED_PATH = Path(__file__).resolve().with_name("miniclip.pt")
# SHA-256 of the committed vlprompt/mini/miniclip.pt (made by the command in docs/miniclip.md).
PACKAGED_SHA256 = "ada3b4eb6d74d1b71016bd90bdeaa43d7c3dfa751c4339fb837d8f046c722176"
BUILTIN_NAME = "MiniCLIP"


class MiniCLIPChecksumError(RuntimeError):
    """The packaged MiniCLIP checkpoint is not the committed file."""


def builtin_filename() -> str:
    """Cache file name of the expanded built-in model (changes with the packaged checkpoint)."""
    return f"MiniCLIP-{PACKAGED_SHA256[:12] or 'unset'}.pt"


def build_model(vocab_size: int = VOCAB_SIZE, cast_dtype: Optional[torch.dtype] = None):
    """An fp32 open_clip CLIP with MiniCLIP's architecture (``vocab_size`` token-embedding rows)."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    c = CONFIG
    vision = CLIPVisionCfg(layers=c["vision_layers"], width=c["vision_width"], patch_size=c["patch_size"],
                           image_size=c["image_size"])  # head_width 64, as the OpenAI rebuild assumes
    text = CLIPTextCfg(context_length=c["context_length"], vocab_size=vocab_size, width=c["text_width"],
                       heads=c["text_width"] // 64, layers=c["text_layers"])
    return CLIP(c["embed_dim"], vision_cfg=vision, text_cfg=text, quick_gelu=True, cast_dtype=cast_dtype)


def vocabulary_token_ids(extra_texts: Iterable[str] = ()) -> torch.Tensor:
    """Sorted BPE ids the world's captions (and ``extra_texts``) use, with start/end-of-text."""
    from vlprompt.clip.tokenizer import get_tokenizer

    from .world import vocabulary_texts

    tok = get_tokenizer()
    ids = {tok.encoder["<start_of_text>"], tok.encoder["<end_of_text>"]}
    for text in list(vocabulary_texts()) + list(extra_texts):
        ids.update(tok.encode(text))
    return torch.tensor(sorted(ids), dtype=torch.long)


def packed_checkpoint(model, token_ids: torch.Tensor, meta: Optional[dict] = None) -> dict:
    """The packaged format: OpenAI key names (no attn_mask), fp16, pruned token embedding."""
    state = {k: v.detach().to(torch.float16) if v.is_floating_point() else v.detach()
             for k, v in model.state_dict().items() if not k.endswith("attn_mask")}
    if state["token_embedding.weight"].shape[0] != len(token_ids):
        raise ValueError("token_embedding rows must match token_ids")
    return {"format": FORMAT, "packed_state_dict": state, "token_ids": token_ids.clone(), "config": dict(CONFIG),
            "meta": dict(meta or {})}


def expand_state_dict(packed: dict) -> Dict[str, torch.Tensor]:
    """Full OpenAI-format state dict (49,408 token rows) from a packaged checkpoint."""
    if packed.get("format") != FORMAT:
        raise ValueError(f'not a packaged MiniCLIP checkpoint (format {packed.get("format")!r}, expected "{FORMAT}")')
    state = dict(packed["packed_state_dict"])
    rows = state["token_embedding.weight"]
    gen = torch.Generator().manual_seed(0)
    full = (torch.randn(VOCAB_SIZE, rows.shape[1], generator=gen) * 0.02).to(rows.dtype)
    full[packed["token_ids"]] = rows
    state["token_embedding.weight"] = full
    return state


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_packed(path, expected_sha256: Optional[str] = None) -> dict:
    """Load a packaged checkpoint; with ``expected_sha256``, refuse a file with another checksum."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'MiniCLIP checkpoint "{path}" is missing. Recreate it with '
            "`python tools/pretrain_miniclip.py --seed 0 --out vlprompt/mini/miniclip.pt` (see docs/miniclip.md)."
        )
    if expected_sha256:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise MiniCLIPChecksumError(
                f'MiniCLIP checkpoint "{path}" has SHA-256 {digest}, expected {expected_sha256}: the file is '
                "damaged or was replaced (a Git LFS pointer?). Restore the committed file; a retrained model "
                "must also update PACKAGED_SHA256 in vlprompt/mini/model.py and docs/miniclip.md."
            )
    return safe_load(path, what="MiniCLIP checkpoint", remedy="Restore the committed file (git checkout -- <file>).")


def expand_file(src, dst) -> str:
    """Write the full OpenAI-format state dict of packaged ``src`` to ``dst`` (usable as MODEL.BACKBONE.PATH)."""
    from vlprompt.utils.tools import atomic_torch_save

    atomic_torch_save(expand_state_dict(read_packed(src)), dst)
    return str(dst)


def make_builtin(path: str) -> None:
    """BUILTIN_MODELS hook: check the packaged checkpoint's SHA-256, expand it, write it to ``path``."""
    from vlprompt.utils.tools import atomic_torch_save

    packed = read_packed(PACKAGED_PATH, PACKAGED_SHA256 or None)
    atomic_torch_save(expand_state_dict(packed), path)


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="Expand a packaged MiniCLIP checkpoint into a full OpenAI-format "
                                            "state dict (for MODEL.BACKBONE.PATH).")
    p.add_argument("src")
    p.add_argument("dst")
    args = p.parse_args(argv)
    print(expand_file(args.src, args.dst))


if __name__ == "__main__":
    main()
