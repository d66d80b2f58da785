"""Mirror stdout into ``<OUTPUT_DIR>/log.txt`` (never overwriting an existing log).

Besides stdout, Python warnings and the traceback of a crash are written into the log (and still go to
stderr). The rest of stderr (tqdm progress bars) stays out of the log.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
import warnings


class _Tee:
    def __init__(self, stream, fpath: str):
        self.console = stream
        self.file = open(fpath, "w")

    def write(self, msg: str) -> None:
        self.console.write(msg)
        self.file.write(msg)

    def log(self, msg: str) -> None:
        """Write to the log file only (for text that already goes to the console via stderr)."""
        if not self.file.closed:
            self.file.write(msg)
            self.file.flush()

    def flush(self) -> None:
        self.console.flush()
        self.file.flush()
        os.fsync(self.file.fileno())

    def isatty(self) -> bool:
        return self.console.isatty()

    def close(self) -> None:
        self.file.close()


def _active_log():
    return sys.stdout if isinstance(sys.stdout, _Tee) and not sys.stdout.file.closed else None


def _install_warnings_hook() -> None:
    """Warnings are shown as before (stderr) and also written into the active log file."""
    if getattr(warnings.showwarning, "_vlprompt_mirrors_to_log", False):
        return
    previous = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        previous(message, category, filename, lineno, file, line)
        log = _active_log()
        if log is not None and file is None:
            log.flush()  # keep the warning after the stdout lines printed before it
            log.log(warnings.formatwarning(message, category, filename, lineno, line))

    showwarning._vlprompt_mirrors_to_log = True
    warnings.showwarning = showwarning


def log_exception(exc: BaseException, note: str = "") -> None:
    """Write ``note`` and the traceback of ``exc`` into the active log file (Python prints it on stderr)."""
    log = _active_log()
    if log is None:
        return
    log.flush()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.log((note + "\n" if note else "") + text)


def setup_logger(output: str) -> str:
    """Tee stdout to ``output/log.txt`` (or to ``output`` itself if it ends in .txt/.log).

    An existing log gets a new sibling ``log.txt-YYYY-MM-DD-HH-MM-SS`` instead of being overwritten.
    From then on Python warnings are written into the log too. Returns the path written to.
    """
    if output is None or output == "":
        return ""
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = os.path.join(output, "log.txt")
    if os.path.exists(fpath):
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")
    os.makedirs(os.path.dirname(os.path.abspath(fpath)), exist_ok=True)
    current = sys.stdout
    if isinstance(current, _Tee):  # a second trainer in the same process: log to the new file only
        current.flush()
        current.close()
        current = current.console
    sys.stdout = _Tee(current, fpath)
    _install_warnings_hook()
    return fpath
