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
