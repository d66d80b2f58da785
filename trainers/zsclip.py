"""Zero-shot CLIP: the dataset's hand-written template (ZeroshotCLIP) or the ImageNet ensemble (ZeroshotCLIP2).

No training and no registered model: run with ``--eval-only`` and no ``--model-dir``. The template is
the dataset reader's (``DatasetBase.template``). Runs with the CoOp configs (``configs/trainers/CoOp/``).
"""
import torch

from vlprompt.clip import (
    IMAGENET_TEMPLATES_SELECT,
    FixedTextCLIP,
    build_clip_from_cfg,
    class_prompts,
    encode_class_prompts,
)
from vlprompt.engine import TRAINER_REGISTRY
from vlprompt.engine.trainer import TrainerX


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    config_dir = "CoOp"  # the original zeroshot.sh runs with configs/trainers/CoOp/<cfg>.yaml

    def templates(self) -> list:
        return [self.dm.dataset.template]

    def build_model(self) -> None:
        clip_model = build_clip_from_cfg(self.cfg)
        self.precision = "fp16" if self.device.type == "cuda" else "fp32"
        if self.device.type != "cuda":
            clip_model.float()  # CLIP as built is fp16, which the CPU does not run well
        clip_model.to(self.device)
        classnames = self.dm.dataset.classnames
        templates = self.templates()
        if len(templates) > 1:
            print(f"Prompt ensembling (n={len(templates)})")
        else:
            print(f"Prompts: {class_prompts(templates[0], classnames)}")
        text_features = encode_class_prompts(clip_model, classnames, templates)
        self.model = FixedTextCLIP(clip_model, text_features).to(self.device)
        self.model.eval()

    @torch.no_grad()
    def model_inference(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image).float()


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Prompt ensembling over the 7 selected ImageNet templates (+ the dataset's own, except ImageNet)."""

    def templates(self) -> list:
        templates = list(IMAGENET_TEMPLATES_SELECT)  # a copy: the reference's in-place append grew per build
        if self.cfg.DATASET.NAME != "ImageNet":
            templates.append(self.dm.dataset.template)
        return templates
