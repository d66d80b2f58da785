"""LinearProbe: the C search, the logistic-regression solver, and train.py / main.sh runs on generated data."""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vlprompt.trainers.linear_probe import C_GRID, accuracy, fit_logistic_regression, search_regularization

from .helpers import REPO, coop_args, final_accuracy

LP_TINY = str(REPO / "configs/trainers/LinearProbe/tiny.yaml")
pytestmark = pytest.mark.usefixtures("one_thread")


def _reference_search(acc, num_step):
    """The spec's algorithm, literally (no memoisation), for comparison."""
    accs = [acc(c) for c in C_GRID]
    peak = C_GRID[int(np.argmax(accs))]
    left, right = peak * 0.1, peak * 10
    final = None
    for _ in range(num_step):
        acc_left, acc_right = acc(left), acc(right)
        if acc_left < acc_right:
            final = right
            left, right = 0.5 * (math.log10(right) + math.log10(left)), math.log10(right)
        else:
            final = left
            right, left = 0.5 * (math.log10(right) + math.log10(left)), math.log10(left)
        left, right = 10 ** left, 10 ** right
    return final


def test_search_converges_to_the_peak_and_fits_each_c_once():
    calls = []

    def acc(c):  # unimodal in log10(C), peak at 10**0.37
        calls.append(c)
        return -abs(math.log10(c) - 0.37)

    chosen, history = search_regularization(acc, num_step=8)
    assert abs(math.log10(chosen) - 0.37) < 2 / 2 ** 7
    # Interval ends are revisited across rounds, but each C is evaluated once.
    assert len(calls) == len(history) == len({round(math.log10(c), 6) for c in calls}) < 7 + 2 * 8
    assert [c for c, _ in history[:7]] == list(C_GRID)


@pytest.mark.parametrize("seed", range(5))
def test_search_equals_the_reference_algorithm(seed):
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 4, size=40)  # a step function of log10(C) with many ties

    def acc(c):
        return float(levels[int(np.clip((math.log10(c) + 10.3) * 2, 0, 39))])  # steps off the grid points

    assert search_regularization(acc, num_step=8)[0] == pytest.approx(_reference_search(acc, 8), rel=1e-9)


def test_search_ties_prefer_the_first_peak_and_the_left_end():
    chosen, _ = search_regularization(lambda c: 1.0, num_step=3)
    # Peak = first grid point (1e6); every round keeps the left end: 1e5, then halves towards it.
    assert chosen == pytest.approx(1e5)
    with pytest.raises(ValueError, match="num_step"):
        search_regularization(lambda c: 1.0, num_step=-1)


def _gaussian(n, g, k, d, sep):
    y = torch.arange(n) % k
    mu = torch.zeros(k, d)
    mu[torch.arange(k), torch.arange(k)] = sep
    return (mu[y] + torch.randn(n, d, generator=g)).double(), y


def _anisotropic(n, g):
    """Two classes: a large mean gap drowned in noise on x1, a small clean gap on x2. Only a weakly
    regularised fit finds x2 (a strongly regularised one follows the class means, i.e. x1)."""
    y = torch.arange(n) % 2
    s = y.double() * 2 - 1
    x = torch.stack([s + 10 * torch.randn(n, generator=g, dtype=torch.double),
                     0.2 * s + 0.05 * torch.randn(n, generator=g, dtype=torch.double)], 1)
    return x, y


def test_search_picks_the_regularisation_on_val():
    g = torch.Generator().manual_seed(0)

    def run(train, val, k):
        fits = {}

        def val_acc(c):
            fits[c] = fit_logistic_regression(*train, k, c, max_iter=300)
            return accuracy(*val, *fits[c])

        chosen, history = search_regularization(val_acc)
        return chosen, dict(history)

    # Few samples, many isotropic noise dimensions: strong regularisation generalises better.
    chosen, accs = run(_gaussian(40, g, 4, 30, 2.0), _gaussian(2000, g, 4, 30, 2.0), 4)
    assert chosen <= 1.0 and accs[chosen] >= accs[1e6] + 3
    # The informative direction has a small mean gap: weak regularisation is needed.
    chosen, accs = run(_anisotropic(40, g), _anisotropic(2000, g), 2)
    assert chosen >= 100 and accs[chosen] >= 95 and accs[1e-2] < accs[chosen] - 15


def test_fit_matches_scikit_learn_and_separates_separable_data():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(1)
    x, y = _gaussian(120, g, 4, 16, 1.0)
    w, b = fit_logistic_regression(x, y, 4, C=1.0, tol=1e-9)
    ref = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(x.numpy(), y.numpy())
    np.testing.assert_allclose(w.numpy(), ref.coef_, atol=1e-4)
    np.testing.assert_allclose(b.numpy(), ref.intercept_, atol=1e-4)

    x, y = _gaussian(64, g, 8, 32, 6.0)  # well separated
    assert accuracy(x, y, *fit_logistic_regression(x, y, 8, C=1e4)) == 100.0
    with pytest.raises(ValueError, match="C must be positive"):
        fit_logistic_regression(x, y, 8, C=0)


def test_linear_probe_train_py_saves_classifier_and_eval_only_reproduces(run_train, data_root, tmp_path):
    feats = str(tmp_path / "features")
    opts = ["DATASET.NUM_SHOTS", "4", "TRAINER.FEATURES.CACHE_DIR", feats]
    out = tmp_path / "lp"
    log = run_train(coop_args(data_root, out, trainer="LinearProbe", config=LP_TINY), opts)
    chosen = float(re.search(r"Chosen C = (\S+) \(val accuracy", log).group(1))
    train_acc = float(re.search(r"train accuracy ([\d.]+)%", log).group(1))
    assert train_acc >= 95.0
    assert log.index("Finish training") < log.index("* accuracy:")
    acc = final_accuracy(log)
    assert acc >= 50.0, "a linear probe separates the generated classes well above chance (12.5%)"
    ckpt = torch.load(out / "linear_probe/model.pth.tar-1", weights_only=True)
    assert set(ckpt["state_dict"]) == {"linear.weight", "linear.bias", "C"}
    assert ckpt["state_dict"]["linear.weight"].shape[0] == 8
    assert float(ckpt["state_dict"]["C"]) == pytest.approx(chosen, rel=1e-3)
    assert (out / "linear_probe/checkpoint").read_text() == "model.pth.tar-1\n"
    assert (out / "results.json").is_file()

    eval_log = run_train(coop_args(data_root, tmp_path / "eval", trainer="LinearProbe", config=LP_TINY)
                         + ["--eval-only", "--model-dir", str(out), "--load-epoch", "1"], opts)
    assert "Reusing cached test features" in eval_log and "Extracting" not in eval_log
    assert final_accuracy(eval_log) == acc


def test_fixed_c_and_bad_config(run_train, data_root, tmp_path):
    opts = ["DATASET.NUM_SHOTS", "2", "TRAINER.FEATURES.CACHE_DIR", str(tmp_path / "f"),
            "TRAINER.LINEAR_PROBE.C", "0.5"]
    log = run_train(coop_args(data_root, tmp_path / "fixed", trainer="LinearProbe", config=LP_TINY), opts)
    assert "Using TRAINER.LINEAR_PROBE.C = 0.5 (no search)" in log and "val features" not in log
    with pytest.raises(ValueError, match="LINEAR_PROBE"):
        run_train(coop_args(data_root, tmp_path / "bad", trainer="LinearProbe", config=LP_TINY),
                  ["TRAINER.LINEAR_PROBE.NUM_STEP", "-1"])


def test_main_script_and_parse_test_res(data_root, tmp_path):
    """scripts/linear_probe/main.sh: seeds 1-3 into output/<dataset>/LinearProbe/<cfg>_<shots>shots/seed<S>."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("train.py", "parse_test_res.py", "configs", "scripts"):
        os.symlink(REPO / name, work / name)
    env = dict(os.environ, DATA=data_root, HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    cmd = ["bash", "scripts/linear_probe/main.sh", "caltech101", "tiny", "4"]
    first = subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, text=True)
    exp = work / "output/caltech101/LinearProbe/tiny_4shots"
    for seed in (1, 2, 3):
        assert (exp / f"seed{seed}/linear_probe/model.pth.tar-1").is_file()
    # The cache lives under the (test) home folder; the test split is extracted once for all seeds.
    assert len(list(Path(tmp_path / "home/.cache/vlprompt/features").glob("Caltech101_test_*.pt"))) == 1
    assert first.stdout.count("Reusing cached test features") == 2
    again = subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, text=True)
    skipped = "Oops! The results exist at output/caltech101/LinearProbe/tiny_4shots/seed3 (so skip this job)"
    assert skipped in again.stdout
    res = subprocess.run([sys.executable, "parse_test_res.py", str(exp)], cwd=work, check=True, capture_output=True,
                         text=True).stdout
    accs = [float(a) for a in re.findall(r"accuracy: ([\d.]+)%\. ", res)]
    assert len(accs) == 3
    assert f"* accuracy: {np.mean(accs):.2f}% +- {np.std(accs):.2f}%" in res


@pytest.mark.parametrize("path", sorted((REPO / "configs/trainers/LinearProbe").glob("*.yaml")), ids=lambda p: p.stem)
def test_configs_merge(path):
    from vlprompt.config import setup_cfg

    cfg = setup_cfg(config_file=str(path))
    assert cfg.TRAINER.LINEAR_PROBE.NUM_STEP == 8 and "normalize" in cfg.INPUT.TRANSFORMS
