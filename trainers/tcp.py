"""TCP (Yao et al., CVPR 2024): textual-based class-aware prompts injected into the text encoder, + KgCoOp's loss.

A small network (``meta_net``: Linear(E -> E/4) -> QuickGELU -> Linear(E/4 -> M*D)) maps each class's
hand-crafted text feature (TCP's own template table, ``TCP_HAND_CRAFTED_TEMPLATES``) to M class-aware
tokens; right before text block ``TRAINER.TCP.INJECT_LAYER`` (official: 8 of 12) they replace the hidden
states at the context positions 1..M of that class's prompt. The prompt text comes from TCP's table
(``TCP_PROMPT_TEMPLATES``, positions 1..M replaced by the learned context); datasets outside the tables
use "<context words> {}." and the reader's template. Loss: CE + ``TRAINER.TCP.KG_WEIGHT`` (8.0, hard-coded
in the official code) * KgCoOp's term; ``TRAINER.COOP.W`` is inert, as in the official code.

Fast paths: blocks before the injection are computed once for the shared prefix (start token + context),
then the prompts are "unshared" (``TextEncoder.encode(..., layer_prompts=...)``); EOT truncation holds
throughout; evaluation encodes the class features once. The official train.py forces 25 epochs on ImageNet
and SUN397 (:meth:`TCP.finalize_cfg`); the official README's Adam eps 1e-3 (a Dassl edit) is
``TRAINER.TCP.ADAM_EPS``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.transformer import QuickGELU

from vlprompt.clip import EncodingPlan, PromptLearner, clip_dtype, clip_embed_dim, text_tower
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY
from vlprompt.trainers.kgcoop import KgCoOp, KgCoOpCLIP

# htyao89/Textual-based_Class-aware_prompt_tuning, trainers/tcp.py: the prompt text (positions 1..M replaced
# by the context; note UCF101 and ImageNet, whose first words are replaced) ...
TCP_PROMPT_TEMPLATES = {
    "OxfordPets": "X X X X {}, a type of pet.",
    "OxfordFlowers": "X X X X {}, a type of flower.",
    "FGVCAircraft": "X X X X {}, a type of aircraft.",
    "DescribableTextures": "X X X X {} texture.",
    "EuroSAT": "X X X X {}.",
    "StanfordCars": "X X X X {}, a type of car",
    "Food101": "X X X X {}, a type of food.",
    "SUN397": "X X X X {}.",
    "Caltech101": "X X X X {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
# ... and the hand-crafted prompts (CUSTOM_TEMPLATES_ori).
TCP_HAND_CRAFTED_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of an aircraft {}.",
    "DescribableTextures": "a photo of a {}, a type of texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of a {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
SHORT_SCHEDULE = {"ImageNet": 25, "SUN397": 25}  # OPTIM.MAX_EPOCH forced by the official train.py


class TCPPromptLearner(PromptLearner):
    """CoOp's unified context + ``meta_net`` (state-dict keys ``meta_net.linear1/2.*`` as the official)."""

    def __init__(self, clip_model: nn.Module, classnames, n_ctx: int, ctx_init: str, prompt_template,
                 dtype: torch.dtype, fast: bool = True):
        super().__init__(clip_model, classnames, n_ctx=n_ctx, ctx_init=ctx_init, dtype=dtype, fast=fast,
                         prompt_template=prompt_template)
        vis_dim = clip_embed_dim(clip_model)  # = the text embedding dim, the meta-net's input
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 4)),
            ("gelu", QuickGELU()),
            ("linear2", nn.Linear(vis_dim // 4, self.n_ctx * self.ctx.shape[-1])),
        ])).to(dtype)

    def class_tokens(self, clip_text_features: torch.Tensor) -> torch.Tensor:
        """Class-aware tokens (n_cls, M, D) from the hand-crafted class features (n_cls, E)."""
        out = self.meta_net(clip_text_features.to(self.ctx.dtype))
        return out.reshape(clip_text_features.shape[0], self.n_ctx, -1)


class TCPCLIP(KgCoOpCLIP):
    def __init__(self, clip_model, prompt_learner: TCPPromptLearner, clip_text_features: torch.Tensor,
                 inject_layer: int):
        super().__init__(clip_model, prompt_learner, clip_text_features)
        self.inject_layer = inject_layer

    def layer_prompts(self) -> dict:
        return {self.inject_layer: self.prompt_learner.class_tokens(self.clip_text_features)}

    def text_features(self, plan: EncodingPlan = None) -> torch.Tensor:
        pl = self.prompt_learner
        plan = plan or pl.plan
        return F.normalize(self.text_encoder.encode(pl(plan), plan, layer_prompts=self.layer_prompts()), dim=-1)


@TRAINER_REGISTRY.register()
class TCP(KgCoOp):
    ignored_checkpoint_keys = ()
    hand_crafted_templates = TCP_HAND_CRAFTED_TEMPLATES

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)  # CoOp's and KgCoOp's keys (W is declared but, as in the official code, inert)
        declare(cfg, "TRAINER.TCP",
                INJECT_LAYER=8,  # text block before which the class-aware tokens replace positions 1..M
                KG_WEIGHT=8.0,  # weight of the KG term (hard-coded in the official code)
                ADAM_EPS=1e-3)  # Adam's eps (the official README's Dassl edit; stock: 1e-8)

    @classmethod
    def finalize_cfg(cls, cfg) -> None:
        if cfg.DATASET.NAME in SHORT_SCHEDULE:
            cfg.OPTIM.MAX_EPOCH = SHORT_SCHEDULE[cfg.DATASET.NAME]

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        if cfg.TRAINER.COOP.CSC:
            raise ValueError("TCP learns one context shared by all classes (its class-aware part is the meta-net): "
                             "set TRAINER.COOP.CSC False")
        if cfg.DATASET.NAME in SHORT_SCHEDULE:
            print(f"TCP: OPTIM.MAX_EPOCH = {SHORT_SCHEDULE[cfg.DATASET.NAME]} for {cfg.DATASET.NAME}, whatever the "
                  "config says (as the official train.py)")

    @property
    def kg_weight(self) -> float:
        return self.cfg.TRAINER.TCP.KG_WEIGHT

    def build_prompt_learner(self, classnames, clip_model) -> TCPPromptLearner:
        c = self.cfg.TRAINER.COOP
        return TCPPromptLearner(clip_model, classnames, n_ctx=c.N_CTX, ctx_init=self.ctx_init(),
                                prompt_template=TCP_PROMPT_TEMPLATES.get(self.cfg.DATASET.NAME),
                                dtype=clip_dtype(clip_model), fast=self.fast_text)

    def build_custom_clip(self, classnames, clip_model):
        layer = self.cfg.TRAINER.TCP.INJECT_LAYER
        n_blocks = len(text_tower(clip_model).transformer.resblocks)
        if not 1 <= layer < n_blocks:
            scaled = max(1, min(n_blocks - 1, round(8 * n_blocks / 12)))
            raise ValueError(f"TRAINER.TCP.INJECT_LAYER {layer} is not a block of this text encoder: it has {n_blocks} "
                             f"blocks, so use 1..{n_blocks - 1} (the official 8 of 12 is {scaled} here)")
        feats = self.hand_crafted_features(classnames, clip_model)
        return TCPCLIP(clip_model, self.build_prompt_learner(classnames, clip_model), feats, layer)

    def build_model(self) -> None:
        super().build_model()
        if isinstance(self.optim, (torch.optim.Adam, torch.optim.AdamW)):
            for group in self.optim.param_groups:
                group["eps"] = self.cfg.TRAINER.TCP.ADAM_EPS

    def method_details(self) -> str:
        return (f"M={self.model.prompt_learner.n_ctx}, injected before block {self.model.inject_layer}, "
                f"KG weight {self.kg_weight:g}")
