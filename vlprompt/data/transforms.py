"""Image transforms of the reference (Dassl ``build_transform``) for the names CoOp-family configs use."""
from __future__ import annotations

from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}
RESIZE_MODES = ("shortest", "squash")
SUPPORTED_TRANSFORMS = ("random_resized_crop", "random_crop", "random_flip", "center_crop", "normalize")


def build_transform(cfg, is_train: bool = True, choices=None):
    """Train: [resize] / random_resized_crop / random_crop, random_flip, ToTensor, normalize.
    Test: resize shorter side to max(SIZE), center crop, ToTensor, normalize (``INPUT.RESIZE_MODE`` "squash":
    resize the whole image to SIZE, as open_clip does for SigLIP and PE-Core).

    The order is fixed by the code, not by the order of ``INPUT.TRANSFORMS`` (as the reference).
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    choices = list(cfg.INPUT.TRANSFORMS if choices is None else choices)
    unknown = [c for c in choices if c not in SUPPORTED_TRANSFORMS]
    if unknown:
        raise ValueError(f"Unknown INPUT.TRANSFORMS {unknown}; supported: {list(SUPPORTED_TRANSFORMS)}")
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ValueError(
            f'INPUT.INTERPOLATION must be one of {list(INTERPOLATION_MODES)}, got "{cfg.INPUT.INTERPOLATION}"'
        )
    if cfg.INPUT.RESIZE_MODE not in RESIZE_MODES:
        raise ValueError(f'INPUT.RESIZE_MODE must be one of {list(RESIZE_MODES)}, got "{cfg.INPUT.RESIZE_MODE}"')
    interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    size = tuple(cfg.INPUT.SIZE)
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)

    tfm = []
    if is_train:
        if "random_crop" not in choices and "random_resized_crop" not in choices:
            tfm.append(T.Resize(size, interpolation=interp))
        if "random_crop" in choices:
            tfm.append(T.RandomCrop(size, padding=cfg.INPUT.CROP_PADDING))
        if "random_resized_crop" in choices:
            tfm.append(T.RandomResizedCrop(size, scale=tuple(cfg.INPUT.RRCROP_SCALE), interpolation=interp))
        if "random_flip" in choices:
            tfm.append(T.RandomHorizontalFlip())
    elif cfg.INPUT.RESIZE_MODE == "squash":  # open_clip's "squash" (SigLIP, PE): the whole image, resized
        tfm.append(T.Resize(size, interpolation=interp))
    else:
        tfm.append(T.Resize(max(size), interpolation=interp))
        tfm.append(T.CenterCrop(size))
    tfm.append(T.ToTensor())
    if "normalize" in choices:
        tfm.append(normalize)
    return T.Compose(tfm)
