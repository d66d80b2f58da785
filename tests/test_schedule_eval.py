"""LR schedules (exact sequences of the spec), optimiser, evaluator output."""
import re

import pytest
import torch

from vlprompt.config import get_cfg_default
from vlprompt.evaluation import Classification
from vlprompt.optim import build_lr_scheduler, build_optimizer


def _lrs(**optim):
    cfg = get_cfg_default()
    for k, v in optim.items():
        setattr(cfg.OPTIM, k, v)
    p = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer([p], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    out = []
    for _ in range(cfg.OPTIM.MAX_EPOCH):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return out


def test_released_schedule_constant_warmup_cosine_e10():
    lrs = _lrs(NAME="sgd", LR=0.002, MAX_EPOCH=10, LR_SCHEDULER="cosine", WARMUP_EPOCH=1,
               WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    expected = [1e-5, 0.002, 0.00195106, 0.00180902, 0.00158779, 0.00130902, 0.001, 0.000690983,
                0.000412215, 0.000190983]
    assert lrs == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("epochs,last", [(50, 7.8853e-6), (200, 4.934e-7)])
def test_released_schedule_last_epoch_never_zero(epochs, last):
    lrs = _lrs(NAME="sgd", LR=0.002, MAX_EPOCH=epochs, LR_SCHEDULER="cosine", WARMUP_EPOCH=1,
               WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    assert lrs[-1] == pytest.approx(last, rel=1e-3)


def test_linear_warmup_sequence():
    lrs = _lrs(NAME="sgd", LR=0.002, MAX_EPOCH=10, LR_SCHEDULER="cosine", WARMUP_EPOCH=3, WARMUP_TYPE="linear",
               WARMUP_MIN_LR=1e-5)
    assert lrs[:5] == pytest.approx([1e-5, 6.667e-4, 1.333e-3, 0.002, 0.00195106], rel=1e-3)


def test_step_schedules():
    assert _lrs(LR=1.0, MAX_EPOCH=6, LR_SCHEDULER="single_step", STEPSIZE=(2,), GAMMA=0.1) == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    assert _lrs(LR=1.0, MAX_EPOCH=5, LR_SCHEDULER="multi_step", STEPSIZE=(1, 3), GAMMA=0.5) == pytest.approx(
        [1, 0.5, 0.5, 0.25, 0.25])


def test_sgd_hyperparameters_and_bad_names():
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.OPTIM)
    g = opt.param_groups[0]
    assert (g["momentum"], g["weight_decay"], g["dampening"], g["nesterov"]) == (0.9, 5e-4, 0, False)
    cfg.OPTIM.NAME = "lion"
    with pytest.raises(ValueError, match="OPTIM.NAME"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.OPTIM)


def test_evaluator_prints_reference_lines(capsys):
    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = True
    ev = Classification(cfg, lab2cname={0: "a", 1: "b", 2: "c"})
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0], [0, 0, 5.0]])
    ev.process(logits, torch.tensor([0, 1, 1, 2]))
    res = ev.evaluate()
    out = capsys.readouterr().out
    assert "=> result\n* total: 4\n* correct: 3\n* accuracy: 75.0%\n* error: 25.0%\n* macro_f1: 77.8%" in out
    assert "* class: 1 (b)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out
    assert "* average: 83.3%" in out
    assert list(res)[:3] == ["accuracy", "error_rate", "macro_f1"]
    assert re.search(r"\* accuracy: ([\.\deE+-]+)%", out).group(1) == "75.0"
