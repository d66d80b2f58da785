"""Contrastive pretraining of MiniCLIP on the MiniCLIP world (``tools/pretrain_miniclip.py``).

Reproducible from a seed: every image, caption and batch comes from ``numpy.random.default_rng``
seeded with (seed, purpose, index), the model initialisation from ``torch.manual_seed(seed)``, and
torch runs with a fixed number of CPU threads. Bit-identical results need the same torch build and
CPU (verified: a re-run on the same machine gives identical weights); elsewhere float rounding may differ
slightly (docs/miniclip.md: compare the in-domain accuracy the run prints).

Data: a pool of rendered images (pretraining distribution of :mod:`vlprompt.mini.world`) is drawn once;
every step takes a batch without replacement from a per-epoch permutation of the pool and draws a fresh
caption for each image (captions name random subsets of the attributes). Loss: symmetric InfoNCE with
every caption of the batch that is true of an image (all the attributes it states match) counted as a
positive of that image, so partial captions make no false negatives.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import world
from .model import CONFIG, build_model, packed_checkpoint, vocabulary_token_ids

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Purposes of the per-seed random streams.
_POOL, _CAPTION, _ORDER, _EVAL = 1, 2, 3, 4


def to_tensor(images: Sequence, mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """PIL images or a uint8 (N, H, W, 3) array -> normalised float (N, 3, H, W)."""
    arr = images if isinstance(images, np.ndarray) else np.stack([np.asarray(im) for im in images])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def render_pool(seed: int, n: int, size: int = world.IMAGE_SIZE) -> Tuple[np.ndarray, List[world.Obj]]:
    rng = np.random.default_rng([seed, _POOL])
    objs = [world.sample_object(rng) for _ in range(n)]
    images = np.stack([np.asarray(world.render(o, rng, world.PRETRAIN_STYLE, size)) for o in objs])
    return images, objs


class TextTokens:
    """Tokenises captions to full BPE ids and to the model's pruned vocabulary."""

    def __init__(self, token_ids: torch.Tensor, context_length: int):
        from vlprompt.clip.tokenizer import tokenize

        self._tokenize = tokenize
        self.context_length = context_length
        self.lookup = torch.full((int(token_ids.max()) + 1,), -1, dtype=torch.long)
        self.lookup[token_ids] = torch.arange(len(token_ids))
        if self.lookup[0] < 0:  # id 0 pads after end-of-text: never read (causal), any row will do
            self.lookup[0] = 0

    @lru_cache(maxsize=200_000)
    def _one(self, text: str) -> torch.Tensor:
        return self._tokenize(text, self.context_length)[0]

    def __call__(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        full = torch.stack([self._one(t) for t in texts])
        length = int((full > 0).sum(dim=1).max())
        full = full[:, :length]
        compact = self.lookup[full]
        if (compact < 0).any():
            bad = [t for t, row in zip(texts, compact) if (row < 0).any()]
            raise ValueError(f"captions use tokens outside the MiniCLIP vocabulary: {bad[:3]}")
        return full, compact


def encode_text(model, full: torch.Tensor, compact: torch.Tensor) -> torch.Tensor:
    """open_clip's ``encode_text`` on sequences cut to the batch's longest caption (same values: causal)."""
    n = full.shape[1]
    x = model.token_embedding(compact) + model.positional_embedding[:n]
    x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0]), full.argmax(dim=-1)] @ model.text_projection
    return F.normalize(x, dim=-1)


def contrastive_loss(image_features, text_features, logit_scale, positives: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with several positives: ``positives[i, j]`` = caption j is true of image i."""
    logits = logit_scale * image_features @ text_features.t()
    pos = positives.float()
    image_to_text = F.cross_entropy(logits, pos / pos.sum(dim=1, keepdim=True))
    text_to_image = F.cross_entropy(logits.t(), (pos / pos.sum(dim=0, keepdim=True)).t())
    return 0.5 * (image_to_text + text_to_image)


def true_captions(objs: Sequence[world.Obj], facts: Sequence[dict]) -> torch.Tensor:
    """(B, B) bool: caption j (stating ``facts[j]``) is true of object i."""
    return torch.tensor([[world.is_true_of(f, o) for f in facts] for o in objs])


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.5 * lr * (1 + math.cos(math.pi * t))


@torch.no_grad()
def zero_shot_eval(model, tokens: TextTokens, seed: int, n_images: int = 1000,
                   template: str = "a photo of a {} {}.") -> float:
    """In-domain zero-shot accuracy over all colour x shape classes (the pretraining distribution)."""
    classes = [(c, s) for c in world.COLOURS for s in world.SHAPES]
    rng = np.random.default_rng([seed, _EVAL])
    labels = rng.integers(len(classes), size=n_images)
    images = []
    for y in labels:
        o = world.sample_object(rng)
        o = world.Obj(classes[y][1], classes[y][0], o.size, o.pattern, o.position, o.background)
        images.append(world.render(o, rng))
    model.eval()
    text = encode_text(model, *tokens([template.format(c, s) for c, s in classes]))
    feats = F.normalize(model.encode_image(to_tensor(images)), dim=-1)
    model.train()
    return float(((feats @ text.t()).argmax(dim=1).numpy() == labels).mean() * 100)


def pretrain(seed: int = 0, steps: int = 2400, batch_size: int = 128, lr: float = 1e-3, warmup: int = 150,
             weight_decay: float = 0.1, pool_size: int = 40960, threads: int = 2, log_every: int = 100,
             eval_images: int = 1000, logit_scale_lr_mult: float = 10.0, log=None):
    """Train MiniCLIP; returns (model, token_ids, meta)."""
    log = log or (lambda msg: print(msg, flush=True))
    t0 = time.time()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    token_ids = vocabulary_token_ids()
    tokens = TextTokens(token_ids, CONFIG["context_length"])
    model = build_model(vocab_size=len(token_ids))
    model.train()

    pool_size = min(pool_size, steps * batch_size)
    images, objs = render_pool(seed, pool_size)
    log(f"Rendered {pool_size} images ({time.time() - t0:.0f} s); vocabulary {len(token_ids)} tokens; "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")

    params = dict(model.named_parameters())
    decay = [p for n, p in params.items() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in params.items() if not (p.ndim >= 2 and "embedding" not in n) and n != "logit_scale"]
    # The temperature gets a larger step, so that it can reach CLIP's cap of 100 within a short run
    # (its value sets the gradient scale of prompt learning, and CoOp's learning rate assumes ~100).
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay, "lr_mult": 1.0},
                             {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0},
                             {"params": [params["logit_scale"]], "weight_decay": 0.0, "lr_mult": logit_scale_lr_mult}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-6)
    per_epoch = pool_size // batch_size
    order = None
    losses = []
    for step in range(steps):
        epoch, k = divmod(step, per_epoch)
        if k == 0:
            order = np.random.default_rng([seed, _ORDER, epoch]).permutation(pool_size)
        idx = order[k * batch_size:(k + 1) * batch_size]
        crng = np.random.default_rng([seed, _CAPTION, step])
        batch_objs = [objs[i] for i in idx]
        texts, facts = zip(*(world.describe(o, crng) for o in batch_objs))
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup) * group["lr_mult"]
        image_features = F.normalize(model.encode_image(to_tensor(images[idx])), dim=-1)
        text_features = encode_text(model, *tokens(texts))
        loss = contrastive_loss(image_features, text_features, model.logit_scale.exp(), true_captions(batch_objs, facts))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            log(f"step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.4f} lr {lr_at(step, steps, lr, warmup):.2e} "
                f"scale {model.logit_scale.exp().item():.1f} elapsed {time.time() - t0:.0f} s")
    acc = zero_shot_eval(model, tokens, seed, eval_images) if eval_images else float("nan")
    wall = time.time() - t0
    log(f"In-domain zero-shot accuracy ({len(world.COLOURS) * len(world.SHAPES)} colour x shape classes, "
        f"{eval_images} images): {acc:.1f}%; wall time {wall:.0f} s")
    meta = {"seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup,
            "weight_decay": weight_decay, "logit_scale_lr_mult": logit_scale_lr_mult, "pool_size": pool_size,
            "threads": threads, "logit_scale": round(model.logit_scale.exp().item(), 2),
            "final_loss": float(np.mean(losses[-log_every:])), "in_domain_zero_shot": acc,
            "wall_time_s": round(wall, 1), "torch": str(torch.__version__), "python": platform.python_version(),
            "machine": platform.machine()}
    return model.eval(), token_ids, meta


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description="Pretrain MiniCLIP on the MiniCLIP world (CPU, reproducible from --seed).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="packaged checkpoint to write (e.g. vlprompt/mini/miniclip.pt)")
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-images", type=int, default=1000, help="in-domain zero-shot check at the end (0: skip)")
    args = p.parse_args(argv)
    from vlprompt.utils.tools import atomic_torch_save

    from .model import file_sha256

    model, token_ids, meta = pretrain(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                      threads=args.threads, log_every=min(100, args.steps),
                                      eval_images=min(args.eval_images, max(100, args.steps)))
    meta["command"] = " ".join(["python", "tools/pretrain_miniclip.py"] + list(argv if argv is not None else sys.argv[1:]))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_torch_save(packed_checkpoint(model, token_ids, meta), args.out)
    print(f"Saved {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, SHA-256 {file_sha256(args.out)})")


if __name__ == "__main__":
    main()
