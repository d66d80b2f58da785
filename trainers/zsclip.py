"""Zero-shot CLIP: a hand-written template per dataset (ZeroshotCLIP) or the ImageNet ensemble (ZeroshotCLIP2).

No training and no registered model: run with ``--eval-only`` and no ``--model-dir``.
"""
import torch
import torch.nn.functional as F

from vlprompt.clip import PromptCLIP, build_clip_from_cfg, encode_texts
from vlprompt.engine import TRAINER_REGISTRY
from vlprompt.engine.trainer import TrainerX

CUSTOM_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
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
    # The built-in MiniCLIP world (vlprompt/mini/, docs/miniclip.md)
    "MiniShapes": "a photo of a {}.",
    "MiniShapesTinted": "a photo of a {}.",
    "MiniShades": "a photo of a {}.",
    "MiniLights": "a photo of a {}.",
}

# The 7 "selected" ImageNet templates of CLIP's prompt-engineering notebook, in the reference's order.
IMAGENET_TEMPLATES_SELECT = [
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
]


def dataset_template(dataset_name: str) -> str:
    """The hand-written template of a dataset; other datasets may register theirs in CUSTOM_TEMPLATES."""
    if dataset_name not in CUSTOM_TEMPLATES:
        raise KeyError(
            f'No hand-written template for dataset "{dataset_name}". Known: {sorted(CUSTOM_TEMPLATES)}; '
            "add one to trainers/zsclip.py CUSTOM_TEMPLATES."
        )
    return CUSTOM_TEMPLATES[dataset_name]


class FixedTextCLIP(PromptCLIP):
    def __init__(self, clip_model, text_features: torch.Tensor):
        super().__init__(clip_model)
        self.register_buffer("fixed_text_features", text_features)

    def text_features(self) -> torch.Tensor:
        return self.fixed_text_features


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    def templates(self) -> list:
        return [dataset_template(self.cfg.DATASET.NAME)]

    def build_model(self) -> None:
        clip_model = build_clip_from_cfg(self.cfg)
        if self.device.type != "cuda":
            clip_model.float()  # CLIP as built is fp16, which the CPU does not run well
        clip_model.to(self.device)
        classnames = [c.replace("_", " ") for c in self.dm.dataset.classnames]
        templates = self.templates()
        if len(templates) > 1:
            print(f"Prompt ensembling (n={len(templates)})")
        features = []
        for template in templates:
            prompts = [template.format(c) for c in classnames]
            if len(templates) == 1:
                print(f"Prompts: {prompts}")
            features.append(encode_texts(clip_model, prompts))
        text_features = F.normalize(torch.stack(features).mean(dim=0), dim=-1)
        self.model = FixedTextCLIP(clip_model, text_features).to(self.device)
        self.model.eval()

    def model_inference(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image).float()


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Prompt ensembling over the 7 selected ImageNet templates (+ the dataset's own, except ImageNet)."""

    def templates(self) -> list:
        templates = list(IMAGENET_TEMPLATES_SELECT)  # a copy: the reference's in-place append grew per build
        if self.cfg.DATASET.NAME != "ImageNet":
            templates.append(dataset_template(self.cfg.DATASET.NAME))
        return templates
