"""Mirror stdout into ``<OUTPUT_DIR>/log.txt`` (never overwriting an existing log)."""
from __future__ import annotations

import os
import sys
import time


class _Tee:
    def __init__(self, stream, fpath: str):
        self.console = stream
        self.file = open(fpath, "w")

    def write(self, msg: str) -> None:
        self.console.write(msg)
        self.file.write(msg)

    def flush(self) -> None:
        self.console.flush()
        self.file.flush()
        os.fsync(self.file.fileno())

    def isatty(self) -> bool:
        return self.console.isatty()

    def close(self) -> None:
        self.file.close()


def setup_logger(output: str) -> str:
    """Tee stdout to ``output/log.txt`` (or to ``output`` itself if it ends in .txt/.log).

    An existing log gets a new sibling ``log.txt-YYYY-MM-DD-HH-MM-SS`` instead of being overwritten.
    Returns the path written to.
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
    return fpath
