"""PromptSRC, prompting with self-regulating constraints (Khattak et al., ICCV 2023).

The prompted model is IVLP's (``trainers/ivlp.py``: independent deep prompts in both encoders), trained with

    L = CE(s, y) + KL(q || p) / (B*C) + TEXT_LOSS_WEIGHT * mean|t - z_t| + IMAGE_LOSS_WEIGHT * mean|v - z_v|

s, p: prompted logits and their softmax; t, v: normalised prompted text / image features; z_t: frozen CLIP text
features of the 60 ImageNet templates (raw features averaged over templates, then normalised; the same list for
every dataset, encoded once in fp32 before training); z_v: frozen CLIP image features of the same images;
q = softmax of the frozen logits exp(logit_scale) z_v z_t^T. After the last batch of every epoch e the trainable
tensors are added to a running sum with weight w_e, a Gaussian (GPA_MEAN, GPA_STD) over epochs 1..N normalised
to sum 1 (Gaussian prompt aggregation, GPA); after the last epoch the sum replaces them, so the epoch-N
checkpoint and the final test use the aggregated prompts. The running sum goes into every checkpoint, so an
interrupted run resumes to the same result.

The frozen image features come from the prompted model's own image encoder with the prompts left out -- its
weights are CLIP's, exactly the official separate frozen tower's -- in one no-grad pass that shares the patch
embedding with the prompted pass (no second tower in memory). Without vision prompts (PROMPT_DEPTH_VISION 0)
the prompted pass *is* the frozen encoder, and its features are taken from it (no second pass).

Checkpoints: ``VLPromptLearner/`` with IVLP's keys; the official ones also carry a second visual tower
(``prompt_learner.ZS_image_encoder.*``, unused at evaluation), which is ignored when loading.
"""
from __future__ import annotations

import copy
import math
from typing import List, NamedTuple

import torch
import torch.nn.functional as F

from vlprompt.clip import IMAGENET_TEMPLATES, clip_dtype, encode_class_prompts, vision
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY
from vlprompt.trainers.ivlp import IVLP, DeepPromptCLIP


class SRCOutputs(NamedTuple):
    logits: torch.Tensor  # prompted logits (B, C)
    text: torch.Tensor  # normalised prompted text features (C, E)
    image: torch.Tensor  # normalised prompted image features (B, E)
    zs_text: torch.Tensor  # normalised frozen text features (C, E)
    zs_image: torch.Tensor  # normalised frozen image features (B, E), no gradient
    zs_logits: torch.Tensor  # frozen logits (B, C), no gradient


class PromptSRCCLIP(DeepPromptCLIP):
    """IVLP's model plus the frozen references of the self-regulating losses."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Frozen text features (n_cls, E) of the template ensemble, set before training; not saved.
        self.register_buffer("fixed_embeddings", None, persistent=False)

    def forward(self, image: torch.Tensor, text_features: torch.Tensor = None, regularize: bool = False):
        """Logits; with ``regularize`` (training) the :class:`SRCOutputs` the losses need."""
        if not regularize:
            return super().forward(image, text_features)
        if self.fixed_embeddings is None:
            raise RuntimeError("PromptSRC's frozen text features are computed before training (PromptSRC.before_train)")
        image = image.type(self.dtype)
        shallow, deep = self.vision_prompts()
        if shallow is None:
            # No vision prompts: the prompted image encoder is the frozen one, so its features are the frozen ones.
            image_features = F.normalize(self.image_encoder(image), dim=-1)
            zs_image = image_features.detach()
        else:
            tokens = vision.embed_image(self.image_encoder, image)  # frozen weights: the same for both passes
            image_features = F.normalize(vision.encode_embedded(self.image_encoder, tokens, shallow, deep), dim=-1)
            with torch.no_grad():
                zs_image = F.normalize(vision.encode_embedded(self.image_encoder, tokens), dim=-1)
        text = self.text_features() if text_features is None else text_features
        zs_text = F.normalize(self.fixed_embeddings, dim=-1)
        with torch.no_grad():
            zs_logits = self.logits(zs_image, zs_text)
        return SRCOutputs(self.logits(image_features, text), text, image_features, zs_text, zs_image, zs_logits)


def gpa_weights(n_epochs: int, mean: float, std: float) -> List[float]:
    """Gaussian prompt aggregation: weight of epochs 1..n, the N(mean, std) density normalised to sum 1."""
    if std <= 0:
        raise ValueError(f"TRAINER.PROMPTSRC.GPA_STD must be > 0, got {std}")
    dens = [math.exp(-0.5 * ((e - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)) for e in range(1, n_epochs + 1)]
    total = sum(dens)
    if not total > 0:
        raise ValueError(f"TRAINER.PROMPTSRC.GPA_MEAN {mean} / GPA_STD {std} give no weight to any of the epochs "
                         f"1..{n_epochs} (OPTIM.MAX_EPOCH): put GPA_MEAN within them or widen GPA_STD")
    return [d / total for d in dens]


def srclosses(out: SRCOutputs, label: torch.Tensor, text_weight: float, image_weight: float) -> torch.Tensor:
    """The PromptSRC objective from the model's outputs (the official terms, added in the official order)."""
    loss_ce = F.cross_entropy(out.logits, label)
    loss_text = F.l1_loss(out.text, out.zs_text, reduction="mean") * text_weight
    loss_image = F.l1_loss(out.image, out.zs_image, reduction="mean") * image_weight
    loss_kl = F.kl_div(F.log_softmax(out.logits, dim=1), F.log_softmax(out.zs_logits, dim=1), reduction="sum",
                       log_target=True) / out.logits.numel()
    return loss_ce + (loss_kl + loss_text + loss_image)


@TRAINER_REGISTRY.register()
class PromptSRC(IVLP):
    prec_key = "PROMPTSRC"
    checkpoint_name = "VLPromptLearner"
    # The official checkpoints' second (frozen) visual tower: not a separate module here.
    ignored_checkpoint_keys = ("prompt_learner.ZS_image_encoder.",)

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare(cfg, "TRAINER.PROMPTSRC", N_CTX_VISION=4, N_CTX_TEXT=4, CTX_INIT="a photo of a",
                PREC="fp16",  # fp16 | fp32 | amp
                PROMPT_DEPTH_VISION=9, PROMPT_DEPTH_TEXT=9,
                TEXT_LOSS_WEIGHT=25, IMAGE_LOSS_WEIGHT=10,  # L1 consistency weights (integers, as the official keys)
                GPA_MEAN=15, GPA_STD=1)  # Gaussian over epochs 1..OPTIM.MAX_EPOCH

    def build_custom_clip(self, classnames, clip_model):
        c = self.keys
        model = PromptSRCCLIP(clip_model, classnames, c.N_CTX_TEXT, c.N_CTX_VISION, c.PROMPT_DEPTH_TEXT,
                              c.PROMPT_DEPTH_VISION, c.CTX_INIT, fast=self.fast_text, key="TRAINER.PROMPTSRC")
        self._frozen_text_source = (clip_model, list(classnames))  # encoded before training only
        return model

    def build_model(self) -> None:
        super().build_model()
        c = self.keys
        self.gpa = gpa_weights(self.max_epoch, c.GPA_MEAN, c.GPA_STD)
        self.gpa_sum = None  # {parameter name: running weighted sum}
        top = sorted(range(len(self.gpa)), key=lambda i: -self.gpa[i])[:3]
        print("GPA weights over epochs: " + ", ".join(f"epoch {i + 1}: {self.gpa[i]:.4f}" for i in sorted(top)) + " (largest)")

    # ------------------------------------------------------------------ frozen text features
    def before_train(self) -> None:
        self.set_frozen_text_features()
        super().before_train()

    @torch.no_grad()
    def set_frozen_text_features(self) -> None:
        """z_t: frozen CLIP's features of the 60 ImageNet templates, averaged raw, in fp32 (as the official
        code, which encodes them with an fp32 copy of CLIP whatever PREC is)."""
        clip_model, classnames = self._frozen_text_source
        if clip_dtype(clip_model) != torch.float32:
            clip_model = copy.deepcopy(clip_model).float()  # fp16 weights: encode with an fp32 copy
        print(f"Encoding the frozen text features ({len(IMAGENET_TEMPLATES)} templates x {len(classnames)} classes)")
        feats = encode_class_prompts(clip_model, classnames, IMAGENET_TEMPLATES, average="raw")
        model = getattr(self.model, "module", self.model)
        model.fixed_embeddings = feats.to(self.device)
        del self._frozen_text_source

    # ------------------------------------------------------------------ loss
    def compute_loss(self, image: torch.Tensor, label: torch.Tensor):
        c = self.keys
        out = self.model(image, regularize=True)
        return srclosses(out, label, c.TEXT_LOSS_WEIGHT, c.IMAGE_LOSS_WEIGHT), out.logits

    # ------------------------------------------------------------------ Gaussian prompt aggregation
    def _trainable_parameters(self):
        model = self._models[self.registered_name]
        return [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    def after_epoch(self) -> None:
        # After the epoch's last optimiser step and LR step, before its checkpoint and any evaluation.
        weight = self.gpa[self.epoch]
        with torch.no_grad():
            params = self._trainable_parameters()
            if self.gpa_sum is None:
                if self.epoch != 0:  # restore_checkpoint_extras restores it on resume
                    raise RuntimeError(f"GPA: the running sum of epochs 1..{self.epoch} is missing")
                self.gpa_sum = {n: p.detach() * weight for n, p in params}
            else:
                self.gpa_sum = {n: p.detach() * weight + self.gpa_sum[n] for n, p in params}
            if self.epoch + 1 == self.max_epoch:
                print("Using GPA model for final inference...")
                for n, p in params:
                    p.copy_(self.gpa_sum[n])
        super().after_epoch()

    def checkpoint_extras(self) -> dict:
        if self.gpa_sum is None:
            return {}
        return {"gpa": {"sum": {n: t.detach().cpu() for n, t in self.gpa_sum.items()}, "epochs": self.max_epoch,
                        "mean": self.keys.GPA_MEAN, "std": self.keys.GPA_STD}}

    def restore_checkpoint_extras(self, checkpoint: dict, path: str) -> None:
        epoch = checkpoint.get("epoch", 0)
        gpa = checkpoint.get("gpa")
        if epoch >= self.max_epoch:
            return  # training is over: the checkpoint holds the aggregated prompts
        if gpa is None:
            raise RuntimeError(f'Cannot resume PromptSRC from "{path}" (epoch {epoch}): it has no running GPA sum '
                               "(Gaussian prompt aggregation over epochs). Train from scratch in a new --output-dir.")
        if (gpa["epochs"], gpa["mean"], gpa["std"]) != (self.max_epoch, self.keys.GPA_MEAN, self.keys.GPA_STD):
            raise RuntimeError(
                f'Cannot resume PromptSRC from "{path}": its GPA weights were for {gpa["epochs"]} epochs with mean '
                f'{gpa["mean"]} / std {gpa["std"]}, this run has {self.max_epoch} epochs, {self.keys.GPA_MEAN} / '
                f"{self.keys.GPA_STD}; the weights of past epochs would change. Use a new --output-dir.")
        self.gpa_sum = {n: t.to(self.device) for n, t in gpa["sum"].items()}

