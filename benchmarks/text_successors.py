"""Training-step benchmarks of KgCoOp, ProGrad and TCP (``bench_train.py --method kgcoop|prograd|tcp``).

Plain path = the official computation: 77-token prompts, every class encoded in full at every step;
ProGrad: a separate fp32 teacher image forward and two full backward passes; TCP: every prompt through
every block with the class-aware tokens injected. Fast path = vlprompt's trainers: EOT truncation, the
shared prefix (TCP: shared up to the injection block), ProGrad's teacher features reused from the fp32
student and both gradients pulled back in one batched pass. Both paths end with the same SGD step.
Reported as bench_train.py's rows, with the max relative difference of the loss gradients of every
learnable tensor (ProGrad: of the projected update).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from common import (
    autocast,
    build_random_clip,
    class_names,
    device_name,
    image_size,
    max_rel_diff,
    median_time,
    peak_memory_mb,
    print_and_save,
    reset_peak,
    text_tokens,
)

METHODS = ("kgcoop", "prograd", "tcp")
KG_WEIGHT = 8.0  # the released scripts' W (KgCoOp) / the hard-coded weight (TCP)


def build(args, device):
    """(model, learnable parameters) of the method, random CLIP weights in the real shapes."""
    from vlprompt.clip import PromptLearner, encode_class_prompts
    from vlprompt.trainers.kgcoop import KgCoOpCLIP
    from vlprompt.trainers.prograd import ProGradCLIP, prograd_context
    from vlprompt.trainers.tcp import TCPCLIP, TCPPromptLearner

    torch.manual_seed(args.seed)
    clip_model = build_random_clip(args.arch, device, args.prec)
    names = class_names(args.classes)
    dtype = torch.float16 if args.prec == "fp16" else torch.float32
    feats = encode_class_prompts(clip_model, names, ["a photo of a {}."]).to(dtype)
    if args.method == "kgcoop":  # the released setting: "a photo of a" (M = 4)
        model = KgCoOpCLIP(clip_model, PromptLearner(clip_model, names, ctx_init="a photo of a", dtype=dtype,
                                                     verbose=False), feats)
    elif args.method == "prograd":  # M = 16, 12 zero vectors + "a photo of a"
        pl = PromptLearner(clip_model, names, n_ctx=args.n_ctx, dtype=dtype, verbose=False,
                           context=prograd_context(clip_model, "a photo of a {}.", args.n_ctx, dtype))
        teacher_visual = copy.deepcopy(clip_model.visual).float() if dtype != torch.float32 else None
        model = ProGradCLIP(clip_model, pl, feats.float(), teacher_visual)
    else:  # TCP: M = 4 random, injection before block 8 of 12 (2/3 of the depth)
        layer = round(2 * len(clip_model.transformer.resblocks) / 3)
        pl = TCPPromptLearner(clip_model, names, 4, "", None, dtype)
        model = TCPCLIP(clip_model, pl, feats, inject_layer=layer)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("prompt_learner."))
    model = model.to(device)
    return model, [p for p in model.prompt_learner.parameters() if p.requires_grad]


def tokens_per_step(model, plain: bool) -> int:
    """Text-transformer token positions per step, averaged over the blocks (TCP shares its prefix only in
    the blocks before the injection)."""
    pl = model.prompt_learner
    if not hasattr(model, "inject_layer") or plain:
        return text_tokens(pl, 1, plain)
    n_blocks, layer = len(model.text_encoder.blocks), model.inject_layer
    unshared = sum(length for length, idx in pl.plan.length_groups for _ in range(len(idx)))
    return round((layer * text_tokens(pl, 1, False) + (n_blocks - layer) * unshared) / n_blocks)


def run(args) -> None:
    from vlprompt.testing.reference import (
        reference_kgcoop_loss,
        reference_prograd_step_grads,
        reference_tcp_text_features,
        reference_text_features,
    )
    from vlprompt.trainers.kgcoop import kg_loss
    from vlprompt.trainers.prograd import loss_gradients, prograd_losses, project_conflicting

    device = torch.device(args.device)
    batch = args.batch or 32
    model, params = build(args, device)
    pl = model.prompt_learner
    gen = torch.Generator().manual_seed(args.seed)
    size = image_size(model.image_encoder)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, args.classes, (batch,), generator=gen).to(device)
    optim = torch.optim.SGD(params, lr=1e-6, momentum=0.9)

    def grads_fast():
        """Gradients of the method's update (what the trainer writes into .grad)."""
        with autocast(device, args.prec):
            if args.method == "prograd":
                f = model.encode_image(images)
                text = model.text_features()
                reuse = args.prec == "fp32"  # the teacher's image features are the fp32 student's
                xe, kl = prograd_losses(model.logits(f, text), model.teacher_logits(images, f if reuse else None),
                                        labels, 1.0)
                pairs = loss_gradients(xe, kl, text, params)
                return model.logits(f, text.detach()).detach(), [project_conflicting(a, b, 1.0) for a, b in pairs]
            logits, text = model.forward_train(images)
            loss = F.cross_entropy(logits.float(), labels) + KG_WEIGHT * kg_loss(text, model.clip_text_features)
        return logits.detach(), torch.autograd.grad(loss, params)

    def grads_plain():
        with autocast(device, args.prec):
            if args.method == "prograd":
                out = reference_prograd_step_grads(model, images, labels, 1.0, 1.0)
                with torch.no_grad():
                    text = reference_text_features(pl, model.text_encoder)
                return model.logits(model.encode_image(images), text).detach(), out
            text = reference_tcp_text_features(model) if args.method == "tcp" else None
            loss = reference_kgcoop_loss(model, images, labels, KG_WEIGHT, text_features=text)
            with torch.no_grad():
                text = text if text is not None else reference_text_features(pl, model.text_encoder)
                logits = model.logits(model.encode_image(images), text)
        return logits.detach(), torch.autograd.grad(loss, params)

    def step(fn):
        optim.zero_grad()
        _, grads = fn()
        for p, g in zip(params, grads):
            p.grad = g
        optim.step()

    pl.train()
    l_fast, g_fast = grads_fast()
    l_plain, g_plain = grads_plain()
    rows = []
    for name, fn, plain in (("fast", grads_fast, False), ("plain", grads_plain, True)):
        reset_peak(device)
        t = median_time(lambda: step(fn), args.warmup, args.steps, device)
        rows.append({"path": name, "method": args.method, "classes": args.classes, "batch": batch,
                     "ms/step": 1000 * t, "images/s": batch / t, "text tokens/step": tokens_per_step(model, plain),
                     "peak MB": peak_memory_mb(device)})
    rows[0].update({"speed-up": rows[1]["ms/step"] / rows[0]["ms/step"],
                    "max rel diff logits": max_rel_diff(l_fast, l_plain),
                    "max rel diff grads": max(max_rel_diff(a, b) for a, b in zip(g_fast, g_plain))})
    meta = {"device": device_name(device), "arch": args.arch, "prec": args.prec, "n_ctx": pl.n_ctx,
            "steps": args.steps, "warmup": args.warmup, "torch": torch.__version__}
    print_and_save(rows, meta, args.json)
