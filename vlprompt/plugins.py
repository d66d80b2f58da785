"""Discovery of the top-level ``trainers/`` and ``datasets/`` plug-in folders.

A user adds a method or a dataset by dropping a file with a ``@TRAINER_REGISTRY.register()`` /
``@DATASET_REGISTRY.register()`` class into one of those folders; nothing else is edited.

In a source checkout (and an editable install) the folders sit beside the ``vlprompt`` package and
are aliased as the sub-packages ``vlprompt.trainers`` / ``vlprompt.datasets`` so that readers can be
imported in other projects (``from vlprompt.datasets.caltech101 import Caltech101``) without a
top-level ``datasets`` package that would shadow Hugging Face's. A regular install copies them
into the package (see setup.py), where they are ordinary sub-packages.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path

PLUGIN_KINDS = ("trainers", "datasets")
_PKG_DIR = Path(__file__).resolve().parent
_discovered: set[str] = set()


def alias_plugin_packages() -> None:
    """Make ``vlprompt.<kind>`` importable from the repository folder when it is not installed."""
    for kind in PLUGIN_KINDS:
        name = f"vlprompt.{kind}"
        if name in sys.modules or (_PKG_DIR / kind).is_dir():
            continue
        folder = _PKG_DIR.parent / kind
        init = folder / "__init__.py"
        if not init.is_file():
            continue
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(folder)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


def discover(kind: str) -> None:
    """Import every module of ``vlprompt.<kind>`` once, so their registry decorators run.

    Extra folders can be added with the environment variable ``VLPROMPT_<KIND>_PATH``
    (os.pathsep-separated), e.g. ``VLPROMPT_TRAINERS_PATH=/my/trainers``.
    """
    if kind in _discovered:
        return
    _discovered.add(kind)
    package = importlib.import_module(f"vlprompt.{kind}")
    extra = os.environ.get(f"VLPROMPT_{kind.upper()}_PATH", "")
    for folder in filter(None, extra.split(os.pathsep)):
        if folder not in package.__path__:
            package.__path__.append(folder)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"vlprompt.{kind}.{info.name}")
