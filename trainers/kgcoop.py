"""KgCoOp (Yao et al., CVPR 2023): CoOp + a loss keeping the learned class text features near the hand-crafted ones.

L = CE + W * (1 - mean_i cos(t_i, t_i^clip)), t = the learned prompts' normalised class text features,
t^clip = the frozen CLIP's features of the dataset's hand-crafted prompt (KgCoOp's own template table,
``KGCOOP_TEMPLATES``; other datasets: the reader's template), encoded once per run on the run's device.
W = ``TRAINER.COOP.W`` (the released scripts use 8.0). ``TRAINER.COOP.CTX_INIT True`` (the official
configs' boolean) = the official hard-coded init "a photo of a" (M = 4); a string = CoOp's words.

Differences from the official file: the unused ``bias_vectors`` / ``meta_net`` / adapter are not created
(their entries in official checkpoints are accepted and ignored); the hand-crafted features come from the
run's CLIP (the same frozen weights, no second model); the KG term is computed in fp32 in every precision;
amp computes the same two terms (the official amp branch crashes); CLASS_TOKEN_POSITION other than "end",
which the official code silently ignores, is an error.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vlprompt.clip import PromptLearner, class_prompts, clip_dtype, encode_class_prompts
from vlprompt.config import bool_as_string, declare, declare_coercion
from vlprompt.engine import TRAINER_REGISTRY
from vlprompt.trainers.coop import CoOp, CoOpCLIP

# htyao89/KgCoOp, trainers/kgcoop.py CUSTOM_TEMPLATES (differs from CoOp's table for DTD).
KGCOOP_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "a photo of a {}, a type of texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
OFFICIAL_CTX_INIT = "a photo of a"  # what CTX_INIT True means for KgCoOp and TCP (hard-coded there)


def kg_loss(text_features: torch.Tensor, clip_text_features: torch.Tensor) -> torch.Tensor:
    """1 - mean over classes of cos(learned, hand-crafted) (cosine eps 1e-7, as the official code), in fp32."""
    cos = F.cosine_similarity(text_features.float(), clip_text_features.float(), dim=-1, eps=1e-7)
    return 1.0 - cos.mean()


class KgCoOpCLIP(CoOpCLIP):
    """CoOp's model + the frozen hand-crafted class text features (a buffer, not saved: rebuilt per run)."""

    def __init__(self, clip_model, prompt_learner: PromptLearner, clip_text_features: torch.Tensor):
        super().__init__(clip_model, prompt_learner)
        self.register_buffer("clip_text_features", clip_text_features, persistent=False)

    def forward_train(self, image: torch.Tensor):
        """(logits, normalised class text features) from one encoding of the prompts."""
        text = self.text_features()
        return self.logits(self.encode_image(image), text), text


@TRAINER_REGISTRY.register()
class KgCoOp(CoOp):
    # Created (unused) by the official prompt learner and saved in its checkpoints.
    ignored_checkpoint_keys = ("bias_vectors", "meta_net.linear1.weight", "meta_net.linear1.bias")
    hand_crafted_templates = KGCOOP_TEMPLATES

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare(cfg, "TRAINER.COOP", W=1.0)  # weight of the KG term (released scripts: 8.0)
        # The official configs set CTX_INIT to a boolean; CoOp's key is a string (see the module docstring).
        declare_coercion(cfg, "TRAINER.COOP.CTX_INIT", bool_as_string)

    @classmethod
    def base2new_shots_folder(cls, cfg, shots: int) -> str:
        return f"shots_{shots}_{cfg.TRAINER.COOP.W}"  # the official scripts' shots_16_8.0

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        position = cfg.TRAINER.COOP.CLASS_TOKEN_POSITION
        if position != "end":
            raise ValueError(f'{type(self).__name__} puts the class name at the end of its prompts: '
                             f'TRAINER.COOP.CLASS_TOKEN_POSITION must be "end", got "{position}"')

    def ctx_init(self) -> str:
        """CTX_INIT as words: True -> the official "a photo of a"; "" -> random; other -> those words."""
        value = self.cfg.TRAINER.COOP.CTX_INIT
        return OFFICIAL_CTX_INIT if value == "True" else value

    def build_prompt_learner(self, classnames, clip_model) -> PromptLearner:
        c = self.cfg.TRAINER.COOP
        return PromptLearner(clip_model, classnames, n_ctx=c.N_CTX, ctx_init=self.ctx_init(), csc=c.CSC,
                             dtype=clip_dtype(clip_model), fast=self.fast_text)

    def hand_crafted_features(self, classnames, clip_model) -> torch.Tensor:
        """Normalised features of the hand-crafted prompts, encoded once in the CLIP's own precision."""
        template = self.hand_crafted_templates.get(self.cfg.DATASET.NAME, self.dm.dataset.template)
        prompts = class_prompts(template, classnames)
        print(f"Hand-crafted prompts ({len(prompts)}): {prompts[:3]}{' ...' if len(prompts) > 3 else ''}")
        return encode_class_prompts(clip_model, classnames, [template]).to(clip_dtype(clip_model))

    def build_custom_clip(self, classnames, clip_model):
        feats = self.hand_crafted_features(classnames, clip_model)
        return KgCoOpCLIP(clip_model, self.build_prompt_learner(classnames, clip_model), feats)

    @property
    def kg_weight(self) -> float:
        return self.cfg.TRAINER.COOP.W

    def loss_terms(self, image: torch.Tensor, label: torch.Tensor) -> dict:
        """{"ce", "kg", "loss" = ce + weight * kg, "logits"} of a batch (run under the trainer's autocast)."""
        logits, text = self.model.forward_train(image)
        ce = F.cross_entropy(logits.float(), label)
        kg = kg_loss(text, self.model.clip_text_features)
        return {"ce": ce, "kg": kg, "loss": ce + self.kg_weight * kg, "logits": logits}

    def compute_loss(self, image: torch.Tensor, label: torch.Tensor):
        terms = self.loss_terms(image, label)
        return terms["loss"], terms["logits"]

    def method_details(self) -> str:
        pl = self.model.prompt_learner
        return f"M={pl.n_ctx}, {'CSC' if pl.csc else 'unified'}, W={self.kg_weight:g}"
