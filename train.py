"""Train / evaluate a method: the original CoOp ``train.py`` command line on the vlprompt framework.

    python train.py --root DATA --seed 1 --trainer CoOp \
        --dataset-config-file configs/datasets/caltech101.yaml \
        --config-file configs/trainers/CoOp/rn50_ep50.yaml \
        --output-dir output/... TRAINER.COOP.N_CTX 16 DATASET.NUM_SHOTS 16
"""
import argparse
import os
import sys

import torch

from vlprompt.config import setup_cfg
from vlprompt.engine import build_trainer
from vlprompt.utils import collect_env_info, set_random_seed
from vlprompt.utils.cli import parse_args_anywhere
from vlprompt.utils.dist import cleanup_distributed, init_distributed, is_main_process
from vlprompt.utils.run_guard import guarded_run


def print_args(args, cfg) -> None:
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(args.__dict__):
        print(f"{key}: {args.__dict__[key]}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=str, default="", help="path to dataset")
    p.add_argument("--output-dir", type=str, default="", help="output directory")
    p.add_argument("--resume", type=str, default="", help="checkpoint directory (from which the training resumes)")
    p.add_argument("--seed", type=int, default=-1, help="only positive value enables a fixed seed")
    p.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    p.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    p.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    p.add_argument("--config-file", type=str, default="", help="path to config file")
    p.add_argument("--dataset-config-file", type=str, default="", help="path to config file for dataset setup")
    p.add_argument("--trainer", type=str, default="", help="name of trainer")
    p.add_argument("--backbone", type=str, default="", help="name of CNN backbone")
    p.add_argument("--head", type=str, default="", help="name of head")
    p.add_argument("--eval-only", action="store_true", help="evaluation only")
    p.add_argument("--model-dir", type=str, default="", help="load model from this directory for eval-only mode")
    p.add_argument("--load-epoch", type=int, help="load model weights at this epoch for evaluation")
    p.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    p.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="modify config options using the command-line")
    return p


def main(argv=None) -> None:
    args = parse_args_anywhere(build_parser(), argv)  # flags may also follow the KEY VALUE options
    cfg = setup_cfg(args)
    world = init_distributed(cfg.USE_CUDA)  # torchrun --nproc_per_node=N train.py ...
    if not is_main_process():
        sys.stdout = open(os.devnull, "w")  # one log: rank 0 prints and writes log.txt
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)  # same seed on every rank: same few-shot split and initial context
    # Rank 0 locks the output folder and starts log.txt; crashes and SIGTERM end up in the log.
    with guarded_run(cfg.OUTPUT_DIR, main_process=is_main_process()):
        run(args, cfg, world)


def run(args: argparse.Namespace, cfg, world: int) -> None:
    """The run itself (inside the output folder's guard): print the set-up, build the trainer, train or test."""
    if world > 1:
        print(f"Distributed run: {world} processes (global batch {cfg.DATALOADER.TRAIN_X.BATCH_SIZE})")
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print_args(args, cfg)
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")

    trainer = build_trainer(cfg)
    trainer.write_run_info()  # config.yaml + classes.json: what vlprompt.predict rebuilds the model from
    try:
        if args.eval_only:
            trainer.load_model(args.model_dir, epoch=args.load_epoch)
            trainer.test()
            return
        if not args.no_train:
            trainer.train()
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    try:
        main()
    finally:
        sys.stdout.flush()
