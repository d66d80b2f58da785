"""Optional augmentation of training batches on the run's device (``INPUT.GPU_AUGMENT True``).

With the few-shot training set decoded once (``DATALOADER.DECODED_CACHE_MB``), the remaining per-step
data cost is the augmentation itself: PIL's resized crop of every image on the CPU. Here the decoded
images are kept as uint8 tensors on the device and each batch's random resized crops, flips and
normalisation are computed there, so the loader only hands over indices and labels.

It is NOT numerically the original pipeline, and therefore off by default:
- the crop is resampled by torchvision's tensor kernels (antialiased bilinear / bicubic), not by PIL's
  (their filters and rounding differ slightly: pixel values differ by a few levels out of 255);
- crop boxes and flips are drawn from a generator of their own (seeded per epoch from the global torch
  RNG, so same seed -> same numbers, and a resumed run draws what an uninterrupted one would), not
  from the workers' Python ``random`` stream, so the boxes are not those the PIL pipeline draws.
The box distribution is RandomResizedCrop's (area fraction in ``INPUT.RRCROP_SCALE``, log-uniform aspect
ratio in [3/4, 4/3], 10 tries, then the central crop of the closest allowed ratio).
Supported training transforms: ``random_resized_crop`` (required), ``random_flip``, ``normalize``.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

import torch
from PIL import Image

SUPPORTED = ("random_resized_crop", "random_flip", "normalize")
RATIO = (3.0 / 4.0, 4.0 / 3.0)


def check_gpu_augment(cfg, n_train: int, n_decoded: int) -> None:
    """Raise a ValueError naming the setting to change when ``INPUT.GPU_AUGMENT`` cannot apply."""
    transforms = list(cfg.INPUT.TRANSFORMS)
    unsupported = [t for t in transforms if t not in SUPPORTED]
    if unsupported or "random_resized_crop" not in transforms:
        raise ValueError(f"INPUT.GPU_AUGMENT supports the training transforms {list(SUPPORTED)} with random_resized_crop; "
                         f"got INPUT.TRANSFORMS {transforms}: set INPUT.GPU_AUGMENT False for these transforms")
    if cfg.DATALOADER.K_TRANSFORMS != 1 or cfg.DATALOADER.RETURN_IMG0:
        raise ValueError("INPUT.GPU_AUGMENT needs DATALOADER.K_TRANSFORMS 1 and DATALOADER.RETURN_IMG0 False")
    if n_decoded < n_train:
        raise ValueError(f"INPUT.GPU_AUGMENT needs every training image decoded: {n_decoded} of {n_train} fit in "
                         f"DATALOADER.DECODED_CACHE_MB {cfg.DATALOADER.DECODED_CACHE_MB}; raise it or set "
                         "INPUT.GPU_AUGMENT False")


def crop_box(height: int, width: int, scale: Tuple[float, float], generator: torch.Generator) -> Tuple[int, int, int, int]:
    """(top, left, h, w) of a random resized crop, RandomResizedCrop's distribution, from ``generator``."""
    area = height * width
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        u = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    ratio = width / height  # fallback: central crop at the closest allowed aspect ratio
    if ratio < RATIO[0]:
        w, h = width, int(round(width / RATIO[0]))
    elif ratio > RATIO[1]:
        h, w = height, int(round(height * RATIO[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class BatchAugmenter:
    """Decoded training images (uint8, on the device) -> augmented, normalised batches (B, 3, S, S)."""

    def __init__(self, cfg, images: Sequence[Image.Image], device: torch.device):
        from torchvision.transforms import InterpolationMode

        self.device = device
        self.size = list(cfg.INPUT.SIZE)
        self.scale = tuple(cfg.INPUT.RRCROP_SCALE)
        self.flip = "random_flip" in cfg.INPUT.TRANSFORMS
        self.interpolation = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                              "nearest": InterpolationMode.NEAREST}[cfg.INPUT.INTERPOLATION]
        normalize = "normalize" in cfg.INPUT.TRANSFORMS
        self.mean = torch.tensor(cfg.INPUT.PIXEL_MEAN if normalize else [0.0] * 3, device=device).view(3, 1, 1)
        self.std = torch.tensor(cfg.INPUT.PIXEL_STD if normalize else [1.0] * 3, device=device).view(3, 1, 1)
        self.images: List[torch.Tensor] = [
            torch.from_numpy(_as_array(img)).permute(2, 0, 1).contiguous().to(device) for img in images]

    def __call__(self, indices: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        out = []
        for idx in indices:
            img = self.images[int(idx)]
            top, left, h, w = crop_box(img.shape[1], img.shape[2], self.scale, generator)
            crop = F.resized_crop(img, top, left, h, w, self.size, interpolation=self.interpolation, antialias=True)
            if self.flip and bool(torch.rand(1, generator=generator) < 0.5):
                crop = crop.flip(-1)
            out.append(crop)
        batch = torch.stack(out).float().div_(255.0)
        return (batch - self.mean) / self.std


def _as_array(img: Image.Image):
    import numpy as np

    return np.array(img.convert("RGB"), dtype=np.uint8)  # a writable copy


class GPUAugmentedLoader:
    """A training loader whose batches get their images from a :class:`BatchAugmenter`.

    Every epoch (each ``iter``) seeds the crop generator from the global torch RNG, as a fresh
    DataLoader draws its workers' base seed: same seed -> same batches, and resumed runs match.
    """

    def __init__(self, loader, augmenter: BatchAugmenter):
        self.loader = loader
        self.augmenter = augmenter

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):  # sampler, dataset, batch_size, ... of the wrapped loader
        return getattr(self.loader, name)

    def __iter__(self):
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator().manual_seed(seed)
        for batch in self.loader:
            if batch is None:
                yield batch
                continue
            batch["img"] = self.augmenter(batch["index"].tolist(), generator)
            yield batch


def decoded_in_order(data_source, decoded: Dict[str, Image.Image]) -> List[Image.Image]:
    return [decoded[item.impath] for item in data_source]
