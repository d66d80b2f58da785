"""Time evaluation (inference over test batches): the fast paths against the plain reference path.

    python benchmarks/bench_eval.py --arch ViT-B/16 --classes 1000 --method coop --batches 3

Plain path = the original code: every test batch re-encodes all class prompts at 77 tokens (CoOp),
or loops over images (CoCoOp). Fast path = vlprompt: CoOp encodes the class prompts once per
evaluation (truncated, shared prefix), CoCoOp encodes all images of a batch together. Reported: time
of one evaluation of ``--batches`` batches (median of ``--steps`` repeats), images/s, speed-up, max
relative difference of the logits, peak memory.
"""
import argparse

import torch
from common import (
    autocast,
    build_models,
    common_args,
    device_name,
    image_size,
    max_rel_diff,
    median_time,
    peak_memory_mb,
    print_and_save,
    reset_peak,
    text_tokens,
)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p)
    p.add_argument("--method", default="coop", choices=["coop", "cocoop"])
    p.add_argument("--batches", type=int, default=3, help="test batches per evaluation")
    p.add_argument("--steps", type=int, default=1, help="timed evaluations")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    batch = args.batch or 32

    from vlprompt.testing.reference import reference_cocoop_logits, reference_text_features

    model = build_models(args, device).eval()
    pl = model.prompt_learner
    gen = torch.Generator().manual_seed(args.seed)
    size = image_size(model.image_encoder)
    batches = [torch.randn(batch, 3, size, size, generator=gen).to(device) for _ in range(args.batches)]

    @torch.no_grad()
    def evaluate_fast():
        with autocast(device, args.prec):
            if args.method == "cocoop":
                return [model(x) for x in batches]
            text = model.text_features()  # once per evaluation
            return [model(x, text_features=text) for x in batches]

    @torch.no_grad()
    def evaluate_plain():
        with autocast(device, args.prec):
            if args.method == "cocoop":
                return [reference_cocoop_logits(model, x) for x in batches]
            return [model(x, text_features=reference_text_features(pl, model.text_encoder)) for x in batches]

    diff = max_rel_diff(torch.cat(evaluate_fast()), torch.cat(evaluate_plain()))
    rows = []
    n_images = batch * args.batches
    for name, fn, plain in [("fast", evaluate_fast, False), ("plain", evaluate_plain, True)]:
        reset_peak(device)
        t = median_time(fn, args.warmup, args.steps, device)
        groups = n_images if args.method == "cocoop" else (args.batches if plain else 1)
        rows.append({"path": name, "method": args.method, "classes": args.classes, "images": n_images,
                     "s/eval": t, "images/s": n_images / t, "text tokens/eval": text_tokens(pl, groups, plain),
                     "peak MB": peak_memory_mb(device)})
    rows[0].update({"speed-up": rows[1]["s/eval"] / rows[0]["s/eval"], "max rel diff logits": diff})
    meta = {"device": device_name(device), "arch": args.arch, "prec": args.prec, "n_ctx": args.n_ctx,
            "position": args.position, "csc": args.csc, "batch": batch, "batches": args.batches,
            "torch": torch.__version__}
    print_and_save(rows, meta, args.json)


if __name__ == "__main__":
    main()
