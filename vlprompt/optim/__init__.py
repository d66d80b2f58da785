"""Optimisers and per-epoch learning-rate schedules (with constant/linear warm-up)."""
from .optimizer import build_optimizer, AVAILABLE_OPTIMIZERS
from .lr_scheduler import build_lr_scheduler, EpochLRScheduler, AVAILABLE_LR_SCHEDULERS

__all__ = ["build_optimizer", "build_lr_scheduler", "EpochLRScheduler", "AVAILABLE_OPTIMIZERS", "AVAILABLE_LR_SCHEDULERS"]
