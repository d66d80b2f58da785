"""vlprompt: prompt learning for CLIP-style vision-language models (CoOp, CoCoOp and baselines).

The framework lives in this package; the method and dataset plug-ins live in the repository's
top-level ``trainers/`` and ``datasets/`` folders and are importable as ``vlprompt.trainers`` and
``vlprompt.datasets`` (see :mod:`vlprompt.plugins`).
"""
from vlprompt.plugins import alias_plugin_packages as _alias

__version__ = "0.1.0"

_alias()


def __getattr__(name: str):
    # ``vlprompt.load_classifier`` without importing torch at ``import vlprompt``.
    if name == "load_classifier":
        from vlprompt.predict import load_classifier

        return load_classifier
    raise AttributeError(f"module 'vlprompt' has no attribute {name!r}")
