"""Shared fixtures: a generated Caltech101-layout dataset, tiny CLIP checkpoints, in-process train.py runs."""
import sys
from pathlib import Path

import pytest

from .helpers import REPO


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> str:
    """A CLIP cache folder private to the test session (the built-in TinyCLIP is written here)."""
    return str(tmp_path_factory.mktemp("clip_cache"))


@pytest.fixture(scope="session")
def tiny_clip_files(tmp_path_factory) -> dict:
    from vlprompt.clip.tiny import save_tiny_clip

    d = tmp_path_factory.mktemp("tiny_clip")
    return {
        "vit": save_tiny_clip(str(d / "vit.pt"), arch="vit"),
        "rn": save_tiny_clip(str(d / "rn.pt"), arch="rn"),
        "vit_jit": save_tiny_clip(str(d / "vit_jit.pt"), arch="vit", jit=True),
    }


@pytest.fixture()
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine the threads'
    synchronisation makes them ~10x slower (subprocesses get OMP_NUM_THREADS=1 for the same reason).
    Modules of tiny-model tests use it for every test: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def data_root(tmp_path) -> str:
    """A fresh generated Caltech101 (8 classes x 20 images) per test: split files are written by the test."""
    from vlprompt.testing.datasets import make_caltech101

    root = tmp_path / "data"
    make_caltech101(str(root))
    return str(root)


@pytest.fixture()
def run_train(clip_cache):
    """Run train.py in-process (as vlprompt.launch does for the report); returns the text of the run's log.txt."""
    from vlprompt.launch import run_in_process

    def _run(args, opts=()):
        run_in_process(list(args) + ["MODEL.BACKBONE.CACHE_DIR", clip_cache] + list(opts))
        out = args[args.index("--output-dir") + 1]
        return Path(out, "log.txt").read_text()

    return _run


@pytest.fixture()
def script_env(data_root, tmp_path):
    """(work dir, env) to run the shell scripts as a user would: a folder with the repository's
    train.py / configs / scripts, DATA pointing at the generated data, a private HOME (CLIP cache)."""
    import os

    work = tmp_path / "work"
    work.mkdir()
    for name in ("train.py", "parse_test_res.py", "configs", "scripts"):
        os.symlink(REPO / name, work / name)
    env = dict(os.environ, DATA=data_root, HOME=str(tmp_path / "home"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    return work, env


@pytest.fixture(scope="session", autouse=True)
def validation_stamps(tmp_path_factory):
    """The DataManager's image-validation stamps (vlprompt.data.validation) go to a folder private to the
    test session, not ~/.cache/vlprompt/validated (subprocesses inherit the variable)."""
    from vlprompt.data.validation import STAMP_DIR_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(STAMP_DIR_ENV, str(tmp_path_factory.mktemp("validated")))
        yield
