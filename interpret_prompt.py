"""Nearest vocabulary words to each learned context vector (Euclidean distance, as the reference).

    python interpret_prompt.py output/.../prompt_learner/model.pth.tar-50 3
    python interpret_prompt.py FPATH TOPK --backbone ViT-B/16 [--backbone-path FILE] [--cache-dir DIR]

The reference always measures against RN50's token embeddings (--backbone RN50, the default); the
distances are only meaningful for the CLIP model whose embedding table the context was trained in.
"""
import argparse

import torch

from vlprompt.clip import get_tokenizer, load_clip
from vlprompt.engine import load_checkpoint


def nearest_words(ctx: torch.Tensor, token_embedding: torch.Tensor, topk: int):
    """For each context vector (M, D): (token ids, distances) of the ``topk`` nearest embeddings."""
    if ctx.dim() != 2:
        raise NotImplementedError(
            f"Only a unified context (M x D) can be interpreted; got shape {tuple(ctx.shape)} "
            "(class-specific contexts are not supported, as in the reference)"
        )
    distance = torch.cdist(ctx.float(), token_embedding.float())
    print(f"Size of distance matrix: {tuple(distance.shape)}")
    dists, ids = distance.topk(topk, dim=1, largest=False)
    return ids, dists


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fpath", help="checkpoint file holding state_dict['ctx']")
    p.add_argument("topk", type=int, help="number of nearest words per context vector")
    p.add_argument("--backbone", default="RN50", help="CLIP whose token embeddings are searched (default RN50)")
    p.add_argument("--backbone-path", default="", help="local CLIP checkpoint (MODEL.BACKBONE.PATH)")
    p.add_argument("--cache-dir", default="~/.cache/clip", help="CLIP cache folder (MODEL.BACKBONE.CACHE_DIR)")
    args = p.parse_args(argv)

    print(f"Return the top-{args.topk} matched words")
    clip_model = load_clip(args.backbone, path=args.backbone_path, cache_dir=args.cache_dir)
    token_embedding = clip_model.token_embedding.weight
    print(f"Size of token embedding: {tuple(token_embedding.shape)}")
    ctx = load_checkpoint(args.fpath)["state_dict"]["ctx"].float()
    print(f"Size of context: {tuple(ctx.shape)}")
    ids, dists = nearest_words(ctx, token_embedding, args.topk)
    decoder = get_tokenizer().decoder
    for m, (row_ids, row_d) in enumerate(zip(ids.tolist(), dists.tolist()), start=1):
        words = [decoder[i] for i in row_ids]
        print(f"{m}: {words} {['%.4f' % d for d in row_d]}")


if __name__ == "__main__":
    main()
