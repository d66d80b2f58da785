"""``results.json``: a machine-readable record of each run's final evaluation, next to ``log.txt``."""
from __future__ import annotations

import hashlib
import json
import os
import time

from .tools import atomic_write_text


def config_hash(cfg) -> str:
    """SHA-256 (first 16 hex digits) of the full config dump: equal configs, equal hash."""
    return hashlib.sha256(cfg.dump().encode()).hexdigest()[:16]


def write_results(cfg, metrics: dict, split: str, method: str, device: str, wall_time: float,
                  world_size: int = 1, status: str = "completed", **extra) -> str:
    """Write ``<OUTPUT_DIR>/results.json`` atomically; returns its path.

    ``status`` is "completed" after the final evaluation, or "failed" (with ``error``) when the run
    stopped, e.g. diverged; the launcher (vlprompt/launch.py) treats only "completed" runs as finished.
    ``extra`` holds what the trainer knows of the run (precision used, images evaluated and skipped,
    shots obtained per class, ...).
    """
    out_dir = cfg.OUTPUT_DIR
    if out_dir.endswith(".txt") or out_dir.endswith(".log"):
        out_dir = os.path.dirname(out_dir)
    record = {
        "status": status,
        "config_hash": config_hash(cfg),
        "trainer": cfg.TRAINER.NAME,
        "method": method,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "dataset": cfg.DATASET.NAME,
        "shots": cfg.DATASET.NUM_SHOTS,
        "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
        "seed": cfg.SEED,
        "split": split,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "wall_time_s": round(wall_time, 3),
        "device": device,
        "world_size": world_size,
        "output_dir": os.path.abspath(out_dir),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
    }
    path = os.path.join(out_dir, "results.json")
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path
