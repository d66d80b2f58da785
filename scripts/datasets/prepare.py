#!/usr/bin/env python
"""Check (and, where the files are public plain downloads, fetch) one dataset folder.

    python scripts/datasets/prepare.py caltech101 --root $DATA            # check, download what is missing
    python scripts/datasets/prepare.py caltech101 --root $DATA --check    # check only

DATASET is a config-file stem (``configs/datasets/<stem>.yaml``). The expected layout, the source and
the download list are read from the dataset's reader class (``required``, ``split_file``,
``split_inputs``, ``source``, ``downloads``), the same attributes its start-up check uses. Google Drive
files (the released ``split_zhou_*.json`` files) need ``gdown``. Without network access the script
stops after a short connection probe (``--timeout`` seconds) and lists what to fetch by hand.
Exit status: 0 when the folder is usable, 1 otherwise, 2 for an unknown dataset.
The check imports only the readers and their layout helpers (no torch/torchvision/open_clip: see
``vlprompt/data/__init__.py``), so it answers within a second or two even on a loaded machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tarfile
import threading
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "configs" / "datasets"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


def reader_for(stem: str):
    """The reader class named by ``configs/datasets/<stem>.yaml`` (DATASET.NAME)."""
    import yaml

    from vlprompt.data import DATASET_REGISTRY

    with open(CONFIG_DIR / f"{stem}.yaml") as f:
        return DATASET_REGISTRY.get(yaml.safe_load(f)["DATASET"]["NAME"])


def layout_message(reader, dataset_dir: str) -> str:
    """The readers' own start-up error (expected layout, what is missing, where to get it)."""
    from vlprompt.data import DatasetNotFoundError, check_dataset_layout
    from vlprompt.data.splits import layout_entries

    try:
        check_dataset_layout(dataset_dir, layout_entries(reader, dataset_dir), reader.__name__, reader.source)
    except DatasetNotFoundError as e:
        return str(e)
    return ""


def pending_downloads(reader, dataset_dir: str, entries: Sequence[str]):
    return [dl for dl in getattr(reader, "downloads", ()) if dl.provides in entries
            and not os.path.exists(os.path.join(dataset_dir, dl.provides))]


# ----------------------------------------------------------------------------- network
def _probe_address(url: str) -> Optional[Tuple[str, int]]:
    """Host and port a download of ``url`` connects to first (its proxy, if one is configured)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        return None  # file:// and the like need no network
    target = urllib.parse.urlsplit(urllib.request.getproxies().get(scheme) or url)
    return target.hostname, target.port or (443 if target.scheme == "https" else 80)


def reachable(url: str, timeout: float) -> Tuple[bool, str]:
    """Connect to the host of ``url`` within ``timeout`` s; a thread bounds slow DNS look-ups too."""
    address = _probe_address(url)
    if address is None:
        return True, ""
    result: dict = {}

    def _probe():
        try:
            socket.create_connection(address, timeout=timeout).close()
            result["ok"] = True
        except OSError as e:
            result["error"] = f"{type(e).__name__}: {e}"

    thread = threading.Thread(target=_probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return result.get("ok", False), result.get("error", f"no answer within {timeout:g} s")


# ----------------------------------------------------------------------------- download / extract
def _is_archive(dl) -> bool:
    path = urllib.parse.urlsplit(dl.url).path.lower()
    return dl.provides.endswith("/") or path.endswith(ARCHIVE_SUFFIXES)


def _download_file(url: str, dest: str, timeout: float) -> None:
    tmp = dest + ".part"  # renamed when complete, so an interrupted download never looks finished
    try:
        if "drive.google.com" in url:
            try:
                import gdown
            except ImportError:
                raise RuntimeError("gdown is not installed (pip install gdown), or download it in a browser") from None
            if gdown.download(url, tmp, quiet=False) is None:
                raise RuntimeError("gdown could not fetch the file")
        else:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f, length=1 << 20)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _safe_target(dest: str, name: str) -> str:
    target = os.path.normpath(os.path.join(dest, name))
    if os.path.isabs(name) or not (target + os.sep).startswith(os.path.normpath(dest) + os.sep):
        raise RuntimeError(f"refusing to extract {name!r} outside {dest}")
    return target


def extract(archive: str, dest: str, strip: str = "") -> None:
    """Extract ``archive`` into ``dest``; when its members start with ``strip``, only those are
    extracted, without that prefix (e.g. ``fgvc-aircraft-2013b/data/``)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            use_strip = bool(strip) and any(n.startswith(strip) for n in names)
            for info in zf.infolist():
                name = info.filename
                if use_strip:
                    if not name.startswith(strip):
                        continue
                    name = name[len(strip):]
                if not name:
                    continue
                target = _safe_target(dest, name)
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, length=1 << 20)
        return
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        use_strip = bool(strip) and any(m.name.startswith(strip) for m in members)
        for member in members:
            if use_strip:
                if not member.name.startswith(strip):
                    continue
                member.name = member.name[len(strip):]
            if not member.name:
                continue
            _safe_target(dest, member.name)
            tf.extract(member, dest, filter="data")


def fetch(dl, dataset_dir: str, timeout: float) -> None:
    os.makedirs(dataset_dir, exist_ok=True)
    if not _is_archive(dl):
        target = os.path.join(dataset_dir, dl.provides)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _download_file(dl.url, target, timeout)
        return
    archive = os.path.join(dataset_dir, ".download-" + (os.path.basename(urllib.parse.urlsplit(dl.url).path) or "archive"))
    _download_file(dl.url, archive, timeout)
    try:
        print(f"Extracting {archive} into {os.path.join(dataset_dir, dl.into)}")
        extract(archive, os.path.normpath(os.path.join(dataset_dir, dl.into)), dl.strip)
    finally:
        os.remove(archive)


def fetch_all(downloads, dataset_dir: str, timeout: float) -> List[str]:
    """Fetch each download; returns the error lines (one per failed download)."""
    errors, probes = [], {}
    for dl in downloads:
        address = _probe_address(dl.url)
        if address not in probes:  # one probe per host, so a dead network costs one timeout at most
            probes[address] = reachable(dl.url, timeout)
        ok, why = probes[address]
        if not ok:
            errors.append(f"  {dl.provides}: no network access ({why}); fetch {dl.url} by hand")
            continue
        print(f"Downloading {dl.url} -> {os.path.join(dataset_dir, dl.provides)}")
        try:
            fetch(dl, dataset_dir, timeout)
        except Exception as e:  # report and go on with the other files
            errors.append(f"  {dl.provides}: {type(e).__name__}: {e}")
    return errors


# ----------------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> int:
    stems = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help=f"config-file stem, one of {stems}")
    parser.add_argument("--root", required=True, help="DATASET.ROOT: the folder holding all datasets")
    parser.add_argument("--check", action="store_true", help="only check the layout, download nothing")
    parser.add_argument("--timeout", type=float, default=10.0, help="network timeout in seconds (default 10)")
    args = parser.parse_args(argv)
    if args.dataset not in stems:
        print(f"Unknown dataset {args.dataset!r}; choose from {stems}", file=sys.stderr)
        return 2

    reader = reader_for(args.dataset)
    root = os.path.abspath(os.path.expanduser(args.root))
    dataset_dir = os.path.join(root, reader.dataset_dir)
    socket.setdefaulttimeout(args.timeout)  # also bounds gdown/requests, which set no timeout of their own

    if not os.path.isdir(root):
        print(f"DATASET.ROOT folder {root} does not exist; create it first (mkdir -p {root}).\n"
              f"{layout_message(reader, dataset_dir)}", file=sys.stderr)
        return 1

    split_file = getattr(reader, "split_file", None)
    split_path = os.path.join(dataset_dir, split_file) if split_file else None
    if not args.check:
        wanted = list(reader.required) + ([split_file] if split_file else [])
        errors = fetch_all(pending_downloads(reader, dataset_dir, wanted), dataset_dir, args.timeout)
        if split_path and not os.path.exists(split_path):  # then the split is generated from its inputs
            errors += fetch_all(pending_downloads(reader, dataset_dir, getattr(reader, "split_inputs", ())),
                                dataset_dir, args.timeout)
        if errors:
            print("Some downloads failed:\n" + "\n".join(errors), file=sys.stderr)

    problem = layout_message(reader, dataset_dir)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if split_path and not os.path.exists(split_path):
        print(f"Warning: {split_path} is absent; the reader will generate a new random split, which differs from "
              f"the released one (results are then not comparable with the papers). Get it from: {reader.source}")
    print(f"OK: {dataset_dir} has the layout {reader.__name__} expects.")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # run from a source checkout without installing
    sys.exit(main())
