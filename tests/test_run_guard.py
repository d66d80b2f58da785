"""A run in its output folder: warnings and crash tracebacks in log.txt, the folder lock, stale temp files, SIGTERM."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from vlprompt.utils.run_guard import OutputDirInUseError, OutputDirLock

from .helpers import REPO, coop_args

pytestmark = pytest.mark.usefixtures("one_thread")


def _train(args, clip_cache, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args, "MODEL.BACKBONE.CACHE_DIR", clip_cache],
                          env=env, capture_output=True, text=True, **kwargs)


def _snapshot(folder):
    """Every file under ``folder`` with its bytes and modification time."""
    snap = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                snap[path] = (f.read(), os.stat(path).st_mtime_ns)
    return snap


def test_warnings_and_crash_traceback_reach_log_txt(data_root, tmp_path, clip_cache):
    """fp16 on the CPU warns while CLIP is built, then eval-only fails on a missing model folder: the
    warning and the traceback are in log.txt as well as on stderr, and the exit status is non-zero."""
    out = tmp_path / "eval"
    missing = tmp_path / "no_such_run"
    res = _train(coop_args(data_root, out) + ["--eval-only", "--model-dir", str(missing), "--load-epoch", "5",
                                              "TRAINER.COOP.PREC", "fp16"], clip_cache)
    assert res.returncode != 0
    log = (out / "log.txt").read_text()
    warning = "UserWarning: PREC fp16 is not supported on the CPU; training in fp32 instead"
    assert warning in log and warning in res.stderr
    expected = f'FileNotFoundError: Model not found at "{missing / "prompt_learner/model.pth.tar-5"}"'
    assert "Traceback (most recent call last):" in log and expected in log
    assert expected in res.stderr
    # The warning is logged where it happened: after the config dump, before the traceback.
    assert log.index("** Config **") < log.index(warning) < log.index("Traceback")
    assert not (out / ".lock").exists()  # released when the run ended


def test_second_run_into_a_locked_folder_fails_at_once(data_root, tmp_path, clip_cache):
    out = tmp_path / "run"
    out.mkdir()
    (out / "log.txt").write_text("the first run's log\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(REPO)!r})
            from vlprompt.utils.run_guard import OutputDirLock
            OutputDirLock({str(out)!r}).acquire()
            print("locked", flush=True)
            time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _snapshot(out)
        res = _train(coop_args(data_root, out), clip_cache)
        assert res.returncode != 0
        assert f'OutputDirInUseError: Output folder "{out}" is in use by another run (pid {holder.pid} on ' in res.stderr
        assert "started 20" in res.stderr and "choose another --output-dir" in res.stderr
        assert _snapshot(out) == before  # not a byte written: no log, no checkpoint
        with pytest.raises(OutputDirInUseError, match=f"pid {holder.pid}"):
            OutputDirLock(str(out)).acquire()
    finally:
        holder.kill()
        holder.wait()
    # A killed holder leaves its .lock file, but not its lock.
    assert (out / ".lock").exists()
    with OutputDirLock(str(out)) as lock:
        assert f"pid {os.getpid()}" in open(lock.path).read()
    assert not (out / ".lock").exists()


def test_stale_temp_files_are_removed_at_start(run_train, data_root, tmp_path):
    """A run killed while saving epoch 2 leaves hidden temp files; re-running into the folder (which
    resumes from epoch 1) removes them, says so in its log, and leaves every other file alone."""
    out = tmp_path / "run"
    run_train(coop_args(data_root, out), ["OPTIM.MAX_EPOCH", "1"])
    stale = [out / "prompt_learner/.model.pth.tar-2.k3x9_a2b.tmp", out / ".results.json.0abcdefg.tmp"]
    kept = [out / ".notes.tmp", out / "keep.tmp", out / "prompt_learner/model.pth.tar-2.tmp"]
    for path in stale + kept:
        path.write_bytes(b"half-written")
    run_train(coop_args(data_root, out), ["OPTIM.MAX_EPOCH", "2"])
    (log_path,) = out.glob("log.txt-*")  # the second run's log
    log = log_path.read_text()
    for path in stale:
        assert not path.exists()
        assert f'Removed stale temporary file "{path}" (left by an interrupted save)' in log
    assert log.count("Removed stale temporary file") == 2 and "Previous epoch: 1" in log
    assert all(p.read_bytes() == b"half-written" for p in kept)
    assert "Removed stale" not in (out / "log.txt").read_text()


def test_sigterm_during_a_save_removes_the_temp_file(tmp_path):
    """SIGTERM arrives while a checkpoint is being written: the run exits with status 143, no temp file
    and no half-written checkpoint remain, and log.txt says what happened."""
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        import torch
        from vlprompt.utils import tools
        from vlprompt.utils.run_guard import guarded_run

        def save_and_get_killed(f):
            torch.save({{"ctx": torch.zeros(4)}}, f)
            print("temp files:", [n for n in os.listdir({str(out)!r}) if n.endswith(".tmp")], flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10 ** 6):  # the handler runs here, at the latest
                pass
            print("not terminated", flush=True)

        with guarded_run({str(out)!r}):
            print("run started")
            tools._atomic_write(os.path.join({str(out)!r}, "model.pth.tar-1"), save_and_get_killed, "wb")
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 128 + signal.SIGTERM, res.stderr
    assert "temp files: ['.model.pth.tar-1." in res.stdout and "not terminated" not in res.stdout
    assert sorted(os.listdir(out)) == ["log.txt"]  # no temp file, no checkpoint, lock released
    log = (out / "log.txt").read_text()
    assert "run started" in log and "Terminated by SIGTERM (exit status 143)" in log
