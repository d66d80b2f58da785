"""Config sub-trees owned by plug-ins: a trainer or a dataset declares its keys next to its code.

A trainer class (or a dataset reader, or a framework component such as the feature cache) implements

    @classmethod
    def extend_cfg(cls, cfg):
        declare(cfg, "TRAINER.MYMETHOD", N_CTX=16, PREC="fp16")

and :func:`extend_cfg` (called by :func:`vlprompt.config.get_cfg` / ``setup_cfg`` before any YAML is
merged) attaches the sub-trees of every discovered trainer and dataset, so a YAML written for one
method merges with strict key checking (a typo is still an error) and no central file is edited.

Several plug-ins may share a node (KgCoOp adds ``W`` to CoOp's ``TRAINER.COOP``); a key declared twice
must have the same default, otherwise the second declaration is an error naming the key.
"""
from __future__ import annotations

from typing import Any

from yacs.config import CfgNode as CN


def declare(cfg: CN, path: str, **keys: Any) -> CN:
    """Create the sub-node at dotted ``path`` (if absent) and add ``keys`` with their defaults.

    Returns the node. A key that exists already must have an equal default (two plug-ins sharing a
    node); a default of another value or type raises ValueError, since yacs would then type-check
    one plug-in's YAML against the other's default.
    """
    node = cfg
    for part in path.split(".") if path else []:
        if part not in node:
            node[part] = CN()
        node = node[part]
        if not isinstance(node, CN):
            raise ValueError(f'Cannot declare keys under "{path}": "{part}" is a value, not a node')
    for key, default in keys.items():
        if isinstance(default, dict) and not isinstance(default, CN):
            default = CN(default)
        if key in node:
            current = node[key]
            if type(current) is not type(default) or current != default:
                raise ValueError(
                    f'Config key "{path}.{key}" is declared twice with different defaults '
                    f"({current!r} and {default!r}); plug-ins sharing a node must agree on its defaults"
                )
            continue
        node[key] = default
    return node


def extend_cfg(cfg: CN) -> CN:
    """Attach the config sub-trees of every discovered trainer and dataset to ``cfg`` (in place)."""
    from vlprompt.data.base import DATASET_REGISTRY
    from vlprompt.engine.build import TRAINER_REGISTRY

    for registry in (TRAINER_REGISTRY, DATASET_REGISTRY):
        for name in registry.registered_names():
            cls = registry.get(name)
            hook = getattr(cls, "extend_cfg", None)
            if hook is None:
                continue
            try:
                hook(cfg)
            except Exception as e:  # name the plug-in whose declaration broke
                raise RuntimeError(f'{registry.name} "{name}" ({cls.__module__}): extend_cfg failed: {e}') from e
    return cfg


def missing_declared_keys(cfg: CN, plugin) -> list:
    """Keys ``plugin.extend_cfg`` declares that ``cfg`` lacks (a config built without :func:`extend_cfg`)."""
    probe = CN()
    plugin.extend_cfg(probe)
    missing = []

    def walk(node: CN, target, prefix: str) -> None:
        for key, value in node.items():
            full = f"{prefix}{key}"
            if not isinstance(target, CN) or key not in target:
                missing.append(full)
            elif isinstance(value, CN):
                walk(value, target[key], full + ".")

    walk(probe, cfg, "")
    return missing
