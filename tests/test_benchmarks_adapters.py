"""bench_train.py --method clip_lora / tip_adapter_f run, and their fast paths agree with the plain ones (tiny CLIP)."""
import json

import pytest

from .helpers import REPO

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("method,extra", [("clip_lora", []), ("clip_lora", ["--lora-dropout", "0"]),
                                          ("tip_adapter_f", ["--shots", "4"])])
def test_adapter_benchmarks_report_speedup_and_exactness(tmp_path, monkeypatch, capsys, method, extra):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import bench_train

    out = tmp_path / "r.json"
    bench_train.main(["--arch", "tiny", "--method", method, "--classes", "12", "--batch", "4", "--steps", "1",
                      "--warmup", "0", "--device", "cpu", "--json", str(out), *extra])
    assert "speed-up" in capsys.readouterr().out
    result = json.loads(out.read_text())
    fast, plain = result["rows"]
    assert (fast["path"], plain["path"]) == ("fast", "plain") and fast["method"] == method
    assert fast["speed-up"] > 0 and fast["images/s"] > 0 and fast["peak MB"] > 0
    assert fast["max rel diff logits"] < 1e-4
    if method == "clip_lora":
        assert fast["max rel diff lora grad"] < 1e-3
        assert fast["text tokens/step"] < plain["text tokens/step"] == 12 * 77
        # With the LoRA dropout on, each prompt keeps its own draw: only the EOT truncation applies.
        assert result["meta"]["shared_prefix_in_training"] == (5 if extra else 0)
    else:
        assert fast["max rel diff keys grad"] < 1e-5 and fast["cache"] == 48
