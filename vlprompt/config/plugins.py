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

When official configs of two plug-ins give a shared key values of different types (CoOp's
``TRAINER.COOP.CTX_INIT`` is a string, KgCoOp's / ProGrad's / TCP's YAMLs set it to a boolean), a plug-in
declares a *value coercion* for the key (:func:`declare_coercion`): a function applied to every value read
from a YAML file or the command line before yacs checks it against the default's type, e.g.
:func:`bool_as_string` (True -> "True", False -> ""), which the plug-in then interprets.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

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


_COERCIONS = "__vlprompt_coercions__"  # on the root node's __dict__ (not a config key; survives clone())


def bool_as_string(value: Any) -> Any:
    """Coercion for a string key that official configs set to a boolean: True -> "True", False -> ""
    (other values unchanged). The plug-in reading the key says what "True" means for it."""
    if isinstance(value, bool):
        return "True" if value else ""
    return value


def declare_coercion(cfg: CN, key: str, fn: Callable[[Any], Any]) -> None:
    """Apply ``fn`` to every value of the dotted ``key`` merged from a YAML file or ``KEY VALUE`` options,
    before yacs' type check. Plug-ins sharing a key must declare the same function (else ValueError)."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, CN) or part not in node:
            raise KeyError(f'Cannot declare a coercion for "{key}": declare the key first (vlprompt.config.declare)')
        node = node[part]
    table = cfg.__dict__.setdefault(_COERCIONS, {})
    if table.get(key, fn) is not fn:
        raise ValueError(f'Config key "{key}" has two different value coercions ({table[key].__qualname__} and '
                         f"{fn.__qualname__}); plug-ins sharing a key must agree on it")
    table[key] = fn


def coercion_for(cfg: CN, key: str) -> Optional[Callable[[Any], Any]]:
    """The value coercion declared for ``key`` on the root node ``cfg`` (None when there is none)."""
    return cfg.__dict__.get(_COERCIONS, {}).get(key)


def pop_coerced(cfg: CN, loaded: CN, prefix: str = "") -> Dict[str, Any]:
    """Remove the keys with a coercion declared on ``cfg`` from a tree ``loaded`` from a YAML file and
    return them coerced, ``{dotted key: value}`` (set them with a type check; yacs' own merge would read
    a string such as "True" as a literal again)."""
    out: Dict[str, Any] = {}
    for k in list(loaded.keys()):
        v, full = loaded[k], prefix + k
        if isinstance(v, dict):
            out.update(pop_coerced(cfg, v, full + "."))
        else:
            fn = coercion_for(cfg, full)
            if fn is not None:
                out[full] = fn(loaded.pop(k))
    return out


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
