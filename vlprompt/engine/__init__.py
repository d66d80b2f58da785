"""Training engine: trainer base classes, the trainer registry, checkpoints."""
from .build import TRAINER_REGISTRY, build_trainer
from .checkpoint import load_checkpoint, resume_from_checkpoint, save_checkpoint
from .trainer import TrainerBase, TrainerX

__all__ = ["TRAINER_REGISTRY", "build_trainer", "TrainerBase", "TrainerX", "load_checkpoint",
           "save_checkpoint", "resume_from_checkpoint"]
from .clip_trainer import CLIPTrainer, compute_accuracy, load_pretrained_weights, resolve_precision  # noqa: E402

__all__ += ["CLIPTrainer", "compute_accuracy", "resolve_precision", "load_pretrained_weights"]
