"""Expand a grid (datasets x shots x seeds x configs) into train.py runs; skip finished ones.

    python scripts/sweep.py --trainer CoOp --datasets caltech101 dtd --shots 1 2 4 8 16 \\
        --configs rn50_ep50 --root $DATA                 # run one after another
    python scripts/sweep.py ... --print > jobs.txt       # print the commands (one per line) for a scheduler
    python scripts/sweep.py ... --paper-epochs           # CoOp paper: 1 shot ep50, 2/4 ep100, 8/16 full

Output folders follow the shell scripts: CoOp ``output/<dataset>/CoOp/<cfg>_<K>shots/nctx<N>_csc<C>_ctp<P>/seed<S>``,
other trainers ``output/<dataset>/<Trainer>/<cfg>_<K>shots/seed<S>``. A run whose folder already holds a
results.json is finished and skipped; a folder without one (an interrupted run) is resumed by train.py.
Extra config options follow ``--`` (e.g. ``-- DATALOADER.NUM_WORKERS 4``).
"""
from __future__ import annotations

import argparse
import itertools
import os
import shlex
import subprocess
import sys
from typing import List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def paper_config(cfg: str, shots: int) -> str:
    """The CoOp paper's epochs per shot count: rn50 -> rn50_ep50 (1 shot), rn50_ep100 (2/4 shots)."""
    if shots == 1:
        return f"{cfg}_ep50"
    if shots in (2, 4):
        return f"{cfg}_ep100"
    return cfg


def expand(args) -> List[dict]:
    runs = []
    for dataset, shots, seed, cfg in itertools.product(args.datasets, args.shots, args.seeds, args.configs):
        cfg_k = paper_config(cfg, shots) if args.paper_epochs else cfg
        exp = f"{cfg_k}_{shots}shots"
        if args.trainer == "CoOp":
            exp = os.path.join(exp, f"nctx{args.nctx}_csc{args.csc}_ctp{args.ctp}")
        out = os.path.join(args.output_root, dataset, args.trainer, exp, f"seed{seed}")
        cmd = [sys.executable, os.path.join(REPO, "train.py"), "--root", args.root, "--seed", str(seed),
               "--trainer", args.trainer,
               "--dataset-config-file", os.path.join(REPO, "configs", "datasets", f"{dataset}.yaml"),
               "--config-file", os.path.join(REPO, "configs", "trainers", args.trainer, f"{cfg_k}.yaml"),
               "--output-dir", out]
        opts = ["DATASET.NUM_SHOTS", str(shots)]
        if args.trainer == "CoOp":
            opts += ["TRAINER.COOP.N_CTX", str(args.nctx), "TRAINER.COOP.CSC", str(args.csc),
                     "TRAINER.COOP.CLASS_TOKEN_POSITION", args.ctp]
        runs.append({"out": out, "cmd": cmd + opts + list(args.opts)})
    return runs


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trainer", default="CoOp")
    p.add_argument("--datasets", nargs="+", required=True, help="config stems under configs/datasets/")
    p.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--configs", nargs="+", required=True, help="config stems under configs/trainers/<trainer>/")
    p.add_argument("--root", default=os.environ.get("DATA", ""), help="datasets folder (default: $DATA)")
    p.add_argument("--output-root", default="output")
    p.add_argument("--nctx", type=int, default=16)
    p.add_argument("--csc", default="False", choices=["False", "True"])
    p.add_argument("--ctp", default="end", choices=["end", "middle", "front"])
    p.add_argument("--paper-epochs", action="store_true")
    p.add_argument("--print", action="store_true", help="print the commands of unfinished runs and exit")
    p.add_argument("--keep-going", action="store_true", help="continue after a failed run")
    args = p.parse_args(argv)
    args.opts = opts
    if not args.root:
        p.error("--root (or $DATA) is required")
    for cfg in args.configs:
        for shots in args.shots:
            name = paper_config(cfg, shots) if args.paper_epochs else cfg
            path = os.path.join(REPO, "configs", "trainers", args.trainer, f"{name}.yaml")
            if not os.path.isfile(path):
                p.error(f"config not found: {path}")
    runs = expand(args)
    todo = [r for r in runs if not os.path.isfile(os.path.join(r["out"], "results.json"))]
    for r in runs:
        if r not in todo and not args.print:
            print(f"Skip (finished): {r['out']}")
    if args.print:
        for r in todo:
            print(shlex.join(r["cmd"]))
        return 0
    failed = 0
    for i, r in enumerate(todo, start=1):
        print(f"[{i}/{len(todo)}] {r['out']}", flush=True)
        rc = subprocess.run(r["cmd"], stdout=subprocess.DEVNULL).returncode
        if rc != 0:
            failed += 1
            print(f"  failed (exit {rc}); see {os.path.join(r['out'], 'log.txt')}", flush=True)
            if not args.keep_going:
                return rc
    print(f"Done: {len(todo) - failed} run, {len(runs) - len(todo)} skipped, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
