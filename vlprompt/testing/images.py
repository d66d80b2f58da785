"""Write small real image files whose content depends on a class (so models can learn something)."""
from __future__ import annotations

import os
import random

import numpy as np
from PIL import Image

_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128), (230, 190, 255),
]


def class_image(label: int, rng: random.Random, size: int = 32) -> Image.Image:
    """A noisy image whose colour and stripe orientation encode ``label`` (learnable, not trivial)."""
    base = np.array(_PALETTE[label % len(_PALETTE)], dtype=np.float32)
    arr = np.empty((size, size, 3), dtype=np.float32)
    arr[:] = base
    yy, xx = np.mgrid[0:size, 0:size]
    period = 4 + (label // len(_PALETTE)) % 4
    stripes = ((xx if label % 2 == 0 else yy) // period) % 2
    arr *= (0.6 + 0.4 * stripes)[..., None]
    nrng = np.random.default_rng(rng.randrange(2**31))
    arr += nrng.normal(0, 25, size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def save_image(path: str, label: int, rng: random.Random, size: int = 32) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = class_image(label, rng, size)
    ext = os.path.splitext(path)[1].lower()
    img.save(path, format="PNG" if ext == ".png" else "JPEG", quality=90)
    return path
