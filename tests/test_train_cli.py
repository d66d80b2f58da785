"""train.py's command line: the flags may come before or after the KEY VALUE config options."""
import pytest

import train  # noqa: E402  (helpers put the repository root on sys.path)
from vlprompt.config import setup_cfg
from vlprompt.utils.cli import parse_args_anywhere, split_flags

from .helpers import CALTECH_CFG, TINY_CFG

FLAGS = ["--root", "data", "--seed", "2", "--trainer", "CoOp", "--dataset-config-file", CALTECH_CFG,
         "--config-file", TINY_CFG, "--output-dir", "out"]
OPTS = ["TRAINER.COOP.N_CTX", "4", "DATASET.NUM_SHOTS", "8", "SEED", "-1"]
LATE = ["--resume", "runs/part", "--eval-only", "--load-epoch", "5", "--model-dir=runs/model"]


def _parse(argv):
    return parse_args_anywhere(train.build_parser(), argv)


def test_flags_after_the_options_give_the_same_args_and_config():
    usual = _parse(FLAGS + LATE + OPTS)
    assert usual.opts == OPTS and usual.resume == "runs/part" and usual.eval_only and usual.load_epoch == 5
    assert vars(usual) == vars(train.build_parser().parse_args(FLAGS + LATE + OPTS))  # unchanged when in front
    for argv in (FLAGS + OPTS + LATE, FLAGS[:6] + OPTS[:2] + LATE[:2] + OPTS[2:] + LATE[2:] + FLAGS[6:]):
        late = _parse(argv)
        assert vars(late) == vars(usual), argv
        assert setup_cfg(late).dump() == setup_cfg(usual).dump()
    cfg = setup_cfg(_parse(FLAGS + OPTS + LATE))
    assert (cfg.RESUME, cfg.TRAINER.COOP.N_CTX, cfg.DATASET.NUM_SHOTS, cfg.SEED) == ("runs/part", 4, 8, -1)


def test_values_are_never_taken_for_flags():
    # Tokens in a VALUE position stay config values, whatever they look like.
    flags, opts = split_flags(train.build_parser(), ["OUTPUT_DIR", "--resume", "--seed", "3", "SEED", "-1"])
    assert flags == ["--seed", "3"] and opts == ["OUTPUT_DIR", "--resume", "SEED", "-1"]


@pytest.mark.parametrize("late, message", [
    (["--source-domains", "a", "b"], "--source-domains takes several values and cannot follow the KEY VALUE options"),
    (["--resum", "runs/part"], 'unknown flag "--resum" among the KEY VALUE options'),
])
def test_ambiguous_or_unknown_flags_after_the_options_fail(capsys, late, message):
    with pytest.raises(SystemExit) as e:
        _parse(FLAGS + OPTS + late)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
