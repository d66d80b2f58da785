"""The benchmark scripts run, and their fast paths agree with the plain reference path (tiny CLIP)."""
import json
import subprocess
import sys

import pytest

from .helpers import REPO


@pytest.mark.parametrize("script,args", [
    ("bench_train.py", ["--method", "coop", "--classes", "20", "--batch", "4", "--position", "middle"]),
    ("bench_train.py", ["--method", "cocoop", "--classes", "10", "--batch", "3", "--text-chunk", "16"]),
    ("bench_eval.py", ["--method", "coop", "--classes", "30", "--batch", "4", "--batches", "2", "--csc"]),
    ("bench_eval.py", ["--method", "cocoop", "--classes", "10", "--batch", "4", "--batches", "2"]),
])
def test_benchmark_reports_speedup_and_exactness(tmp_path, script, args):
    out = tmp_path / "r.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / script), "--arch", "tiny", "--steps", "1", "--warmup", "0",
           "--device", "cpu", "--json", str(out), *args]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    assert "speed-up" in res.stdout
    rows = json.loads(out.read_text())["rows"]
    fast, plain = rows
    assert fast["path"] == "fast" and plain["path"] == "plain"
    tokens = "text tokens/step" if script == "bench_train.py" else "text tokens/eval"
    assert fast[tokens] < plain[tokens]
    assert fast["max rel diff logits"] < 1e-4
    if script == "bench_train.py":
        assert fast["max rel diff ctx grad"] < 1e-3
