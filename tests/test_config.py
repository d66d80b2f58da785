"""Config tree, merge order and errors."""
import argparse

import pytest

from vlprompt.config import get_cfg, merge_opts, setup_cfg

from .helpers import CALTECH_CFG, REPO


def test_defaults_match_reference():
    cfg = get_cfg()
    assert cfg.OPTIM.NAME == "adam" and cfg.OPTIM.LR == 0.0003 and cfg.OPTIM.WEIGHT_DECAY == 5e-4
    assert cfg.TRAINER.COOP.N_CTX == 16 and cfg.TRAINER.COOP.PREC == "fp16"
    assert cfg.TRAINER.COOP.CLASS_TOKEN_POSITION == "end" and cfg.TRAINER.COCOOP.N_CTX == 16
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all" and cfg.TEST.FINAL_MODEL == "last_step"
    assert tuple(cfg.INPUT.SIZE) == (224, 224) and cfg.DATALOADER.TEST.BATCH_SIZE == 32


def test_merge_order_and_literal_parsing():
    args = argparse.Namespace(
        dataset_config_file=CALTECH_CFG, config_file=str(REPO / "configs/trainers/CoOp/rn50_ep50_ctxv1.yaml"),
        root="/data", output_dir="out", seed=3, trainer="CoOp", resume="", backbone="", head="",
        source_domains=None, target_domains=None, transforms=None,
        opts=["TRAINER.COOP.CSC", "True", "DATASET.NUM_SHOTS", "16", "TRAINER.COOP.CLASS_TOKEN_POSITION", "middle",
              "OPTIM.MAX_EPOCH", "7"],
    )
    cfg = setup_cfg(args)
    assert cfg.DATASET.NAME == "Caltech101" and cfg.DATASET.ROOT == "/data" and cfg.SEED == 3
    assert cfg.MODEL.BACKBONE.NAME == "RN50" and cfg.TRAINER.COOP.CTX_INIT == "a photo of a"
    assert cfg.TRAINER.COOP.CSC is True and cfg.DATASET.NUM_SHOTS == 16
    assert cfg.TRAINER.COOP.CLASS_TOKEN_POSITION == "middle"
    assert cfg.OPTIM.MAX_EPOCH == 7  # opts beat the YAML file
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and isinstance(cfg.OPTIM.WARMUP_CONS_LR, float)
    assert tuple(cfg.INPUT.SIZE) == (224, 224) and cfg.INPUT.INTERPOLATION == "bicubic"
    assert cfg.is_frozen()


def test_seed_zero_is_ignored_as_in_reference():
    cfg = setup_cfg(argparse.Namespace(seed=0, opts=[]))
    assert cfg.SEED == -1


def test_unknown_key_in_opts_names_the_key():
    cfg = get_cfg()
    with pytest.raises(KeyError, match=r"TRAINER\.COOP\.NCTX"):
        merge_opts(cfg, ["TRAINER.COOP.NCTX", "4"])


def test_unknown_key_in_yaml_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  LEARNING_RATE: 0.1\n")
    with pytest.raises(KeyError, match="LEARNING_RATE") as e:
        setup_cfg(config_file=str(bad))
    assert "bad.yaml" in str(e.value)


def test_type_mismatch_and_odd_opts_are_errors():
    cfg = get_cfg()
    with pytest.raises(ValueError):
        merge_opts(cfg, ["OPTIM.MAX_EPOCH", "ten"])
    with pytest.raises(ValueError, match="KEY VALUE"):
        merge_opts(cfg, ["OPTIM.MAX_EPOCH"])


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        setup_cfg(config_file="nope.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "configs/trainers/CoOp").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_released_coop_config_merges(path):
    cfg = setup_cfg(config_file=str(path))
    if path.stem != "rn50_val" and not path.stem.startswith("tiny"):
        assert cfg.OPTIM.NAME == "sgd" and cfg.OPTIM.LR == 0.002 and cfg.OPTIM.LR_SCHEDULER == "cosine"
        assert cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 32 and cfg.DATALOADER.TEST.BATCH_SIZE == 100
        expected_epochs = 50 if "ep50" in path.stem else 100 if "ep100" in path.stem else 200
        assert cfg.OPTIM.MAX_EPOCH == expected_epochs
        assert (cfg.TRAINER.COOP.CTX_INIT == "a photo of a") == ("ctxv1" in path.stem)
