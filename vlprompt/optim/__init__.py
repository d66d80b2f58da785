"""Optimisers, per-epoch learning-rate schedules (with constant/linear warm-up) and a per-iteration cosine."""
from .lr_scheduler import AVAILABLE_LR_SCHEDULERS, EpochLRScheduler, IterationCosineLR, build_lr_scheduler
from .optimizer import AVAILABLE_OPTIMIZERS, build_optimizer

__all__ = ["build_optimizer", "build_lr_scheduler", "EpochLRScheduler", "IterationCosineLR", "AVAILABLE_OPTIMIZERS",
           "AVAILABLE_LR_SCHEDULERS"]
