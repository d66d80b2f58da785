"""Time CoOp / CoCoOp training steps: the fast paths against the plain reference path in one run.

    python benchmarks/bench_train.py --arch ViT-B/16 --classes 100 --method coop --steps 2
    python benchmarks/bench_train.py --arch ViT-B/16 --classes 100 --method cocoop --steps 2
    python benchmarks/bench_train.py --arch ViT-B/16 --classes 100 --method ivlp --steps 2   # also maple, promptsrc
    python benchmarks/bench_train.py --arch ViT-B/16 --classes 100 --method clip_lora --steps 2   # adapters.py

Plain path = the original code's computation: 77-token prompts, every class re-encoded every step,
CoCoOp one image at a time. Fast path = vlprompt's (truncation after the last EOT, shared-prefix
encoding, batched CoCoOp). A step is forward + backward + SGD step (image encoder included). Reported:
median time of ``--steps`` steps after ``--warmup``, images/s, text tokens per step, speed-up, the
max relative difference of logits and of context gradients between the paths, and peak memory.
"""
import argparse

import adapters
import text_successors
import torch
import torch.nn.functional as F
from common import (
    autocast,
    build_models,
    common_args,
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
from deep_prompts import DEEP_METHODS, bench_deep


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p)
    p.add_argument("--method", default="coop",
                   choices=["coop", "cocoop", *text_successors.METHODS, *DEEP_METHODS, *adapters.METHODS])
    adapters.add_args(p)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--skip-plain", action="store_true", help="time the fast path only")
    p.add_argument("--plain-chunk", type=int, default=0,
                   help="encode the plain path's prompts in checkpointed chunks of this many classes "
                        "(same values; needed when its activations do not fit in memory, e.g. 1000 classes)")
    args = p.parse_args(argv)
    if args.method in text_successors.METHODS:  # KgCoOp, ProGrad, TCP: benchmarks/text_successors.py
        return text_successors.run(args)
    if args.method in DEEP_METHODS:  # IVLP / MaPLe / PromptSRC: benchmarks/deep_prompts.py
        return bench_deep(args)
    if args.method in adapters.METHODS:
        return adapters.main(args)  # CLIP-LoRA, Tip-Adapter-F: benchmarks/adapters.py
    device = torch.device(args.device)
    batch = args.batch or (1 if args.method == "cocoop" else 32)

    from vlprompt.testing.reference import reference_cocoop_logits, reference_text_features

    model = build_models(args, device)
    pl = model.prompt_learner
    gen = torch.Generator().manual_seed(args.seed)
    size = image_size(model.image_encoder)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, args.classes, (batch,), generator=gen).to(device)
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-6, momentum=0.9)
    scaler = grad_scaler(device, args.prec)

    def logits_fast():
        return model(images)

    def logits_plain():
        if args.method == "cocoop":
            return reference_cocoop_logits(model, images)
        return model(images, text_features=reference_text_features(pl, model.text_encoder, args.plain_chunk))

    def step(logits_fn):
        optim.zero_grad()
        with autocast(device, args.prec):
            loss = F.cross_entropy(logits_fn(), labels)
        optimizer_step(optim, loss, scaler)

    def logits_and_grad(logits_fn):
        optim.zero_grad()
        with autocast(device, args.prec):
            logits = logits_fn()
            F.cross_entropy(logits, labels).backward()
        return logits.detach().float(), pl.ctx.grad.detach().float().clone()

    pl.train()
    groups = batch if args.method == "cocoop" else 1
    l_fast, g_fast = logits_and_grad(logits_fast)
    if not args.skip_plain:
        l_plain, g_plain = logits_and_grad(logits_plain)
    rows = []
    for name, fn, plain in [("fast", logits_fast, False)] + ([] if args.skip_plain else [("plain", logits_plain, True)]):
        reset_peak(device)
        t = median_time(lambda: step(fn), args.warmup, args.steps, device)
        rows.append({"path": name, "method": args.method, "classes": args.classes, "batch": batch,
                     "ms/step": 1000 * t, "images/s": batch / t, "text tokens/step": text_tokens(pl, groups, plain),
                     "peak MB": peak_memory_mb(device)})
    if not args.skip_plain:
        speedup = rows[1]["ms/step"] / rows[0]["ms/step"]
        rows[0].update({"speed-up": speedup, "max rel diff logits": max_rel_diff(l_fast, l_plain),
                        "max rel diff ctx grad": max_rel_diff(g_fast, g_plain)})
    meta = {"device": device_name(device), "arch": args.arch, "prec": args.prec, "n_ctx": args.n_ctx,
            "plain_chunk": args.plain_chunk,
            "position": args.position, "csc": args.csc, "steps": args.steps, "warmup": args.warmup,
            "torch": torch.__version__}
    print_and_save(rows, meta, args.json)


if __name__ == "__main__":
    main()
