"""The MiniCLIP world: procedurally rendered images of one object with attributes, and their captions.

An object has a shape, a colour, a size, a fill pattern and a position; it sits on a background.
Everything is drawn from a ``numpy.random.Generator`` (so a seed fixes images and captions on every
machine) and rendered with PIL at 4x the output resolution, then area-downsampled (anti-aliased).

``Style`` holds the rendering knobs a downstream domain may change (outline drawing, background,
noise, contrast, ...); pretraining uses :data:`PRETRAIN_STYLE`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

IMAGE_SIZE = 32  # the MiniCLIP resolution (INPUT.SIZE of the mini configs)
SUPERSAMPLE = 4

SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond", "heart", "ring", "moon", "arrow")
COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (240, 135, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "teal": (20, 150, 150),
    "blue": (40, 80, 230),
    "purple": (135, 55, 200),
    "pink": (245, 125, 190),
    "brown": (125, 75, 35),
    "white": (240, 240, 240),
}
SIZES = ("small", "large")
PATTERNS = ("plain", "striped", "dotted")
POSITIONS = ("middle", "left", "right", "top", "bottom")
BACKGROUNDS = ("dark", "light")

# Fraction of the image side covered by the object's bounding circle diameter.
_SIZE_RANGE = {"small": (0.36, 0.46), "large": (0.62, 0.80)}
_POSITION_CENTRE = {"middle": (0.5, 0.5), "left": (0.27, 0.5), "right": (0.73, 0.5), "top": (0.5, 0.27),
                    "bottom": (0.5, 0.73)}


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str = "large"
    pattern: str = "plain"
    position: str = "middle"
    background: str = "dark"


@dataclass(frozen=True)
class Style:
    """Rendering knobs. Defaults = the pretraining look."""

    outline: float = 0.0  # > 0: draw only the outline, this fraction of the object radius thick
    noise: float = 4.0  # Gaussian pixel noise (0-255 scale)
    contrast: float = 1.0  # scales (image - grey) after rendering
    blur: float = 0.0  # Gaussian blur radius at output resolution
    colour_jitter: float = 14.0  # per-object RGB jitter
    hue_shift: float = 0.0  # rotate object hues (degrees) -- a "tinted light" shift
    bg_texture: float = 0.0  # amplitude of a sinusoidal background texture
    dark_range: Tuple[int, int] = (0, 60)
    light_range: Tuple[int, int] = (185, 245)


PRETRAIN_STYLE = Style()


# ----------------------------------------------------------------------------- geometry
def _polygon(shape: str, n: int = 48) -> List[Tuple[float, float]]:
    """Outline of a filled shape in unit coordinates (bounding circle radius 1, y down)."""
    if shape == "square":
        s = 0.78
        return [(-s, -s), (s, -s), (s, s), (-s, s)]
    if shape == "triangle":
        return [(math.cos(math.radians(a)), math.sin(math.radians(a)) + 0.2) for a in (-90, 30, 150)]
    if shape == "star":
        pts = []
        for i in range(10):
            r = 1.0 if i % 2 == 0 else 0.45
            a = math.radians(-90 + 36 * i)
            pts.append((r * math.cos(a), r * math.sin(a) + 0.08))
        return pts
    if shape == "cross":
        a, b = 0.3, 0.95
        return [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
    if shape == "diamond":
        return [(0, -1), (0.68, 0), (0, 1), (-0.68, 0)]
    if shape == "heart":
        pts = []
        for i in range(n):
            t = 2 * math.pi * i / n
            x = 16 * math.sin(t) ** 3
            y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
            pts.append((x / 17.0, y / 17.0 + 0.12))
        return pts
    if shape == "arrow":
        return [(0, -1), (0.75, -0.15), (0.28, -0.15), (0.28, 1), (-0.28, 1), (-0.28, -0.15), (-0.75, -0.15)]
    raise ValueError(shape)


def _rotate(pts, angle: float, cx: float, cy: float, r: float):
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in pts]


def _mask(shape: str, H: int, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    m = Image.new("L", (H, H), 0)
    d = ImageDraw.Draw(m)
    if shape in ("circle", "ring"):
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        if shape == "ring":
            q = 0.55 * r
            d.ellipse([cx - q, cy - q, cx + q, cy + q], fill=0)
    elif shape == "moon":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ox, oy = _rotate([(0.5, -0.25)], angle, cx, cy, r)[0]
        q = 0.85 * r
        d.ellipse([ox - q, oy - q, ox + q, oy + q], fill=0)
    else:
        d.polygon(_rotate(_polygon(shape), angle, cx, cy, r), fill=255)
    return m


# ----------------------------------------------------------------------------- colour helpers
def _hue_rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate hue of (..., 3) RGB values in [0, 255] about the grey axis (keeps luminance roughly)."""
    if not degrees:
        return rgb
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    k = 1 / 3
    sq = math.sqrt(k)
    m = np.array([
        [c + (1 - c) * k, k * (1 - c) - sq * s, k * (1 - c) + sq * s],
        [k * (1 - c) + sq * s, c + k * (1 - c), k * (1 - c) - sq * s],
        [k * (1 - c) - sq * s, k * (1 - c) + sq * s, c + k * (1 - c)],
    ])
    return np.clip(rgb @ m.T, 0, 255)


# ----------------------------------------------------------------------------- rendering
@lru_cache(maxsize=8)
def _grid(n: int) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    return yy, xx


def _pool(a: np.ndarray, k: int) -> np.ndarray:
    n = a.shape[0] // k
    return a.reshape(n, k, n, k).mean(axis=(1, 3))


def render(obj: Obj, rng: np.random.Generator, style: Style = PRETRAIN_STYLE, size: int = IMAGE_SIZE) -> Image.Image:
    """Render ``obj`` (random jitter from ``rng``) to an RGB ``size`` x ``size`` image.

    The object's coverage and fill pattern are computed at SUPERSAMPLE x the resolution and
    area-averaged; compositing onto the (smooth) background is then done at the output resolution,
    which equals compositing at high resolution followed by a box downsample.
    """
    H = size * SUPERSAMPLE
    # geometry
    lo, hi = _SIZE_RANGE[obj.size]
    r = 0.5 * H * rng.uniform(lo, hi)
    px, py = _POSITION_CENTRE[obj.position]
    jitter = 0.06 if obj.position == "middle" else 0.04
    cx = H * (px + rng.uniform(-jitter, jitter))
    cy = H * (py + rng.uniform(-jitter, jitter))
    cx = min(max(cx, r), H - r)
    cy = min(max(cy, r), H - r)
    angle = math.radians(rng.uniform(-12, 12))
    mask = _mask(obj.shape, H, cx, cy, r, angle)
    if style.outline > 0:
        k = max(3, int(round(style.outline * r)) | 1)
        inner = mask.filter(ImageFilter.MinFilter(k))
        mask = Image.fromarray(np.asarray(mask) - np.asarray(inner))
    alpha = np.asarray(mask, np.float32) * (1 / 255.0)

    # fill pattern: a brightness factor per high-resolution pixel
    base = np.array(COLOURS[obj.colour], np.float32) + rng.normal(0, style.colour_jitter, 3)
    base = _hue_rotate(np.clip(base, 0, 255), style.hue_shift).astype(np.float32)
    if obj.pattern == "striped":
        yy, xx = _grid(H)
        theta = rng.choice([0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4]) + rng.uniform(-0.15, 0.15)
        period = rng.uniform(0.30, 0.42) * r
        u = (xx * (math.cos(theta) / period) + yy * (math.sin(theta) / period)) + rng.uniform(0, 1)
        factor = np.where((u % 1.0) < 0.5, np.float32(0.3), np.float32(1.0))
        cover = _pool(alpha * factor, SUPERSAMPLE)
    elif obj.pattern == "dotted":
        yy, xx = _grid(H)
        period = rng.uniform(0.34, 0.44) * r
        ox, oy = rng.uniform(0, period, 2)
        dx = ((xx + ox) % period) - period / 2
        dy = ((yy + oy) % period) - period / 2
        factor = np.where(dx * dx + dy * dy < (0.28 * period) ** 2, np.float32(0.25), np.float32(1.0))
        cover = _pool(alpha * factor, SUPERSAMPLE)
    else:
        cover = None
    a = _pool(alpha, SUPERSAMPLE)
    if cover is None:
        cover = a

    # background at the output resolution
    yy, xx = _grid(size)
    lo_b, hi_b = style.dark_range if obj.background == "dark" else style.light_range
    bg_base = rng.uniform(lo_b, hi_b, 3).astype(np.float32)
    grad = rng.uniform(-12, 12, 2)
    shade = (xx + 0.5) / size - 0.5
    bg = bg_base + (shade * grad[0] + ((yy + 0.5) / size - 0.5) * grad[1])[..., None]
    if style.bg_texture:
        theta = rng.uniform(0, math.pi)
        freq = rng.uniform(0.6, 1.2) * 2 * math.pi / (size / 6)
        wave = np.sin(((xx + 0.5) * math.cos(theta) + (yy + 0.5) * math.sin(theta)) * freq + rng.uniform(0, 6.3))
        bg = bg + style.bg_texture * wave[..., None] * np.array([1.0, 0.9, 0.8], np.float32)

    img = bg * (1 - a)[..., None] + cover[..., None] * base
    if style.blur:
        img = np.asarray(Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(style.blur)), np.float32)
    if style.contrast != 1.0:
        img = 128 + (img - 128) * style.contrast
    if style.noise:
        img = img + rng.normal(0, style.noise, img.shape)
    return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))


# ----------------------------------------------------------------------------- sampling and captions
_SIZE_WORDS = {"small": ("small", "small", "tiny"), "large": ("large", "large", "big")}
_PATTERN_WORDS = {"plain": ("plain", "solid"), "striped": ("striped",), "dotted": ("dotted",)}
_POSITION_PHRASES = {
    "middle": ("in the middle", "in the center"),
    "left": ("on the left",),
    "right": ("on the right",),
    "top": ("at the top",),
    "bottom": ("at the bottom",),
}
_BG_PHRASES = {"dark": ("on a dark background", "on black"), "light": ("on a light background", "on white")}
_TEMPLATES = (
    "a {}.",
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "{}.",
    "there is a {}.",
    "a rendering of a {}.",
    "a drawing of a {}.",
)


def sample_object(rng: np.random.Generator) -> Obj:
    """An object from the pretraining distribution."""
    size = SIZES[rng.integers(len(SIZES))]
    position = "middle" if size == "large" else POSITIONS[rng.integers(len(POSITIONS))]
    return Obj(
        shape=SHAPES[rng.integers(len(SHAPES))],
        colour=list(COLOURS)[rng.integers(len(COLOURS))],
        size=size,
        pattern=PATTERNS[rng.choice(3, p=[0.5, 0.25, 0.25])],
        position=position,
        background=BACKGROUNDS[int(rng.random() < 0.25)],
    )


def _pick(rng, options: Sequence[str]) -> str:
    return options[rng.integers(len(options))]


def describe(obj: Obj, rng: np.random.Generator) -> Tuple[str, Dict[str, str]]:
    """A caption naming some of the object's attributes (shape almost always, colour usually), and
    the attributes it states ({attribute: value}): the caption is true of every object that has them."""
    facts: Dict[str, str] = {}
    words = []
    if rng.random() < 0.5:
        words.append(_pick(rng, _SIZE_WORDS[obj.size]))
        facts["size"] = obj.size
    if rng.random() < (0.6 if obj.pattern != "plain" else 0.2):
        words.append(_pick(rng, _PATTERN_WORDS[obj.pattern]))
        facts["pattern"] = obj.pattern
    if rng.random() < 0.9:
        words.append(obj.colour)
        facts["colour"] = obj.colour
    if rng.random() < 0.97:
        words.append(obj.shape)
        facts["shape"] = obj.shape
    else:
        words.append("shape")
    phrase = " ".join(words)
    extras = []
    if obj.position != "middle" and rng.random() < 0.5 or obj.position == "middle" and rng.random() < 0.15:
        extras.append(_pick(rng, _POSITION_PHRASES[obj.position]))
        facts["position"] = obj.position
    if rng.random() < 0.3:
        extras.append(_pick(rng, _BG_PHRASES[obj.background]))
        facts["background"] = obj.background
    rng.shuffle(extras)
    if extras:
        phrase = phrase + " " + " ".join(extras)
    text = _pick(rng, _TEMPLATES).format(phrase)
    # Sometimes a second sentence, so that long prompts (learned contexts of 16 tokens) stay in the
    # positions the text encoder was trained on.
    if rng.random() < 0.25:
        sentences = [(f"it is {_pick(rng, _SIZE_WORDS[obj.size])}.", {"size": obj.size}),
                     (f"the {obj.shape} is {obj.colour}.", {"shape": obj.shape, "colour": obj.colour}),
                     (f"the background is {obj.background}.", {"background": obj.background}),
                     (f"the pattern is {obj.pattern}.", {"pattern": obj.pattern})]
        order = rng.permutation(len(sentences))[: 1 + rng.integers(2)]
        for i in order:
            text += " " + sentences[i][0]
            facts.update(sentences[i][1])
    return text, facts


def caption(obj: Obj, rng: np.random.Generator) -> str:
    return describe(obj, rng)[0]


def is_true_of(facts: Dict[str, str], obj: Obj) -> bool:
    return all(getattr(obj, k) == v for k, v in facts.items())


def vocabulary_texts() -> List[str]:
    """Strings whose tokens make up every caption :func:`caption` can produce."""
    texts = [t.format("") for t in _TEMPLATES]
    texts += list(SHAPES) + ["shape"] + list(COLOURS) + list(BACKGROUNDS) + list(PATTERNS)
    for group in (_SIZE_WORDS, _PATTERN_WORDS, _POSITION_PHRASES, _BG_PHRASES):
        for options in group.values():
            texts += list(options)
    texts += ["it is .", "the is .", "the background is .", "the pattern is ."]
    return texts


def pretrain_batch(seed: int, step: int, batch_size: int, size: int = IMAGE_SIZE) -> Tuple[List[Image.Image], List[str]]:
    """The images and captions of one pretraining step (a pure function of seed and step)."""
    rng = np.random.default_rng([seed, step])
    images, texts = [], []
    for _ in range(batch_size):
        obj = sample_object(rng)
        texts.append(caption(obj, rng))
        images.append(render(obj, rng, PRETRAIN_STYLE, size))
    return images, texts
