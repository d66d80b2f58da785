"""Trainer registry and ``build_trainer``; trainers in the top-level ``trainers/`` folder self-register."""
from __future__ import annotations

from vlprompt.config.plugins import missing_declared_keys
from vlprompt.plugins import discover
from vlprompt.utils.registry import Registry

TRAINER_REGISTRY = Registry("TRAINER", discover=lambda: discover("trainers"))


def build_trainer(cfg, data=None):
    """Instantiate the trainer registered under ``cfg.TRAINER.NAME`` (``data``: see SimpleTrainer)."""
    if not cfg.TRAINER.NAME:
        raise ValueError(f"TRAINER.NAME is empty: pass --trainer (registered: {TRAINER_REGISTRY.registered_names()})")
    cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    missing = missing_declared_keys(cfg, cls)
    if missing:
        raise KeyError(
            f"The config lacks keys {cls.__name__} declares ({missing[:5]}{' ...' if len(missing) > 5 else ''}): "
            "build it with vlprompt.config.get_cfg() or setup_cfg(), which attach every trainer's keys"
        )
    if cfg.VERBOSE:
        print(f"Loading trainer: {cfg.TRAINER.NAME}")
    return cls(cfg) if data is None else cls(cfg, data=data)
