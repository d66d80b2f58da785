"""Trainer registry and ``build_trainer``; trainers in the top-level ``trainers/`` folder self-register."""
from __future__ import annotations

from vlprompt.plugins import discover
from vlprompt.utils.registry import Registry

TRAINER_REGISTRY = Registry("TRAINER", discover=lambda: discover("trainers"))


def build_trainer(cfg):
    """Instantiate the trainer registered under ``cfg.TRAINER.NAME``."""
    if not cfg.TRAINER.NAME:
        raise ValueError(f"TRAINER.NAME is empty: pass --trainer (registered: {TRAINER_REGISTRY.registered_names()})")
    if cfg.VERBOSE:
        print(f"Loading trainer: {cfg.TRAINER.NAME}")
    return TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg)
