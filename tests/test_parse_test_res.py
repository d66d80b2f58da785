"""parse_test_res.py counts seeds: a crashed or unfinished seed is reported, not averaged away."""
import json
import subprocess
import sys

import numpy as np
import pytest

import parse_test_res as ptr  # noqa: E402  (helpers put the repository root on sys.path)

from .helpers import REPO

FINISHED = "epoch [10/10] batch [5/5] loss 0.1\nFinish training\n=> result\n* total: 48\n* accuracy: {}%\n"
CRASHED = "epoch [3/10] batch [5/5] loss 0.9\nTraceback (most recent call last):\nRuntimeError: CUDA out of memory\n"


def _seed(exp, name, log=None, resumed_log=None, results=None):
    d = exp / name
    d.mkdir(parents=True)
    if log is not None:
        (d / "log.txt").write_text(log)
    if resumed_log is not None:
        (d / "log.txt-2024-05-01-10-00-00").write_text("earlier resume attempt, crashed\n")
        (d / "log.txt-2024-05-02-09-30-00").write_text(resumed_log)
    if results is not None:
        (d / "results.json").write_text(json.dumps({"metrics": {"accuracy": results, "error_rate": 100 - results}}))
    return d


def _run(*argv):
    return subprocess.run([sys.executable, str(REPO / "parse_test_res.py"), *map(str, argv)],
                          capture_output=True, text=True)


def test_seeds_are_counted_and_a_crashed_seed_fails(tmp_path):
    """seed1 finished; seed2 crashed, then its resumed run finished (log.txt-<timestamp>); seed3 crashed."""
    exp = tmp_path / "exp"
    _seed(exp, "seed1", log=FINISHED.format(82.1))
    _seed(exp, "seed2", log=CRASHED, resumed_log=FINISHED.format(80.0))
    _seed(exp, "seed3", log=CRASHED)
    res = _run(exp)
    assert res.returncode == 1
    assert f"{exp}: no final result in seed3 (n=2 of 3, missing: seed3)" in res.stderr
    assert "--allow-missing" in res.stderr and "Summary of directory" not in res.stdout
    assert f"file: {exp}/seed2/log.txt-2024-05-02-09-30-00. accuracy: 80.00%. " in res.stdout

    res = _run(exp, "--allow-missing")
    assert res.returncode == 0, res.stderr
    assert "Found a final result in 2 of 3 sub-folders" in res.stdout
    assert "* accuracy: 81.05% +- 1.05% (n=2 of 3, missing: seed3)" in res.stdout

    # Once seed3 finishes (its results.json is read first, rounded as the log prints it), the output
    # has the original lines.
    (exp / "seed3/results.json").write_text(json.dumps({"metrics": {"accuracy": 76.25}}))
    res = _run(exp)
    assert res.returncode == 0, res.stderr
    values = [82.1, 80.0, 76.2]
    assert res.stdout.splitlines() == [
        f"Parsing files in {exp}",
        f"file: {exp}/seed1/log.txt. accuracy: 82.10%. ",
        f"file: {exp}/seed2/log.txt-2024-05-02-09-30-00. accuracy: 80.00%. ",
        f"file: {exp}/seed3/results.json. accuracy: 76.20%. ",
        "Found a final result in 3 of 3 sub-folders",
        "===",
        f"Summary of directory: {exp}",
        f"* accuracy: {np.mean(values):.2f}% +- {np.std(values):.2f}%",
        "===",
    ]
    assert "accuracy: 76.25%" in _run(exp, "--results-json").stdout  # full precision on request


def test_nothing_found_says_what_was_expected(tmp_path):
    exp = tmp_path / "exp"
    _seed(exp, "seed1", log=CRASHED)
    (exp / "notes.txt").write_text("not a run")
    res = _run(exp)
    assert res.returncode == 1
    assert (f'Nothing found in {exp}: expected {exp}/seed*/ holding results.json, or log.txt with a line '
            f'"Finish training" followed by "* accuracy: X%" (its sub-folders: seed1)') in res.stderr
    res = _run(exp, "--test-log")
    assert 'a line "=> result" followed by' in res.stderr


def test_every_mode_flags_missing_seeds(tmp_path, capsys):
    # --multi-exp: every incomplete experiment is listed, then it fails.
    root = tmp_path / "multi"
    for exp, accs in (("a", [70.0, 72.0]), ("b", [60.0, None]), ("c", [None, 50.0])):
        for s, acc in enumerate(accs, start=1):
            _seed(root / exp, f"seed{s}", log=CRASHED if acc is None else FINISHED.format(acc))
    args = ptr.build_parser().parse_args([str(root), "--multi-exp"])
    with pytest.raises(SystemExit) as e:
        ptr.main(args, ptr.END_OF_TRAINING)
    assert f"{root}/b: no final result in seed2" in str(e.value) and f"{root}/c: no final result in seed1" in str(e.value)
    args = ptr.build_parser().parse_args([str(root), "--multi-exp", "--allow-missing"])
    ptr.main(args, ptr.END_OF_TRAINING)
    assert "Average performance\n* accuracy: 60.33%" in capsys.readouterr().out  # (71 + 60 + 50) / 3

    # --base2new: the novel side is expected to have the base side's seeds.
    b2n = tmp_path / "base2new"
    rel = "dtd/shots_16/CoCoOp/cfg"
    for s in (1, 2):
        _seed(b2n / "train_base" / rel, f"seed{s}", log=FINISHED.format(80.0 + s))
    _seed(b2n / "test_new" / rel, "seed1", log="=> result\n* accuracy: 60.0%\n")
    with pytest.raises(SystemExit) as e:
        ptr.base2new_tables(str(b2n))
    assert f"{b2n}/test_new/{rel}: no final result in seed2 (n=1 of 2, missing: seed2)" in str(e.value)
    rows = ptr.base2new_tables(str(b2n), allow_missing=True)["CoCoOp/cfg/shots_16"]
    assert rows[0][:3] == ["dtd", 81.5, 60.0]
    assert f"{b2n}/test_new/{rel}: n=1 of 2, missing: seed2" in capsys.readouterr().out

    # --xd: every target is expected to have the seeds the others have.
    xd = tmp_path / "xd"
    for target, seeds in (("dtd", (1, 2)), ("eurosat", (1,))):
        for s in seeds:
            _seed(xd / target, f"seed{s}", log="=> result\n* accuracy: 50.0%\n")
    with pytest.raises(SystemExit, match=f"{xd}/eurosat: no final result in seed2"):
        ptr.xd_tables(str(xd))
    assert ptr.xd_tables(str(xd), allow_missing=True)["Cross-dataset transfer"][1] == ["eurosat", 50.0]

    # --compare: a seed sub-folder without a final result.
    coop = tmp_path / "coop"
    _seed(coop, "seed1", results=70.0)
    _seed(coop, "seed2", log=CRASHED)
    with pytest.raises(SystemExit, match=f"{coop}: no final result in seed2"):
        ptr.compare_table([f"CoOp={coop}"])
    assert ptr.compare_table([f"CoOp={coop}"], allow_missing=True) == [["CoOp", 70.0, 0.0, 1]]
