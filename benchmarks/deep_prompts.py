"""Training steps of IVLP / MaPLe / PromptSRC: vlprompt's paths against the official computation in one run.

    python benchmarks/bench_train.py --arch ViT-B/16 --classes 100 --method ivlp --steps 2

Official hyper-parameters (capped at the backbone's number of blocks): IVLP 2+2 context tokens at depth 12/12,
MaPLe 2 tokens at depth 9, PromptSRC 4+4 at depth 9/9; batch 4 (the official configs').

- plain = the official computation: every class prompt at 77 tokens through every text block with the deep
  prompts replaced; the image through open_clip's own ViT forward with the prompts inserted by hooks;
  PromptSRC's frozen image features from a separate frozen visual tower (the official ``ZS_image_encoder``).
- fast = vlprompt: text prompts cut after their EOT, the class-independent prefix (start token, context and the
  fixed words after it, deep prompts included) encoded once; the prompted ViT driven block by block; PromptSRC's
  frozen features from the same encoder weights with the patch embedding shared (no second tower).

Both paths compute the same loss (PromptSRC: the full objective) and the same gradients; the image encoder runs
with gradients in both (its prompts train), which is the floor of a step. The paths' steps alternate, so a
shared machine's changing load affects both alike. Peak memory on a CPU is the process's peak RSS so far.
"""
from __future__ import annotations

import copy
import statistics

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
    text_tokens,
)

DEEP_METHODS = ("ivlp", "maple", "promptsrc")
OFFICIAL = {"ivlp": (2, 2, 12, 12), "maple": (2, 2, 9, 9), "promptsrc": (4, 4, 9, 9)}  # n text, n vision, depths


def build_deep_model(args, device):
    from vlprompt.clip import IMAGENET_TEMPLATES, encode_class_prompts, vision
    from vlprompt.trainers.ivlp import DeepPromptCLIP
    from vlprompt.trainers.maple import MaPLeCLIP, MaPLePromptLearner
    from vlprompt.trainers.promptsrc import PromptSRCCLIP

    torch.manual_seed(args.seed)
    clip_model = build_random_clip(args.arch, device, args.prec)
    names = class_names(args.classes)
    n_text, n_vision, depth_text, depth_vision = OFFICIAL[args.method]
    depth_text = min(depth_text, len(clip_model.transformer.resblocks))
    depth_vision = min(depth_vision, len(vision.vit_blocks(clip_model.visual)))
    if args.method == "maple":
        depth = min(depth_text, depth_vision)
        dtype = torch.float16 if args.prec == "fp16" else torch.float32
        pl = MaPLePromptLearner(clip_model, names, n_text, "a photo of a", depth, vision.vit_width(clip_model.visual), dtype)
        model = MaPLeCLIP(clip_model, pl)
        details = f"{n_text} ctx, depth {depth}"
    else:
        cls = PromptSRCCLIP if args.method == "promptsrc" else DeepPromptCLIP
        model = cls(clip_model, names, n_text, n_vision, depth_text, depth_vision, "a photo of a")
        details = f"{n_text}+{n_vision} ctx, depth {depth_text}/{depth_vision}"
        if args.method == "promptsrc":
            with torch.no_grad():
                model.fixed_embeddings = encode_class_prompts(clip_model, names, IMAGENET_TEMPLATES[:2], average="raw")
    for name, p in model.named_parameters():
        p.requires_grad_("prompt_learner" in name or "VPT" in name)
    return model.to(device), details


def bench_deep(args) -> None:
    from vlprompt.testing.reference import reference_image_features, reference_text_features
    from vlprompt.trainers.promptsrc import SRCOutputs, srclosses

    device = torch.device(args.device)
    batch = args.batch or 4
    model, details = build_deep_model(args, device)
    pl = model.prompt_learner
    gen = torch.Generator().manual_seed(args.seed)
    size = image_size(model.image_encoder)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, args.classes, (batch,), generator=gen).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=1e-6, momentum=0.9)
    scaler = grad_scaler(device, args.prec)
    zs_tower = copy.deepcopy(model.image_encoder).requires_grad_(False) if args.method == "promptsrc" else None

    def loss_fast():
        if args.method == "promptsrc":
            out = model(images, regularize=True)
            return srclosses(out, labels, 25, 10), out.logits
        logits = model(images)
        return F.cross_entropy(logits, labels), logits

    def loss_plain():
        image = images.type(model.dtype)
        text = reference_text_features(pl, model.text_encoder, args.plain_chunk, layer_prompts=model.text_layer_prompts())
        shallow, deep = model.vision_prompts()
        feats = F.normalize(reference_image_features(model.image_encoder, image, shallow, deep), dim=-1)
        logits = model.logits(feats, text)
        if args.method != "promptsrc":
            return F.cross_entropy(logits, labels), logits
        zs_text = F.normalize(model.fixed_embeddings, dim=-1)
        with torch.no_grad():
            zs_image = F.normalize(zs_tower(image), dim=-1)
            zs_logits = model.logits(zs_image, zs_text)
        return srclosses(SRCOutputs(logits, text, feats, zs_text, zs_image, zs_logits), labels, 25, 10), logits

    def step(loss_fn):
        optim.zero_grad()
        with autocast(device, args.prec):
            loss, _ = loss_fn()
        optimizer_step(optim, loss, scaler)

    def logits_and_grad(loss_fn):
        optim.zero_grad()
        with autocast(device, args.prec):
            loss, logits = loss_fn()
            loss.backward()
        return logits.detach().float(), torch.cat([p.grad.detach().float().flatten() for p in params])

    model.train()
    l_fast, g_fast = logits_and_grad(loss_fast)
    if not args.skip_plain:
        l_plain, g_plain = logits_and_grad(loss_plain)
    rows = []
    paths = [("fast", loss_fast, False)] + ([] if args.skip_plain else [("plain", loss_plain, True)])
    # The paths' steps alternate (fast, plain, fast, ...), so a machine whose load drifts (a shared CPU) slows
    # both alike; each path's time is the median of its steps.
    times = {name: [] for name, _, _ in paths}
    peaks = {}
    for i in range(args.warmup + args.steps):
        for name, fn, _ in paths:
            reset_peak(device)
            t = median_time(lambda: step(fn), 0, 1, device)
            peaks[name] = max(peaks.get(name, 0.0), peak_memory_mb(device))
            if i >= args.warmup:
                times[name].append(t)
    for name, _, plain in paths:
        t = statistics.median(times[name])
        rows.append({"path": name, "method": args.method, "classes": args.classes, "batch": batch,
                     "ms/step": 1000 * t, "images/s": batch / t, "text tokens/step": text_tokens(pl, 1, plain),
                     "peak MB": peaks[name]})
    if not args.skip_plain:
        rows[0].update({"speed-up": rows[1]["ms/step"] / rows[0]["ms/step"],
                        "max rel diff logits": max_rel_diff(l_fast, l_plain), "max rel diff grad": max_rel_diff(g_fast, g_plain)})
    meta = {"device": device_name(device), "arch": args.arch, "prec": args.prec, "prompts": details,
            "plain_chunk": args.plain_chunk, "steps": args.steps, "warmup": args.warmup, "torch": torch.__version__}
    print_and_save(rows, meta, args.json)
