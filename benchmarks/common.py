"""Shared pieces of the benchmarks: random-weight CLIP in real shapes, models, timing, tables, JSON."""
from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from typing import Callable, List

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ARCHS = {"ViT-B/16": "ViT-B-16", "ViT-B/32": "ViT-B-32", "RN50": "RN50", "RN101": "RN101", "tiny": None}


def build_random_clip(arch: str, device: torch.device, prec: str) -> torch.nn.Module:
    """CLIP with random weights in the real architecture's shapes (timings do not depend on values)."""
    import open_clip

    if arch not in ARCHS and open_clip.get_model_config(arch) is None:
        raise SystemExit(f"--arch must be one of {list(ARCHS)} or an open_clip architecture")
    if arch not in ARCHS:  # any open_clip family (vlprompt/clip/towers.py), its own activation
        model = _random_open_clip(arch)
    elif arch == "tiny":
        from vlprompt.clip.tiny import build_tiny_clip

        model = build_tiny_clip()
    else:
        model = open_clip.create_model(ARCHS[arch], pretrained=None, force_quick_gelu=True)
    model = model.float().eval().to(device)
    if prec == "fp16":
        from vlprompt.clip.loader import to_openai_precision

        to_openai_precision(model)  # OpenAI's layout: conv/linear/attention in fp16
    return model


def _random_open_clip(arch: str) -> torch.nn.Module:
    """A random-weight open_clip model; a Hugging Face tokenizer (SigLIP) is a small stand-in tokenizer.json."""
    import tempfile

    import open_clip

    from vlprompt.clip.loader import open_clip_config
    from vlprompt.testing.backbones import write_tokenizer

    model = open_clip.create_model(arch, pretrained=None)
    text_cfg = open_clip_config(arch)["model_cfg"]["text_cfg"]
    if text_cfg.get("hf_tokenizer_name"):
        from vlprompt.clip.towers import HFJsonTokenizer

        names = " ".join(class_names(1000)).replace(",", " ").replace("'", " ").split()
        path = write_tokenizer(tempfile.mkdtemp(), "sentencepiece", words=["x", *sorted(set(names))])
        clean = (text_cfg.get("tokenizer_kwargs") or {}).get("clean", "whitespace")
        model.text_tokenizer = HFJsonTokenizer(path, clean=clean)
    return model


def class_names(n: int) -> List[str]:
    """Real ImageNet class names (realistic token counts), cycled with a suffix beyond 1,000."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    names = list(IMAGENET_CLASSNAMES)
    return [names[i % len(names)] + ("" if i < len(names) else f" {i // len(names)}") for i in range(n)]


def image_size(visual) -> int:
    size = visual.image_size
    return size[0] if isinstance(size, (tuple, list)) else size


def autocast(device: torch.device, prec: str):
    import contextlib

    if prec == "amp":
        return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
    if prec == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, prec: str):
    """A grad scaler for fp16 autocast on CUDA (as the trainers use); None otherwise."""
    return torch.amp.GradScaler("cuda") if prec == "amp" and device.type == "cuda" else None


def optimizer_step(optim, loss: torch.Tensor, scaler=None) -> None:
    """Backward and optimiser step, through ``scaler`` when there is one."""
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
    else:
        loss.backward()
        optim.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_time(fn: Callable[[], None], warmup: int, steps: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: max allocated since the last reset. CPU: the process's peak RSS so far (paths run fast
    first, so the plain path's figure includes the fast path's peak)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (relative to the reference's scale)."""
    a, b = a.detach().float(), b.detach().float()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def print_and_save(rows: List[dict], meta: dict, json_path: str) -> None:
    from tabulate import tabulate

    print(f"device: {meta['device']}  arch: {meta['arch']}  precision: {meta['prec']}")
    print(tabulate(rows, headers="keys", floatfmt=".4g"))
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
        print(f"Saved {json_path}")


def common_args(parser) -> None:
    parser.add_argument("--arch", default="ViT-B/16",
                        help=f"one of {list(ARCHS)} or an open_clip architecture, e.g. EVA02-B-16 (random weights)")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=None, help="images per step (default: 32 CoOp, 1 CoCoOp)")
    parser.add_argument("--prec", default="fp32", choices=["fp32", "fp16", "amp", "bf16"])
    parser.add_argument("--n-ctx", type=int, default=16)
    parser.add_argument("--position", default="end", choices=["end", "middle", "front"])
    parser.add_argument("--csc", action="store_true")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--text-chunk", type=int, default=4096, help="CoCoOp prompts per text-encoder call")
    parser.add_argument("--json", default="", help="write the results here")
    parser.add_argument("--seed", type=int, default=0)


def build_models(args, device):
    """(clip, CoOp or CoCoOp model) on ``device`` in the requested precision."""
    from vlprompt.clip import PromptLearner, clip_embed_dim
    from vlprompt.trainers.cocoop import CoCoOpCLIP, CoCoOpPromptLearner
    from vlprompt.trainers.coop import CoOpCLIP

    torch.manual_seed(args.seed)
    clip_model = build_random_clip(args.arch, device, args.prec)
    names = class_names(args.classes)
    dtype = torch.float16 if args.prec == "fp16" else torch.float32
    if args.method == "cocoop":
        pl = CoCoOpPromptLearner(clip_model, names, n_ctx=args.n_ctx, ctx_init="", vis_dim=clip_embed_dim(clip_model),
                                 dtype=dtype)
        model = CoCoOpCLIP(clip_model, pl, args.text_chunk)
    else:
        pl = PromptLearner(clip_model, names, n_ctx=args.n_ctx, csc=args.csc, class_token_position=args.position,
                           dtype=dtype, verbose=False)
        model = CoOpCLIP(clip_model, pl)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("prompt_learner."))
    return model.to(device)


def text_tokens(pl, groups: int, plain: bool) -> int:
    """Token positions the text transformer processes per forward."""
    n = pl.n_cls
    if plain or pl.plan.is_reference:
        return groups * n * pl.context_length
    plan = pl.plan
    shared = plan.shared_len
    lengths = [length for length, idx in plan.length_groups for _ in range(len(idx))]
    calls = len(plan.length_groups) if shared else 0  # the prefix is encoded once per length group
    return groups * (calls * shared + sum(length - shared for length in lengths))
