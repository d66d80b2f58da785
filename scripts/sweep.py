"""Expand a grid (datasets x shots x seeds x configs) of one protocol into runs; skip finished ones.

    python scripts/sweep.py --trainer CoOp --datasets caltech101 dtd --shots 1 2 4 8 16 \\
        --configs rn50_ep50 --root $DATA                 # run one after another
    python scripts/sweep.py ... --print > jobs.txt       # print the commands (one per line) for a scheduler
    python scripts/sweep.py ... --paper-epochs           # CoOp paper: 1 shot ep50, 2/4 ep100, 8/16 full
    python scripts/sweep.py --protocol base2new --trainer CoCoOp --datasets dtd --configs <cfg> --shots 16
    python scripts/sweep.py ... --launcher local --workers 4            # 4 runs at a time on this machine
    python scripts/sweep.py ... --launcher local --gpus 8 --runs-per-gpu 2   # an 8-GPU box, 2 small runs per GPU
    python scripts/sweep.py ... --launcher slurm --partition gpu --time 240 --no-wait   # a job array on Slurm

Runs, output folders and the finished rule are those of ``vlprompt/launch.py`` (the shell scripts use
the same): a folder holding results.json is finished and skipped; a folder without one (an interrupted
run) is resumed by train.py. Extra config options follow ``--`` (e.g. ``-- TRAINER.COOP.N_CTX 8``);
a method's variant folder (CoOp's ``nctx16_cscFalse_ctpend``) follows from the merged config.
"""
from __future__ import annotations

import argparse
import itertools
import os
import shlex
import sys
from typing import List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vlprompt.launch import PROTOCOLS, RunSpec, add_launcher_args, find_trainer_config, launch, launcher_from_args  # noqa: E402


def paper_config(cfg: str, shots: int) -> str:
    """The CoOp paper's epochs per shot count: rn50 -> rn50_ep50 (1 shot), rn50_ep100 (2/4 shots)."""
    if shots == 1:
        return f"{cfg}_ep50"
    if shots in (2, 4):
        return f"{cfg}_ep100"
    return cfg


def expand(args) -> List[RunSpec]:
    runs = []
    protocols = ["base2new_train", "base2new_test"] if args.protocol == "base2new" else [args.protocol]
    for protocol in protocols:
        for dataset, shots, seed, cfg in itertools.product(args.datasets, args.shots, args.seeds, args.configs):
            cfg_k = paper_config(cfg, shots) if args.paper_epochs else cfg
            runs.append(RunSpec(protocol, args.trainer, dataset, cfg_k, seed=seed, shots=shots, root=args.root,
                                output_root=args.output_root, opts=tuple(args.opts)))
    return runs


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trainer", default="CoOp")
    p.add_argument("--protocol", default="fewshot", choices=[x for x in PROTOCOLS if x != "zeroshot"] + ["base2new"],
                   help="base2new = base2new_train then base2new_test")
    p.add_argument("--datasets", nargs="+", required=True, help="config stems under configs/datasets/")
    p.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--configs", nargs="+", required=True, help="config stems under configs/trainers/<trainer>/ (or YAML paths)")
    p.add_argument("--root", default=os.environ.get("DATA", ""), help="datasets folder (default: $DATA)")
    p.add_argument("--output-root", default="output")
    p.add_argument("--paper-epochs", action="store_true")
    p.add_argument("--print", action="store_true", help="print the commands of unfinished runs and exit")
    p.add_argument("--keep-going", action="store_true", help="continue after a failed run")
    add_launcher_args(p)
    args = p.parse_args(argv)
    args.opts = opts
    if not args.root:
        p.error("--root (or $DATA) is required")
    for cfg in args.configs:
        for shots in args.shots:
            try:
                find_trainer_config(args.trainer, paper_config(cfg, shots) if args.paper_epochs else cfg)
            except (FileNotFoundError, KeyError) as e:
                p.error(str(e))
    runs = expand(args)
    todo = [r for r in runs if r.status() != "finished"]
    if args.print:
        for r in todo:
            print(shlex.join(r.command()))
        return 0
    summary = launch(runs, keep_going=args.keep_going, quiet=True, progress=True, launcher=launcher_from_args(args))
    print(summary)
    return summary.returncode


if __name__ == "__main__":
    sys.exit(main())
