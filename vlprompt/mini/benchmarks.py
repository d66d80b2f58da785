"""Downstream benchmarks of the MiniCLIP world, generated on first use into ``DATASET.ROOT``.

Each benchmark is a folder-per-class image tree ``<root>/<dataset_dir>/images/<folder>/<n>.png`` plus the
reference split file ``split_zhou_<Name>.json`` (50/20/30 per class, written by the shared helpers from
a fixed seed), so the few-shot, base/new and cross-dataset protocols work exactly as on the real
benchmarks. Folder names carry a two-digit prefix that fixes the label order; class names are the
plain attribute words ("red circle"). The order interleaves attribute values so that the base half
(the first ceil(n/2) labels) and the novel half each contain every attribute value.

Generation is deterministic (seeded per benchmark and image) and takes a few seconds; it is written to a
temporary folder and renamed into place, so concurrent first uses do not clash.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from vlprompt.data.readers import FolderSplitDataset

from . import world
from .world import Obj, Style

WORLD_VERSION = 1  # bump when rendering or class lists change (generated folders then need deleting)
INFO_FILE = "mini_info.json"
SPLIT_SEED = 0


@dataclass(frozen=True)
class MiniClass:
    name: str  # class name used in prompts, e.g. "red circle"
    attrs: Tuple[Tuple[str, str], ...]  # fixed attributes, e.g. (("colour", "red"), ("shape", "circle"))
    cell: Tuple[int, int] = (0, 0)  # (row, column) in the attribute grid the classes come from

    @property
    def folder_name(self) -> str:
        return self.name.replace(" ", "_")


@dataclass(frozen=True)
class Benchmark:
    name: str  # registry / DATASET.NAME
    dataset_dir: str
    classes: Tuple[MiniClass, ...]  # in label order
    images_per_class: int
    seed: int
    style: Style = world.PRETRAIN_STYLE
    # Distribution of the attributes a class leaves free: {attribute: (values, probabilities)}
    free: Dict[str, Tuple[Tuple[str, ...], Tuple[float, ...]]] = field(default_factory=dict, hash=False, compare=False)
    # Class-specific shades, a distinction the captions' colour words never make: each class's hue is
    # rotated by U(lo, hi) degrees (drawn once per class from the benchmark's seed), towards warm (+) or
    # cool (-). shade_rule "checkerboard": warm where row + column of the class's grid cell is even,
    # cool where it is odd (the shade depends on colour and shape together); "random": a random sign.
    shade: Tuple[float, float] = (0.0, 0.0)
    shade_rule: str = "checkerboard"
    # Lighting that varies per image and shows in it: hues rotated by +light_shade degrees on a light
    # background and by -light_shade on a dark one, for every class alike (an instance-level shift).
    light_shade: float = 0.0
    description: str = ""

    def shade_offsets(self) -> List[float]:
        lo, hi = self.shade
        if not hi:
            return [0.0] * len(self.classes)
        rng = np.random.default_rng([self.seed, 7919])
        out = []
        for cls in self.classes:
            size = float(rng.uniform(lo, hi))
            sign = float(rng.choice([-1.0, 1.0]))
            if self.shade_rule == "checkerboard":
                sign = 1.0 if sum(cls.cell) % 2 == 0 else -1.0
            out.append(sign * size)
        return out

    @property
    def folders(self) -> List[str]:
        return [f"{i:02d}_{c.folder_name}" for i, c in enumerate(self.classes)]

    @property
    def classnames(self) -> List[str]:
        return [c.name for c in self.classes]

    def sample(self, cls: MiniClass, rng: np.random.Generator) -> Obj:
        attrs = {"shape": None, "colour": None, "size": None, "pattern": None, "position": None, "background": None}
        attrs.update(dict(cls.attrs))
        for key in attrs:
            if attrs[key] is None:
                values, probs = self.free.get(key, _DEFAULT_FREE[key])
                attrs[key] = values[rng.choice(len(values), p=probs)]
        if attrs["size"] == "large":
            attrs["position"] = "middle"
        return Obj(**attrs)

    def draws(self, label: int, n: int = None, start: int = 0) -> Iterator[Tuple[np.random.Generator, Obj]]:
        """(generator, object) of images ``start .. start+n-1`` of class ``label``, each from its own seed;
        the generator continues into the rendering."""
        n = self.images_per_class if n is None else n
        for i in range(start, start + n):
            rng = np.random.default_rng([self.seed, label, i])
            yield rng, self.sample(self.classes[label], rng)

    def images(self, label: int, n: int = None, start: int = 0):
        """The rendered images ``start .. start+n-1`` of class ``label``."""
        offset = self.shade_offsets()[label]
        out = []
        for rng, obj in self.draws(label, n, start):
            shift = offset + (self.light_shade if obj.background == "light" else -self.light_shade)
            style = replace(self.style, hue_shift=self.style.hue_shift + shift) if shift else self.style
            out.append(world.render(obj, rng, style))
        return out


def _uniform(values: Sequence[str]) -> Tuple[Tuple[str, ...], Tuple[float, ...]]:
    return tuple(values), tuple([1.0 / len(values)] * len(values))


_DEFAULT_FREE = {
    "shape": _uniform(world.SHAPES),
    "colour": _uniform(tuple(world.COLOURS)),
    "size": _uniform(world.SIZES),
    "pattern": (world.PATTERNS, (0.5, 0.25, 0.25)),
    "position": _uniform(world.POSITIONS),
    "background": (world.BACKGROUNDS, (0.75, 0.25)),
}


def interleaved(rows: Sequence[str], cols: Sequence[str], row_key: str, col_key: str,
                name: Callable[[str, str], str] = lambda r, c: f"{r} {c}") -> Tuple[MiniClass, ...]:
    """All (row, col) classes ordered so that the first half and the second half each contain every
    row value and every column value: the "checkerboard" cells (i + j even) first, then the rest."""
    cells = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
    first = [c for c in cells if (c[0] + c[1]) % 2 == 0]
    second = [c for c in cells if (c[0] + c[1]) % 2 == 1]
    if len(first) < len(second):
        first, second = second, first
    return tuple(MiniClass(name(rows[i], cols[j]), ((row_key, rows[i]), (col_key, cols[j])), (i, j))
                 for i, j in first + second)


def blocked(rows: Sequence[str], cols: Sequence[str], row_key: str, col_key: str,
            name: Callable[[str, str], str] = lambda r, c: f"{r} {c}") -> Tuple[MiniClass, ...]:
    """Like :func:`interleaved` on 2 x 2 blocks: rows (and columns) 0-1 pair with each other, as 2-3 do, so
    that each half holds every row and column value *and* neighbouring values (e.g. red and orange) of
    the same column. A class's ``cell`` is its block."""
    cells = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
    first = [c for c in cells if (c[0] // 2 + c[1] // 2) % 2 == 0]
    second = [c for c in cells if (c[0] // 2 + c[1] // 2) % 2 == 1]
    return tuple(MiniClass(name(rows[i], cols[j]), ((row_key, rows[i]), (col_key, cols[j])), (i // 2, j // 2))
                 for i, j in first + second)


# ----------------------------------------------------------------------------- on-disk generation
def generate(bench: Benchmark, dataset_dir: str) -> None:
    """Write ``images/<folder>/<n>.png`` and ``mini_info.json`` under ``dataset_dir`` (atomic rename)."""
    parent = os.path.dirname(os.path.abspath(dataset_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(dataset_dir)}.tmp-")
    try:
        for label, folder in enumerate(bench.folders):
            d = os.path.join(tmp, "images", folder)
            os.makedirs(d)
            for i, img in enumerate(bench.images(label)):
                img.save(os.path.join(d, f"{i:04d}.png"), optimize=False)
        info = {"name": bench.name, "world_version": WORLD_VERSION, "seed": bench.seed,
                "images_per_class": bench.images_per_class, "classes": bench.classnames,
                "description": bench.description}
        with open(os.path.join(tmp, INFO_FILE), "w") as f:
            json.dump(info, f, indent=2)
        try:
            os.rename(tmp, dataset_dir)
        except OSError:
            if not os.path.isdir(os.path.join(dataset_dir, "images")):
                raise
            shutil.rmtree(tmp)  # generated concurrently by another process
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_generated(bench: Benchmark, dataset_dir: str) -> None:
    info_path = os.path.join(dataset_dir, INFO_FILE)
    if not os.path.isdir(os.path.join(dataset_dir, "images")):
        if os.path.isdir(dataset_dir) and os.listdir(dataset_dir):
            leftovers = sorted(os.listdir(dataset_dir))
            if set(leftovers) - {"split_fewshot"}:
                raise RuntimeError(
                    f'"{dataset_dir}" exists without images/ ({leftovers}); delete it to regenerate {bench.name}.')
            shutil.rmtree(dataset_dir)
        n = bench.images_per_class
        print(f"Generating {bench.name} ({len(bench.classes)} classes x {n} images) in {dataset_dir}")
        generate(bench, dataset_dir)
        return
    if os.path.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
        same = (info.get("world_version"), info.get("seed"), info.get("classes")) == (
            WORLD_VERSION, bench.seed, bench.classnames)
        if not same:
            raise RuntimeError(
                f'"{dataset_dir}" was generated by another version of the MiniCLIP world (version '
                f"{info.get('world_version')}, this code: {WORLD_VERSION}); delete the folder to regenerate it.")


# ----------------------------------------------------------------------------- reader base class

class MiniDataset(FolderSplitDataset):
    """Reader of a MiniCLIP-world benchmark: generates the images on first use, then behaves exactly
    like the folder-per-class readers (split file, few-shot cache, base/new)."""

    benchmark: Benchmark = None
    image_folder = "images"
    required = ["images/"]
    source = "generated on first use from the MiniCLIP world (vlprompt/mini/; see docs/miniclip.md)"
    # The reference's 50/20/30 folder split, drawn from this fixed seed whatever DATASET.SPLIT_SEED says:
    # the split is part of the benchmark's definition.
    split_seed = SPLIT_SEED

    def __init__(self, cfg):
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        ensure_generated(self.benchmark, os.path.join(root, self.dataset_dir))
        super().__init__(cfg)

    @property
    def new_cnames(self) -> Dict[str, str]:
        return dict(zip(self.benchmark.folders, self.benchmark.classnames))


# ----------------------------------------------------------------------------- the benchmarks
_SHAPES_CLASSES = interleaved(["red", "orange", "yellow", "green", "blue", "purple"],
                              ["circle", "square", "triangle", "star"], "colour", "shape")

MINI_SHAPES = Benchmark(
    name="MiniShapes",
    dataset_dir="mini_shapes",
    classes=_SHAPES_CLASSES,
    images_per_class=80,
    seed=101,
    description="24 colour x shape classes drawn as in pretraining (size, pattern, position and background "
                "vary): the in-domain benchmark.",
)

MINI_SHAPES_TINTED = Benchmark(
    name="MiniShapesTinted",
    dataset_dir="mini_shapes_tinted",
    classes=_SHAPES_CLASSES,
    images_per_class=80,
    seed=92,
    style=Style(hue_shift=30.0, contrast=0.7, noise=8.0),
    description="MiniShapes' 24 classes under a coloured light (every hue rotated 30 degrees, contrast x0.7, "
                "more noise): a domain shift that keeps the classes separable for the image encoder.",
)

MINI_SHADES = Benchmark(
    name="MiniShades",
    dataset_dir="mini_shades",
    classes=blocked(["red", "orange", "pink", "purple"], ["circle", "ring", "square", "diamond"], "colour", "shape"),
    images_per_class=100,
    seed=82,
    shade=(25.0, 35.0),
    shade_rule="checkerboard",
    description="16 colour x shape classes, each drawn in its own shade of its colour (hue rotated 25-35 degrees; "
                "warm or cool by a checkerboard over 2 x 2 blocks of colour x shape): a fine-grained distinction "
                "the pretraining captions never make.",
)

MINI_LIGHTS = Benchmark(
    name="MiniLights",
    dataset_dir="mini_lights",
    classes=MINI_SHADES.classes,
    images_per_class=100,
    seed=83,
    free={"background": (world.BACKGROUNDS, (0.5, 0.5))},
    light_shade=30.0,
    description="MiniShades' 16 colour x shape classes under a light that depends on the background: hues rotated "
                "30 degrees warmer on light backgrounds and 30 degrees cooler on dark ones (half each), for every "
                "class alike: an instance-level shift that the image shows.",
)

BENCHMARKS = {b.name: b for b in (MINI_SHAPES, MINI_SHAPES_TINTED, MINI_SHADES, MINI_LIGHTS)}
