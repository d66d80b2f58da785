"""Checkpoints and CLIP weights load without executing code from the file; truncated files get a clear error."""
import builtins
import os
import shutil
import sys
import types

import pytest
import torch

from vlprompt.clip import load_clip
from vlprompt.utils.safe_load import TRUST_ENV, CorruptFileError, UnsafeFileError, safe_load

from .helpers import coop_args

pytestmark = pytest.mark.usefixtures("one_thread")


class _SystemPayload:
    """Unpickling calls os.system: a crafted checkpoint's way to run a command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class _ExecPayload(_SystemPayload):
    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


def _crafted_checkpoint(path, marker, payload=_SystemPayload, **save_kwargs):
    """A checkpoint that looks like ours (state_dict with ctx, epoch) plus a code-running entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"ctx": torch.zeros(16, 64)}, "epoch": 1, "optimizer": None, "scheduler": None,
                "val_result": None, "extra": payload(marker)}, path, **save_kwargs)
    return path.read_bytes()


@pytest.mark.parametrize("payload", [_SystemPayload, _ExecPayload], ids=["os.system", "builtins.exec"])
@pytest.mark.parametrize("fmt", ["zip", "legacy", "protocol4"])
def test_crafted_file_is_refused_before_unpickling(tmp_path, monkeypatch, payload, fmt):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    kwargs = {"zip": {}, "legacy": {"_use_new_zipfile_serialization": False}, "protocol4": {"pickle_protocol": 4}}[fmt]
    path, marker = tmp_path / "model.pth.tar-1", tmp_path / "pwned"
    content = _crafted_checkpoint(path, marker, payload, **kwargs)
    with pytest.raises(UnsafeFileError) as e:
        safe_load(path)
    msg = str(e.value)
    refused = "posix.system" if payload is _SystemPayload else "builtins.exec"
    assert f'"{path}"' in msg and refused in msg and f"{TRUST_ENV}=1" in msg
    assert not marker.exists() and path.read_bytes() == content
    # The payload is live: full unpickling (what the loader used to fall back to) runs it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_trust_opt_in_allows_full_unpickling_with_a_warning(tmp_path, monkeypatch):
    import datetime

    path = tmp_path / "old.pth"
    torch.save({"state_dict": {}, "epoch": 3, "saved_on": datetime.date(2022, 10, 7)}, path)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(UnsafeFileError, match="datetime.date"):
        safe_load(path)
    monkeypatch.setenv(TRUST_ENV, "1")
    with pytest.warns(UserWarning, match=f'{TRUST_ENV}=1: fully unpickling "{path}"'):
        assert safe_load(path)["saved_on"] == datetime.date(2022, 10, 7)


def test_reference_scheduler_objects_load_as_inert_data(tmp_path, monkeypatch):
    """Dassl pickles its warm-up scheduler, a CosineAnnealingLR successor and the SGD optimizer (with
    momentum state in a defaultdict): they load as data, and no method of those classes runs."""
    marker = tmp_path / "setstate_ran"
    dassl = types.ModuleType("dassl.optim.lr_scheduler")

    class ConstantWarmupScheduler:
        def __setstate__(self, state):
            open(marker, "w").close()

    ConstantWarmupScheduler.__module__ = "dassl.optim.lr_scheduler"
    ConstantWarmupScheduler.__qualname__ = "ConstantWarmupScheduler"
    dassl.ConstantWarmupScheduler = ConstantWarmupScheduler
    for name, mod in (("dassl", types.ModuleType("dassl")), ("dassl.optim", types.ModuleType("dassl.optim")),
                      ("dassl.optim.lr_scheduler", dassl)):
        monkeypatch.setitem(sys.modules, name, mod)
    ctx = torch.nn.Parameter(torch.randn(16, 64).half())
    opt = torch.optim.SGD([ctx], lr=0.002, momentum=0.9)
    ctx.grad = torch.ones_like(ctx)
    opt.step()
    warmup = ConstantWarmupScheduler()
    warmup.successor = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 50.0)
    path = tmp_path / "model.pth.tar-50"
    torch.save({"state_dict": {"ctx": ctx.data}, "epoch": 50, "optimizer": opt.state_dict(),
                "scheduler": {"successor": warmup.successor, "warmup": warmup, "last_epoch": 50}}, path)
    for name in ("dassl", "dassl.optim", "dassl.optim.lr_scheduler"):
        monkeypatch.delitem(sys.modules, name)

    ckpt = safe_load(path)
    assert ckpt["epoch"] == 50 and torch.equal(ckpt["state_dict"]["ctx"], ctx.data)
    successor = ckpt["scheduler"]["successor"]
    assert type(successor).__name__ == "CosineAnnealingLR" and successor.state["T_max"] == 50.0
    assert type(successor.state["optimizer"]).__name__ == "SGD"
    assert "momentum_buffer" in next(iter(successor.state["optimizer"].state["state"].values()))
    assert not marker.exists()


def _run_raises(run_train, args, opts=()):
    with pytest.raises(UnsafeFileError) as e:
        run_train(args, list(opts))
    return str(e.value)


@pytest.mark.parametrize("entry", ["eval-only", "resume", "init-weights", "backbone-path", "interpret_prompt"])
def test_every_entry_point_refuses_a_crafted_file(entry, run_train, data_root, tmp_path, clip_cache, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    marker = tmp_path / "pwned"
    args = coop_args(data_root, tmp_path / "out")
    if entry == "eval-only":
        path = tmp_path / "model_dir/prompt_learner/model.pth.tar-1"
        content = _crafted_checkpoint(path, marker)
        msg = _run_raises(run_train, args + ["--eval-only", "--model-dir", str(tmp_path / "model_dir"),
                                             "--load-epoch", "1"])
    elif entry == "resume":
        path = tmp_path / "part/prompt_learner/model.pth.tar-1"
        content = _crafted_checkpoint(path, marker)
        (path.parent / "checkpoint").write_text("model.pth.tar-1\n")
        msg = _run_raises(run_train, args + ["--resume", str(tmp_path / "part")], ["OPTIM.MAX_EPOCH", "2"])
    elif entry == "init-weights":
        path = tmp_path / "init.pth"
        content = _crafted_checkpoint(path, marker)
        msg = _run_raises(run_train, args, ["MODEL.INIT_WEIGHTS", str(path)])
    elif entry == "backbone-path":
        path = tmp_path / "clip.pt"
        content = _crafted_checkpoint(path, marker, _ExecPayload)
        msg = _run_raises(run_train, args, ["MODEL.BACKBONE.PATH", str(path)])
    else:
        import interpret_prompt

        path = tmp_path / "model.pth.tar-1"
        content = _crafted_checkpoint(path, marker, _ExecPayload)
        with pytest.raises(UnsafeFileError) as e:
            interpret_prompt.main([str(path), "3", "--backbone", "TinyCLIP", "--cache-dir", clip_cache])
        msg = str(e.value)
    assert f'"{path}"' in msg and f"{TRUST_ENV}=1" in msg
    assert not marker.exists() and path.read_bytes() == content


def _truncate(src, dst, keep=0.5):
    data = open(src, "rb").read()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst.stat().st_size


@pytest.mark.parametrize("kind", ["vit", "vit_jit"])
def test_truncated_clip_weights_name_file_size_and_origin(tiny_clip_files, tmp_path, kind):
    path = tmp_path / "clip.pt"
    size = _truncate(tiny_clip_files[kind], path)
    with pytest.raises(CorruptFileError) as e:
        load_clip("ViT-B/16", path=str(path))
    msg = str(e.value)
    assert f'"{path}" ({size} bytes; from MODEL.BACKBONE.PATH)' in msg and "truncated or corrupt" in msg
    assert "Copy the file again" in msg
    # In the cache folder under OpenAI's file name (an interrupted download).
    cache = tmp_path / "cache"
    cache.mkdir()
    size = _truncate(tiny_clip_files[kind], cache / "ViT-B-16.pt")
    with pytest.raises(CorruptFileError) as e:
        load_clip("ViT-B/16", cache_dir=str(cache))
    msg = str(e.value)
    assert f'"{cache / "ViT-B-16.pt"}" ({size} bytes; from the cache folder MODEL.BACKBONE.CACHE_DIR, OpenAI file ' \
           "name ViT-B-16.pt)" in msg
    assert "truncated or corrupt" in msg and "Delete it and run again to download it again" in msg
    assert (cache / "ViT-B-16.pt").stat().st_size == size  # reported, not deleted


def test_truncated_checkpoint_is_reported(run_train, data_root, tmp_path):
    run_train(coop_args(data_root, tmp_path / "run"), ["OPTIM.MAX_EPOCH", "1"])
    ckpt = tmp_path / "run/prompt_learner/model.pth.tar-1"
    shutil.copy(ckpt, tmp_path / "intact")
    size = _truncate(tmp_path / "intact", ckpt, keep=0.7)
    with pytest.raises(CorruptFileError) as e:
        run_train(coop_args(data_root, tmp_path / "eval") + ["--eval-only", "--model-dir", str(tmp_path / "run"),
                                                               "--load-epoch", "1"])
    msg = str(e.value)
    assert f'Checkpoint "{ckpt}" ({size} bytes) looks truncated or corrupt' in msg
    assert "Re-train, or restore the file from a backup." in msg
    assert ckpt.stat().st_size == size
