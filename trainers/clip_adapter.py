"""CLIP-Adapter (Gao et al., IJCV 2023), visual branch, as the official single-file Dassl trainer.

f = raw CLIP image feature; f' = alpha * adapter(f) + (1 - alpha) * f with the bottleneck adapter
Linear(c -> c/4, no bias) -> ReLU -> Linear(c/4 -> c, no bias) -> ReLU; logits against the
dataset's hand-written template (the ZeroshotCLIP table) as in CLIP. Only the adapter trains; it is
registered as ``clip_adapter`` (checkpoint folder ``clip_adapter/``, state-dict keys ``fc.0.weight``,
``fc.2.weight`` as the official code).

Differences from the official file: c is the backbone's image embedding dim (the official code
hard-codes RN50's 1024); alpha (TRAINER.CLIP_ADAPTER.ALPHA, default 0.2) and the reduction are config
keys; the constant template features are encoded once at build time, not at every forward. With
TRAINER.FEATURES.TRAIN_VIEWS = N > 0, training reads N cached augmented views of each training image
(one drawn per image per epoch) instead of encoding images every step: the frozen encoder then runs
once per view, not once per epoch.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import FixedTextCLIP, class_prompts, clip_embed_dim, encode_class_prompts
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer, feature_cache
from vlprompt.engine.feature_cache import FeatureCache, FeatureLoader


class Adapter(nn.Module):
    """Residual-free bottleneck MLP; the residual mix with the input is done by the model."""

    def __init__(self, c_in: int, reduction: int = 4):
        super().__init__()
        if reduction < 1 or c_in // reduction < 1:
            raise ValueError(f"Cannot reduce an embedding of width {c_in} by {reduction}")
        self.fc = nn.Sequential(
            nn.Linear(c_in, c_in // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(c_in // reduction, c_in, bias=False),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class AdapterCLIP(FixedTextCLIP):
    def __init__(self, clip_model: nn.Module, text_features: torch.Tensor, alpha: float, reduction: int):
        super().__init__(clip_model, text_features)
        self.alpha = alpha
        self.clip_adapter = Adapter(clip_embed_dim(clip_model), reduction).to(self.dtype)

    def adapt(self, features: torch.Tensor) -> torch.Tensor:
        """Raw image features -> normalised adapted features."""
        features = features.to(self.dtype)
        mixed = self.alpha * self.clip_adapter(features) + (1 - self.alpha) * features
        return F.normalize(mixed, dim=-1)

    def forward_features(self, features: torch.Tensor, text_features: torch.Tensor = None) -> torch.Tensor:
        """Logits from raw (cached) image features."""
        if text_features is None:
            text_features = self.text_features()
        return self.logits(self.adapt(features), text_features)

    def forward(self, image: torch.Tensor, text_features: torch.Tensor = None) -> torch.Tensor:
        return self.forward_features(self.image_encoder(image.type(self.dtype)), text_features)


@TRAINER_REGISTRY.register()
class CLIP_Adapter(CLIPTrainer):
    prec_key = "CLIP_ADAPTER"
    learnable = "clip_adapter"
    class_dependent_keys = ()

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        feature_cache.extend_cfg(cfg)
        declare(cfg, "TRAINER.CLIP_ADAPTER",
                PREC="fp32",  # the official code runs the whole CLIP in fp32
                ALPHA=0.2,  # residual ratio: f' = alpha * adapter(f) + (1 - alpha) * f
                REDUCTION=4)  # bottleneck width = embedding dim / REDUCTION

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.CLIP_ADAPTER
        if not 0.0 <= c.ALPHA <= 1.0:
            raise ValueError(f"TRAINER.CLIP_ADAPTER.ALPHA must be in [0, 1], got {c.ALPHA}")
        if c.REDUCTION < 1:
            raise ValueError(f"TRAINER.CLIP_ADAPTER.REDUCTION must be >= 1, got {c.REDUCTION}")
        feature_cache.check_cfg(cfg)

    def build_custom_clip(self, classnames, clip_model) -> nn.Module:
        template = self.dm.dataset.template
        print(f"Prompts: {class_prompts(template, classnames)}")
        with self.autocast():
            text_features = encode_class_prompts(clip_model, classnames, [template])
        c = self.cfg.TRAINER.CLIP_ADAPTER
        return AdapterCLIP(clip_model, text_features, alpha=c.ALPHA, reduction=c.REDUCTION)

    def before_train(self) -> None:
        super().before_train()
        self.train_on_features = False
        views = self.cfg.TRAINER.FEATURES.TRAIN_VIEWS
        if views > 0:
            # Replace the image loader by one over cached augmented views (same batch rule and order
            # source). Done here, not at build time, so --eval-only never extracts training features.
            cache = FeatureCache(self.cfg, self.model.image_encoder, self.model.dtype, self.device, self.precision,
                                 autocast=self.autocast)
            cached = cache.get("train", self.dm.dataset.train_x, self.dm.tfm_train, views)
            self.train_loader_x = FeatureLoader(cached, self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE, shuffle=True)
            self.train_on_features = True

    def compute_loss(self, inputs: torch.Tensor, label: torch.Tensor):
        output = self.model.forward_features(inputs) if self.train_on_features else self.model(inputs)
        return F.cross_entropy(output, label), output

    def method_details(self) -> str:
        return f"alpha={self.cfg.TRAINER.CLIP_ADAPTER.ALPHA:g}"
