"""Seeding, folders, atomic writes and environment info.

torch is imported inside the functions that need it, so the data tools (readers, split helpers,
scripts/datasets/prepare.py) can use the atomic writes without loading torch.
"""
from __future__ import annotations

import os
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np


def set_random_seed(seed: int) -> None:
    """Seed Python ``random``, NumPy and torch (CPU and all CUDA devices) with the same value."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def mkdir_if_missing(path) -> None:
    os.makedirs(path, exist_ok=True)


# The temporary files of _atomic_write: ".<target name>.<8 random characters of mkstemp>.tmp". One left
# behind means a save was killed half-way; vlprompt.utils.run_guard removes them when a run starts.
ATOMIC_TEMP_PATTERN = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def is_atomic_temp_file(name: str) -> bool:
    """Whether a file name is one of :func:`_atomic_write`'s temporary files."""
    return ATOMIC_TEMP_PATTERN.match(name) is not None


def _atomic_write(path, write_fn, mode: str) -> None:
    # Removed again on any exception; train.py turns SIGTERM into SystemExit so a terminated run does too.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` to a temporary file then rename, so a crash never leaves a half-written file."""
    import torch

    _atomic_write(path, lambda f: torch.save(obj, f), "wb")


def atomic_write_text(path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text), "w")


def atomic_write_bytes(path, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data), "wb")


def collect_env_info() -> str:
    import platform

    import torch

    lines = [
        f"Python: {sys.version.split()[0]}",
        f"Platform: {platform.platform()}",
        f"PyTorch: {torch.__version__}",
        f"CUDA available: {torch.cuda.is_available()}",
    ]
    if torch.cuda.is_available():
        lines.append(f"GPU: {torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}")
    try:
        import open_clip

        lines.append(f"open_clip: {open_clip.__version__}")
    except Exception:  # pragma: no cover - informational only
        pass
    return "\n".join(lines)
