"""What surrounds a run in its output folder (train.py): a lock, log.txt, clean-up, SIGTERM, crashes.

- An exclusive ``fcntl.flock`` on ``<OUTPUT_DIR>/.lock`` for the whole run: a second run into the
  same folder stops at once, naming the other run (pid, host, start time, command), instead of both
  overwriting each other's checkpoints and results. The kernel drops the lock when the process dies,
  so a killed run never leaves a stale lock; the file is removed when the run ends.
- Temporary files of atomic writes left by a killed save (``.model.pth.tar-5.XXXXXXXX.tmp``) are
  removed when a run starts, with a log line.
- SIGTERM raises SystemExit(143), so ``finally`` blocks run (half-written temporary files are
  removed) and the run ends like an interrupted one.
- The traceback of an exception that ends the run is written into log.txt (Python prints it on stderr).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from typing import Iterator, List, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: runs are not locked there
    fcntl = None

from .logger import log_exception, setup_logger
from .tools import is_atomic_temp_file

LOCK_NAME = ".lock"


class OutputDirInUseError(RuntimeError):
    """Another run holds the lock of the output folder."""


def run_folder(output_dir: str) -> str:
    """The folder a run writes into (OUTPUT_DIR, or its parent when OUTPUT_DIR names the log file)."""
    if output_dir.endswith(".txt") or output_dir.endswith(".log"):
        return os.path.dirname(output_dir) or "."
    return output_dir


class OutputDirLock:
    """Exclusive, non-blocking lock of ``<folder>/.lock``; the file holds who holds it."""

    def __init__(self, folder: str):
        self.folder = folder
        self.path = os.path.join(folder, LOCK_NAME)
        self._fd: Optional[int] = None

    def acquire(self) -> "OutputDirLock":
        if fcntl is None:
            return self
        os.makedirs(self.folder, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's info stays
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
                os.close(fd)
                raise OutputDirInUseError(self._in_use_message(holder)) from None
            # The previous holder removes the file when it ends: if it did so between our open and our
            # lock, we hold a lock on a removed file; start again with the current one.
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        info = (f"pid {os.getpid()}\nhost {socket.gethostname()}\nstarted {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                f"command {' '.join(sys.argv)}\n")
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self._fd = fd
        return self

    def _in_use_message(self, holder: str) -> str:
        fields = dict(line.split(" ", 1) for line in holder.splitlines() if " " in line)
        who = (f"pid {fields.get('pid', '?')} on {fields.get('host', '?')}, started {fields.get('started', '?')}, "
               f"command: {fields.get('command', '?')}") if fields else "it has not written its details yet"
        return (f'Output folder "{self.folder}" is in use by another run ({who}); two runs in one folder would '
                f"overwrite each other's log, checkpoints and results. Wait for that run to end (or stop it), or "
                f"choose another --output-dir. (Lock: {self.path}; it is released when that process ends.)")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # while still locked: see acquire()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "OutputDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _locked_by_another_run(folder: str) -> bool:
    path = os.path.join(folder, LOCK_NAME)
    if fcntl is None or not os.path.isfile(path):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the probe's shared lock


def remove_stale_temp_files(folder: str) -> List[str]:
    """Remove the temporary files of atomic writes under ``folder``; returns their paths.

    Sub-folders where another run holds the lock (a run inside this one's folder) are left alone.
    """
    removed = []
    for root, dirs, files in os.walk(folder):
        if root != folder and _locked_by_another_run(root):
            dirs[:] = []
            continue
        for name in sorted(files):
            if is_atomic_temp_file(name):
                path = os.path.join(root, name)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                    removed.append(path)
    return removed


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM (exit status 143, as a process killed by SIGTERM)."""


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while inside (when no other handler is installed)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise Terminated(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def guarded_run(output_dir: str, main_process: bool = True) -> Iterator[None]:
    """Lock ``output_dir``, start log.txt, remove stale temporary files, exit cleanly on SIGTERM and
    write the traceback of a crash into the log. Only the main process (rank 0) locks and logs."""
    lock = OutputDirLock(run_folder(output_dir)).acquire() if main_process and output_dir else None
    try:
        with sigterm_as_exit():
            if main_process:
                setup_logger(output_dir)
                if output_dir:
                    for path in remove_stale_temp_files(run_folder(output_dir)):
                        print(f'Removed stale temporary file "{path}" (left by an interrupted save)')
            try:
                yield
            except Terminated as e:
                log_exception(e, note=f"Terminated by SIGTERM (exit status {e.code})")
                raise
            except BaseException as e:
                if not (isinstance(e, SystemExit) and e.code in (0, None)):
                    log_exception(e)
                raise
    finally:
        if lock is not None:
            lock.release()
