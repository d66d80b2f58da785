"""Config assembly in the reference order: defaults -> dataset YAML -> trainer YAML -> flags -> opts."""
from __future__ import annotations

import os
import warnings
from typing import Optional, Sequence

from yacs.config import CfgNode as CN
from yacs.config import _check_and_coerce_cfg_value_type

from .defaults import get_cfg_default
from .plugins import coercion_for, extend_cfg, pop_coerced

# train.py flags of the reference that feed keys nothing here reads; accepted for command-line
# compatibility and ignored with a warning.
IGNORED_FLAGS = {"source_domains": "--source-domains", "target_domains": "--target-domains", "head": "--head"}


def get_cfg() -> CN:
    """The full default tree: framework defaults plus every discovered trainer's and dataset's sub-tree."""
    return extend_cfg(get_cfg_default())


def merge_opts(cfg: CN, opts: Sequence[str]) -> None:
    """Merge flat ``KEY VALUE`` pairs, with errors that name the offending key."""
    opts = list(opts or [])
    if len(opts) % 2 != 0:
        raise ValueError(
            f"Config options must be KEY VALUE pairs, got an odd number of items: {opts}. "
            "Example: TRAINER.COOP.N_CTX 16 DATASET.NUM_SHOTS 4"
        )
    for key, value in zip(opts[0::2], opts[1::2]):
        _check_key(cfg, key)
        fn = coercion_for(cfg, key)
        if fn is None:
            cfg.merge_from_list([key, value])
        else:  # a declared coercion (plugins.declare_coercion): decode as yacs does, then coerce
            _set_checked(cfg, key, fn(CN._decode_cfg_value(value)))


def _set_checked(cfg: CN, key: str, value) -> None:
    """``cfg[key] = value`` with yacs' type check against the current value (``key`` exists)."""
    *parents, last = key.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    if node.is_frozen():
        raise AttributeError(f'Cannot set "{key}": the config is frozen')
    node[last] = _check_and_coerce_cfg_value_type(value, node[last], last, key)


def _check_key(cfg: CN, key: str) -> None:
    node = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, CN) or part not in node:
            parent = ".".join(parts[:i]) or "<root>"
            known = sorted(node.keys()) if isinstance(node, CN) else []
            raise KeyError(f'Unknown config key "{key}": "{part}" is not a key of {parent} (known: {known})')
        node = node[part]


def yaml_keys(path: str) -> set:
    """The dotted keys a YAML config file sets (``{"INPUT.SIZE", ...}``)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                yield from walk(v, key + ".")
            else:
                yield key

    return set(walk(data, "")) if isinstance(data, dict) else set()


def merge_yaml(cfg: CN, path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Config file not found: "{path}"')
    try:
        with open(path) as f:
            loaded = cfg.load_cfg(f)  # what merge_from_file does, with the declared value coercions applied
        coerced = pop_coerced(cfg, loaded)
        cfg.merge_from_other_cfg(loaded)
        for key, value in coerced.items():
            _set_checked(cfg, key, value)
    except KeyError as e:
        raise KeyError(f'In config file "{path}": {e}') from None
    except ValueError as e:
        raise ValueError(f'In config file "{path}": {e}') from None


def finalize_cfg(cfg: CN) -> None:
    """The selected trainer's last word on the merged config (``finalize_cfg`` classmethod, e.g. TCP's
    official 25 epochs on ImageNet and SUN397), applied after every merge and before freezing, so the
    launcher's default ``--load-epoch`` (OPTIM.MAX_EPOCH) sees it too."""
    from vlprompt.engine.build import TRAINER_REGISTRY

    name = cfg.TRAINER.NAME
    if name and name in TRAINER_REGISTRY.registered_names():
        hook = getattr(TRAINER_REGISTRY.get(name), "finalize_cfg", None)
        if hook is not None:
            hook(cfg)


def setup_cfg(
    args=None,
    dataset_config_file: Optional[str] = None,
    config_file: Optional[str] = None,
    opts: Optional[Sequence[str]] = None,
    freeze: bool = True,
) -> CN:
    """Build the config as the reference ``train.py`` does.

    ``args`` is an argparse namespace with the train.py flags (any may be missing); the explicit
    keyword arguments are a convenience for library use and tests.
    """
    cfg = get_cfg()
    get = (lambda k, d=None: getattr(args, k, d)) if args is not None else (lambda k, d=None: d)
    dataset_config_file = dataset_config_file or get("dataset_config_file")
    config_file = config_file or get("config_file")
    if dataset_config_file:
        merge_yaml(cfg, dataset_config_file)
    if config_file:
        merge_yaml(cfg, config_file)

    # Command-line flags: empty strings/None do not override; --seed only if truthy (as the reference).
    if get("root"):
        cfg.DATASET.ROOT = get("root")
    if get("output_dir"):
        cfg.OUTPUT_DIR = get("output_dir")
    if get("resume"):
        cfg.RESUME = get("resume")
    if get("seed"):
        cfg.SEED = get("seed")
    if get("transforms"):
        cfg.INPUT.TRANSFORMS = get("transforms")
    if get("trainer"):
        cfg.TRAINER.NAME = get("trainer")
    if get("backbone"):
        cfg.MODEL.BACKBONE.NAME = get("backbone")
    for key, flag in IGNORED_FLAGS.items():
        if get(key):
            warnings.warn(f"{flag} is ignored: no method in this toolbox reads it (kept for command-line compatibility)")

    all_opts = list(get("opts") or []) + list(opts or [])
    merge_opts(cfg, all_opts)
    if cfg.MODEL.BACKBONE.NAME and cfg.MODEL.BACKBONE.PREPROCESS != "config":
        # open_clip backbones: INPUT keys no file or option sets come from the pretrained config.
        from vlprompt.clip.loader import apply_backbone_preprocess

        explicit = set(all_opts[0::2])
        for path in (dataset_config_file, config_file):
            explicit |= yaml_keys(path) if path else set()
        apply_backbone_preprocess(cfg, explicit)
    finalize_cfg(cfg)
    if freeze:
        cfg.freeze()
    return cfg
