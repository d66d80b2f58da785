"""Training-step benchmarks of CLIP-LoRA and Tip-Adapter-F (``bench_train.py --method clip_lora|tip_adapter_f``).

CLIP-LoRA (LoRA r=2 on q, k, v of every block of both towers, AdamW):
- plain = the official computation: every class prompt "a photo of a <class>." encoded at 77 tokens by
  CLIP's own encode_text, with gradients, at every step;
- fast = vlprompt's: each prompt cut after its end-of-text token (length groups); in training with the
  LoRA dropout on (official 0.25) that is all, since every prompt's prefix then gets its own dropout draw;
  with ``--lora-dropout 0`` the shared "SOT a photo of a" prefix is also encoded once for all classes.
  The max relative differences of logits and LoRA gradients are measured with the dropout off (the only
  way both paths compute the same thing); the timings use ``--lora-dropout``.
Tip-Adapter-F (a step of the fine-tuned cache model, AdamW):
- plain = the official computation: the augmented batch is encoded by the frozen image encoder every step;
- fast = vlprompt's: the step reads the batch's features from the feature cache (extracted once).
  Differences: the cache holds exactly what the encoder computes for that view, so they measure the cache.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from common import (
    autocast,
    build_random_clip,
    class_names,
    device_name,
    grad_scaler,
    image_size,
    max_rel_diff,
    median_time,
    optimizer_step,
    peak_memory_mb,
    print_and_save,
    reset_peak,
)

METHODS = ("clip_lora", "tip_adapter_f")


def add_args(parser) -> None:
    parser.add_argument("--lora-dropout", type=float, default=0.25, help="clip_lora: LoRA dropout during the timing")
    parser.add_argument("--shots", type=int, default=16, help="tip_adapter_f: cached images per class")


def text_tokens_lora(prompts, plan) -> int:
    """Token positions the text transformer processes per step under ``plan``."""
    if plan.is_reference:
        return prompts.eot_indices.shape[0] * 77
    shared = plan.shared_len
    lengths = [length for length, idx in plan.length_groups for _ in range(len(idx))]
    return (len(plan.length_groups) * shared if shared else 0) + sum(length - shared for length in lengths)


def bench_clip_lora(args, device: torch.device) -> None:
    from vlprompt.clip.lora import apply_lora
    from vlprompt.testing.reference import reference_lora_text_features
    from vlprompt.trainers.clip_lora import LoRACLIP

    batch = args.batch or 32
    torch.manual_seed(args.seed)
    clip = build_random_clip(args.arch, device, args.prec)
    adapters = apply_lora(clip, "both", "all", ["q", "k", "v"], r=2, alpha=1.0, dropout=args.lora_dropout,
                          log=lambda *a: None).to(device)
    model = LoRACLIP(clip, class_names(args.classes), "a photo of a {}.", adapters, 100.0).to(device)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("clip_lora."))
    with torch.no_grad():  # B != 0, so that the gradients of A are compared too
        for name, p in adapters.named_parameters():
            if name.endswith("w_lora_B"):
                p.normal_(std=1e-3)
    gen = torch.Generator().manual_seed(args.seed)
    size = image_size(model.image_encoder)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, args.classes, (batch,), generator=gen).to(device)
    optim = torch.optim.AdamW(adapters.parameters(), lr=2e-4, weight_decay=1e-2)
    prompts = model.prompts
    scaler = grad_scaler(device, args.prec)

    def logits_fast():
        return model(images)

    def logits_plain():
        return model(images, text_features=reference_lora_text_features(clip, prompts.tokenized_prompts))

    def step(fn):
        optim.zero_grad()
        with autocast(device, args.prec):
            loss = F.cross_entropy(fn(), labels)
        optimizer_step(optim, loss, scaler)

    def logits_and_grads(fn):
        optim.zero_grad()
        with autocast(device, args.prec):
            logits = fn()
            F.cross_entropy(logits, labels).backward()
        return logits.detach().float(), torch.cat([p.grad.flatten() for p in adapters.parameters()]).float()

    # Exactness with the dropout off (eval mode); the timings in training mode with the requested dropout.
    adapters.eval()
    l_fast, g_fast = logits_and_grads(logits_fast)
    l_plain, g_plain = logits_and_grads(logits_plain)
    adapters.train()
    train_plan = prompts.make_plan(True, not adapters.dropout_active)
    rows = []
    for name, fn, tokens in [("fast", logits_fast, text_tokens_lora(prompts, train_plan)),
                             ("plain", logits_plain, args.classes * 77)]:
        reset_peak(device)
        t = median_time(lambda: step(fn), args.warmup, args.steps, device)
        rows.append({"path": name, "method": "clip_lora", "classes": args.classes, "batch": batch, "ms/step": 1000 * t,
                     "images/s": batch / t, "text tokens/step": tokens, "peak MB": peak_memory_mb(device)})
    rows[0].update({"speed-up": rows[1]["ms/step"] / rows[0]["ms/step"], "max rel diff logits": max_rel_diff(l_fast, l_plain),
                    "max rel diff lora grad": max_rel_diff(g_fast, g_plain)})
    meta = {"device": device_name(device), "arch": args.arch, "prec": args.prec, "lora_dropout": args.lora_dropout,
            "shared_prefix_in_training": train_plan.shared_len, "steps": args.steps, "warmup": args.warmup,
            "torch": torch.__version__}
    print_and_save(rows, meta, args.json)


def bench_tip_adapter_f(args, device: torch.device) -> None:
    from vlprompt.clip import encode_class_prompts
    from vlprompt.trainers.tip_adapter import TipAdapterCLIP, TipCache

    batch = args.batch or 256
    torch.manual_seed(args.seed)
    clip = build_random_clip(args.arch, device, args.prec)
    names = class_names(args.classes)
    gen = torch.Generator().manual_seed(args.seed)
    size = image_size(clip.visual)
    with torch.no_grad(), autocast(device, args.prec):
        text = encode_class_prompts(clip, names, ["a photo of a {}."])
    n = args.classes * args.shots
    cache = TipCache(n, clip.visual.output_dim, names)
    cache.fill(F.normalize(torch.randn(n, clip.visual.output_dim, generator=gen), dim=-1),
               torch.arange(args.classes).repeat_interleave(args.shots))
    model = TipAdapterCLIP(clip, text, cache).to(device)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("tip_adapter."))
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, args.classes, (batch,), generator=gen).to(device)
    with torch.no_grad(), autocast(device, args.prec):
        cached = model.image_encoder(images.type(model.dtype)).float()  # what the feature cache holds
    optim = torch.optim.AdamW(cache.parameters(), lr=1e-3, eps=1e-4)

    def logits_fast():
        return model.forward_features(cached)

    def logits_plain():
        with torch.no_grad(), autocast(device, args.prec):
            features = model.image_encoder(images.type(model.dtype))
        return model.forward_features(features)

    def step(fn):
        optim.zero_grad()
        F.cross_entropy(fn(), labels).backward()
        optim.step()

    def logits_and_grad(fn):
        optim.zero_grad()
        logits = fn()
        F.cross_entropy(logits, labels).backward()
        return logits.detach(), cache.cache_keys.grad.detach().clone()

    l_fast, g_fast = logits_and_grad(logits_fast)
    l_plain, g_plain = logits_and_grad(logits_plain)
    rows = []
    for name, fn in [("fast", logits_fast), ("plain", logits_plain)]:
        reset_peak(device)
        t = median_time(lambda: step(fn), args.warmup, args.steps, device)
        rows.append({"path": name, "method": "tip_adapter_f", "classes": args.classes, "cache": n, "batch": batch,
                     "ms/step": 1000 * t, "images/s": batch / t, "peak MB": peak_memory_mb(device)})
    rows[0].update({"speed-up": rows[1]["ms/step"] / rows[0]["ms/step"], "max rel diff logits": max_rel_diff(l_fast, l_plain),
                    "max rel diff keys grad": max_rel_diff(g_fast, g_plain)})
    meta = {"device": device_name(device), "arch": args.arch, "prec": args.prec, "shots": args.shots,
            "steps": args.steps, "warmup": args.warmup, "torch": torch.__version__}
    print_and_save(rows, meta, args.json)


def main(args) -> None:
    device = torch.device(args.device)
    {"clip_lora": bench_clip_lora, "tip_adapter_f": bench_tip_adapter_f}[args.method](args, device)
