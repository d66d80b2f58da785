"""TinyCLIP: a tiny CLIP with random weights, written in the real OpenAI formats (state dict or TorchScript).

The built-in backbone ``MODEL.BACKBONE.NAME TinyCLIP`` (see :mod:`vlprompt.clip.loader`) and the tests
use it to exercise the real loading path (architecture inferred from tensor shapes) without downloads.
The vocabulary is CLIP's full 49,408 tokens so the real tokenizer works.
"""
from __future__ import annotations

import argparse
import math
import os
import warnings

import torch

from vlprompt.utils.tools import atomic_torch_save

LOGIT_SCALE = 1 / 0.07  # CLIP's initial temperature; a larger scale makes SGD on random features unstable


def build_tiny_clip(arch: str = "vit", image_size: int = 32, width: int = 64, layers: int = 2,
                    embed_dim: int = 32, seed: int = 0, patch_size: int = 8):
    """An open_clip CLIP with OpenAI-style (QuickGELU) architecture and fp16 weights as OpenAI's."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, convert_weights_to_fp16

    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        if arch == "vit":
            vision = CLIPVisionCfg(layers=layers, width=width, patch_size=patch_size, image_size=image_size, head_width=32)
        elif arch == "rn":
            vision = CLIPVisionCfg(layers=(1, 1, 1, 1), width=16, image_size=image_size, head_width=32)
        else:
            raise ValueError(f'arch must be "vit" or "rn", got "{arch}"')
        text = CLIPTextCfg(context_length=77, vocab_size=49408, width=width, heads=width // 64 or 1, layers=layers)
        model = CLIP(embed_dim, vision_cfg=vision, text_cfg=text, quick_gelu=True, cast_dtype=torch.float16)
        model.logit_scale.data.fill_(math.log(LOGIT_SCALE))
    convert_weights_to_fp16(model)
    return model.eval()


def save_tiny_clip(path: str, arch: str = "vit", jit: bool = False, **kwargs) -> str:
    """Write a tiny CLIP in OpenAI key names: a plain state dict, or a TorchScript archive (``jit``)."""
    model = build_tiny_clip(arch, **kwargs)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if jit:
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        with warnings.catch_warnings():  # tracer notices about shape checks are expected here
            warnings.simplefilter("ignore")
            traced = torch.jit.trace_module(
                model.float(),
                {"encode_text": (torch.zeros(1, 77, dtype=torch.long),),
                 "encode_image": (torch.zeros(1, 3, size, size),)},
                check_trace=False,
            )
        traced.save(path)
    else:
        atomic_torch_save(model.state_dict(), path)
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", default="vit", choices=["vit", "rn"])
    p.add_argument("--jit", action="store_true")
    args = p.parse_args(argv)
    print(save_tiny_clip(args.out, arch=args.arch, jit=args.jit))


if __name__ == "__main__":
    main()
