"""scripts/datasets/prepare.py and the layout attributes it shares with the readers."""
import importlib.util
import os
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

from vlprompt.data import DATASET_REGISTRY
from vlprompt.data.splits import Download

from .expected import EXPECTED
from .helpers import REPO, build, registry_name

SCRIPT = os.path.join(REPO, "scripts", "datasets", "prepare.py")


@pytest.fixture(scope="module")
def prepare():
    spec = importlib.util.spec_from_file_location("prepare_datasets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def offline(prepare, monkeypatch):
    """No test may touch the network: every probe reports it unreachable."""
    monkeypatch.setattr(prepare, "reachable", lambda url, timeout: (url.startswith("file:"), "offline (test)"))


def test_generated_benchmarks_are_the_mini_world():
    from vlprompt.mini.benchmarks import BENCHMARKS, MiniDataset
    from vlprompt.mini.report import BENCHMARK_STEMS

    stems = sorted(f[:-5] for f in os.listdir(os.path.join(REPO, "configs", "datasets")))
    assert sorted(s for s in stems if s.startswith("mini_")) == sorted(BENCHMARK_STEMS)
    for stem in BENCHMARK_STEMS:
        reader = DATASET_REGISTRY.get(BENCHMARK_STEMS[stem])
        assert issubclass(reader, MiniDataset) and reader.dataset_dir == BENCHMARKS[reader.__name__].dataset_dir == stem


@pytest.mark.parametrize("stem", list(EXPECTED))
def test_benchmark_readers_match_their_expectations(stem):
    name, folder, _, _ = EXPECTED[stem]
    reader = DATASET_REGISTRY.get(registry_name(stem))
    assert reader.__name__ == name and reader.dataset_dir == folder
    known = set(reader.required) | {getattr(reader, "split_file", None)} | set(getattr(reader, "split_inputs", ()))
    for dl in reader.downloads:
        assert isinstance(dl, Download) and dl.provides in known and dl.url.startswith(("http://", "https://"))


def test_nonexistent_root_fails_fast_naming_the_layout():
    """Fast = without importing torch & co. (seconds of start-up on a loaded machine); -X importtime
    lists every module the script imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", SCRIPT, "caltech101", "--root", "/nonexistent"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "caltech-101/101_ObjectCategories/" in out and "data.caltech.edu" in out
    assert not os.path.exists("/nonexistent")
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "vlprompt.data.base" in imported  # the check did run through the readers' code
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "torchvision", "open_clip")}
    assert not heavy, f"prepare.py imported {sorted(heavy)[:5]}"


@pytest.mark.parametrize("stem", list(EXPECTED))
def test_check_complete_and_empty(stem, prepare, data, tmp_path, capsys):
    root = data(stem)
    build(root, stem)  # a complete folder: the readers' split files exist
    assert prepare.main([stem, "--root", root, "--check"]) == 0
    assert "OK" in capsys.readouterr().out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare.main([stem, "--root", str(empty), "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{EXPECTED[stem][1]}/{DATASET_REGISTRY.get(registry_name(stem)).required[0]}" in err
    assert os.listdir(empty) == []


def test_generated_split_is_flagged(prepare, data, capsys):
    root = data("oxford_pets")  # annotations present, no split_zhou_OxfordPets.json
    assert prepare.main(["oxford_pets", "--root", root, "--check"]) == 0
    assert "split_zhou_OxfordPets.json is absent" in capsys.readouterr().out


def test_no_network_fails_fast_listing_the_urls(prepare, offline, tmp_path, capsys):
    start = time.monotonic()
    assert prepare.main(["oxford_flowers", "--root", str(tmp_path)]) == 1
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert "no network access" in err and "102flowers.tgz" in err and "oxford_flowers/jpg/" in err


def test_reachable_probe_is_bounded(prepare):
    ok, why = prepare.reachable("http://nonexistent.invalid/file.tar", timeout=2)
    assert not ok and why


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, src in members:
            tf.add(src, arcname=name)


def test_downloads_and_extracts_archives(prepare, offline, pristine, tmp_path, monkeypatch):
    """Pets from file:// archives laid out as the real ones (images/, annotations/), then usable."""
    src = pristine["oxford_pets"]
    _tar(tmp_path / "images.tar.gz", [("images", os.path.join(src, "images"))])
    _tar(tmp_path / "annotations.tar.gz", [("annotations", os.path.join(src, "annotations"))])
    reader = DATASET_REGISTRY.get("OxfordPets")
    monkeypatch.setattr(reader, "downloads", (
        Download((tmp_path / "images.tar.gz").as_uri(), "images/"),
        Download((tmp_path / "missing.json").as_uri(), reader.split_file),  # fails: generated instead
        Download((tmp_path / "annotations.tar.gz").as_uri(), "annotations/trainval.txt"),
    ))
    root = tmp_path / "root"
    root.mkdir()
    assert prepare.main(["oxford_pets", "--root", str(root)]) == 0
    assert sorted(os.listdir(root / "oxford_pets")) == ["annotations", "images"]  # archives removed
    assert len(build(root, "oxford_pets").test) == 24


def test_extract_strips_a_leading_folder(prepare, pristine, tmp_path, monkeypatch):
    """FGVC: only the archive's fgvc-aircraft-2013b/data/ becomes fgvc_aircraft/."""
    src = pristine["fgvc_aircraft"]
    archive = tmp_path / "fgvc.tar.gz"
    _tar(archive, [("fgvc-aircraft-2013b/data", src), ("fgvc-aircraft-2013b/evaluation.m", os.path.join(src, "variants.txt"))])
    monkeypatch.setattr(DATASET_REGISTRY.get("FGVCAircraft"), "downloads",
                        (Download(archive.as_uri(), "images/", strip="fgvc-aircraft-2013b/data/"),))
    root = tmp_path / "root"
    root.mkdir()
    assert prepare.main(["fgvc_aircraft", "--root", str(root)]) == 0
    assert sorted(os.listdir(root / "fgvc_aircraft")) == sorted(os.listdir(src))
    assert len(build(root, "fgvc_aircraft").train_x) == 57


@pytest.mark.parametrize("prefixed", [True, False])
def test_zip_strip_applies_only_when_present(prepare, tmp_path, prefixed):
    archive = tmp_path / "Partitions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ClassName.txt", "Training_01.txt"):
            zf.writestr(("Partitions/" if prefixed else "") + name, "x\n")
    dest = tmp_path / "out"
    prepare.extract(str(archive), str(dest), strip="Partitions/")
    assert sorted(os.listdir(dest)) == ["ClassName.txt", "Training_01.txt"]


def test_extract_refuses_paths_outside_the_folder(prepare, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escaped.txt", "x")
    with pytest.raises(RuntimeError, match="outside"):
        prepare.extract(str(archive), str(tmp_path / "out"))
    assert not (tmp_path / "escaped.txt").exists()
