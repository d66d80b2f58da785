"""Fixtures for the dataset-reader tests: one pristine generated copy of every dataset per session,
copied per test (readers write split files and caches into the dataset folder)."""
import os
import shutil

import pytest

from vlprompt.testing.datasets import MAKERS

from .helpers import MAKER_KWARGS


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    """{stem: dataset folder} of freshly generated miniatures (never modified by tests)."""
    root = tmp_path_factory.mktemp("pristine")
    return {stem: maker(str(root), **MAKER_KWARGS.get(stem, {})) for stem, maker in MAKERS.items()}


@pytest.fixture()
def data(pristine, tmp_path):
    """``data(stem)`` copies that dataset under a fresh root and returns the root."""

    def _copy(stem: str) -> str:
        root = tmp_path / "data"
        src = pristine[stem]
        shutil.copytree(src, root / os.path.basename(src))
        return str(root)

    return _copy
