"""Hand-written prompts: a template and class names -> prompt texts -> (ensembled) text features.

Every trainer that needs fixed text features (zero-shot CLIP, CLIP-Adapter, the regularisers of the
successors) goes through these two functions; a dataset's own template lives on its reader
(``DatasetBase.template``).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .towers import text_tower

# The 7 "selected" ImageNet templates of CLIP's prompt-engineering notebook, in the reference's order.
IMAGENET_TEMPLATES_SELECT = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

# The 60-template ImageNet ensemble PromptSRC encodes with frozen CLIP for every dataset (a subset of CLIP's
# prompt-engineering notebook's 80), in its order.
IMAGENET_TEMPLATES = (
    "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.",
    "a bad photo of the {}.", "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.",
    "a photo of a hard to see {}.", "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.",
    "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.",
    "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.", "a {} in a video game.",
    "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.", "the origami {}.",
    "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.", "a origami {}.",
    "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.", "a photo of the clean {}.",
    "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.", "a photo of a weird {}.",
    "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.", "a embroidered {}.",
    "a pixelated photo of a {}.", "itap of the {}.",
)


def class_prompts(template: str, classnames: Sequence[str]) -> List[str]:
    """``template.format(name)`` per class, with "_" in class names read as a space (as the reference)."""
    if "{}" not in template:
        raise ValueError(f'A prompt template needs a "{{}}" where the class name goes, got "{template}"')
    return [template.format(name.replace("_", " ")) for name in classnames]


@torch.no_grad()
def encode_texts(clip_model: nn.Module, texts: Sequence[str], batch_size: int = 256,
                 normalize: bool = True) -> torch.Tensor:
    """Text features (float32, on the model's device) of plain strings, in batches of ``batch_size``."""
    tower = text_tower(clip_model)  # the model's own tokenizer and context length
    device = tower.positional_embedding.device
    feats = []
    for i in range(0, len(texts), batch_size):
        ids = tower.tokenize(list(texts[i:i + batch_size])).to(device)
        feats.append(clip_model.encode_text(ids))
    feats = torch.cat(feats).float()
    return F.normalize(feats, dim=-1) if normalize else feats


def encode_class_prompts(clip_model: nn.Module, classnames: Sequence[str], templates: Sequence[str],
                         average: str = "normalized") -> torch.Tensor:
    """Normalised class text features (n_cls, E) from one template or an ensemble of templates.

    ``average``: "normalized" normalises each template's features before averaging (CLIP's ensembling,
    ZeroshotCLIP2); "raw" averages the un-normalised features (PromptSRC's frozen text features).
    The result is normalised in both cases.
    """
    if average not in ("normalized", "raw"):
        raise ValueError(f'average must be "normalized" or "raw", got "{average}"')
    if not templates:
        raise ValueError("encode_class_prompts needs at least one template")
    feats = [encode_texts(clip_model, class_prompts(t, classnames), normalize=average == "normalized")
             for t in templates]
    return F.normalize(torch.stack(feats).mean(dim=0), dim=-1)
