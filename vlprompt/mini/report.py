"""Measure the MiniCLIP world's findings through ``train.py`` (the numbers of docs/miniclip.md).

    python -m vlprompt.mini.report --root data/mini --out output/mini_report --seeds 1 2 3

Runs, per benchmark: zero-shot CLIP (all / base / new classes), CoOp at each number of shots (all
classes), and CoOp and CoCoOp trained on the base classes (16 shots) evaluated on the base and the new classes
(with --baselines also LinearProbe and CLIP-Adapter, 16 shots);
prints a markdown table of the mean over seeds (± std). Every run is an ordinary train.py run (outputs
under --out), so any number can be re-run from its log.txt. Needs a source checkout (train.py, configs/).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from .benchmarks import BENCHMARKS

REPO = Path(__file__).resolve().parents[2]
# config stem (configs/datasets/<stem>.yaml) -> DATASET.NAME; each stem is its benchmark's folder name
BENCHMARK_STEMS = {bench.dataset_dir: name for name, bench in BENCHMARKS.items()}
COOP_CFG = "mini_ep50"  # few-shot: M=16 random context (CoOp's default)
BASE2NEW_CFG = "mini_ep50_ctxv1"  # base-to-new: M=4 from "a photo of a" (as scripts/coop/base2new_*.sh)
COCOOP_CFG = "mini_c4_ep30_batch4"
BASELINE_CFGS = {"LinearProbe": "mini", "CLIP_Adapter": "mini_ep50"}  # trainer -> config, 16 shots


def config(kind: str, name: str) -> str:
    return str(REPO / "configs" / kind / f"{name}.yaml")


def run_train(argv: Sequence[str]) -> dict:
    """``train.py`` in-process (a finished run with results.json is reused); returns results.json."""
    out = argv[list(argv).index("--output-dir") + 1]
    path = os.path.join(out, "results.json")
    if not os.path.isfile(path):
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        import train

        saved = sys.stdout
        try:
            train.main(list(argv))
        finally:
            if sys.stdout is not saved:  # train.py tees stdout into log.txt
                sys.stdout.flush()
                sys.stdout.close()
                sys.stdout = saved
    with open(path) as f:
        return json.load(f)


def _common(root: str, stem: str, trainer: str, cfg: str, out: str, seed: int) -> List[str]:
    return ["--root", root, "--seed", str(seed), "--trainer", trainer,
            "--dataset-config-file", config("datasets", stem), "--config-file", cfg, "--output-dir", out]


def zeroshot(root: str, out: str, stem: str, sub: str = "all", opts: Sequence[str] = ()) -> float:
    d = os.path.join(out, "ZeroshotCLIP", stem, sub)
    argv = _common(root, stem, "ZeroshotCLIP", config("trainers/CoOp", COOP_CFG), d, 1) + ["--eval-only"]
    return run_train(argv + ["DATASET.SUBSAMPLE_CLASSES", sub] + list(opts))["metrics"]["accuracy"]


def run_dir(out: str, stem: str, shots: int, seed: int, sub: str = "all", cfg: str = COOP_CFG,
             trainer: str = "CoOp") -> str:
    return os.path.join(out, trainer, stem, f"{cfg}_{shots}shots_{sub}", f"seed{seed}")


def train_test(root: str, out: str, stem: str, shots: int, seed: int, sub: str = "all", cfg: str = COOP_CFG,
         opts: Sequence[str] = (), trainer: str = "CoOp") -> float:
    """Train ``trainer`` (CoOp, or CoCoOp with a configs/trainers/CoCoOp/ config) on ``sub`` classes and test."""
    d = run_dir(out, stem, shots, seed, sub, cfg, trainer)
    argv = _common(root, stem, trainer, config(f"trainers/{trainer}", cfg), d, seed)
    return run_train(argv + ["DATASET.NUM_SHOTS", str(shots), "DATASET.SUBSAMPLE_CLASSES", sub] + list(opts))[
        "metrics"]["accuracy"]


def evaluate_on_new(root: str, out: str, stem: str, seed: int, shots: int = 16, cfg: str = COOP_CFG,
                opts: Sequence[str] = (), trainer: str = "CoOp") -> float:
    """Evaluate the model trained on the base classes (``train_test(..., sub="base")``) on the new classes."""
    from vlprompt.config import setup_cfg

    model_dir = run_dir(out, stem, shots, seed, "base", cfg, trainer)
    epoch = setup_cfg(config_file=config(f"trainers/{trainer}", cfg), opts=list(opts)).OPTIM.MAX_EPOCH
    d = run_dir(out, stem, shots, seed, "new", cfg, trainer)
    argv = _common(root, stem, trainer, config(f"trainers/{trainer}", cfg), d, seed)
    argv += ["--eval-only", "--model-dir", model_dir, "--load-epoch", str(epoch)]
    return run_train(argv + ["DATASET.NUM_SHOTS", str(shots), "DATASET.SUBSAMPLE_CLASSES", "new"] + list(opts))[
        "metrics"]["accuracy"]


def measure(root: str, out: str, stems: Sequence[str], seeds: Sequence[int], shots: Sequence[int],
            opts: Sequence[str] = (), base2new_cfg: str = BASE2NEW_CFG,
            baselines: bool = False) -> Dict[str, Dict[str, List[float]]]:
    """{stem: {column: [value per seed]}} for the table."""
    table: Dict[str, Dict[str, List[float]]] = {}
    for stem in stems:
        row: Dict[str, List[float]] = {}
        for sub in ("all", "base", "new"):
            row[f"ZS {sub}"] = [zeroshot(root, out, stem, sub, opts)]
        for seed in seeds:
            for k in shots:
                row.setdefault(f"CoOp {k}-shot", []).append(train_test(root, out, stem, k, seed, opts=opts))
            for trainer, cfg in (("CoOp", base2new_cfg), ("CoCoOp", COCOOP_CFG)):
                base = train_test(root, out, stem, 16, seed, "base", cfg, opts, trainer)
                new = evaluate_on_new(root, out, stem, seed, cfg=cfg, opts=opts, trainer=trainer)
                row.setdefault(f"{trainer} base", []).append(base)
                row.setdefault(f"{trainer} new", []).append(new)
            if baselines:
                for trainer, cfg in BASELINE_CFGS.items():
                    acc = train_test(root, out, stem, 16, seed, "all", cfg, opts, trainer)
                    row.setdefault(f"{trainer} 16-shot", []).append(acc)
        table[stem] = row
    return table


def format_table(table: Dict[str, Dict[str, List[float]]]) -> str:
    columns = list(next(iter(table.values())))
    lines = ["| benchmark | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for stem, row in table.items():
        cells = []
        for c in columns:
            values = row[c]
            m = float(np.mean(values))
            cells.append(f"{m:.1f}" if len(values) == 1 else f"{m:.1f} ± {float(np.std(values)):.1f}")
        lines.append(f"| {BENCHMARK_STEMS.get(stem, stem)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="DATASET.ROOT (the benchmarks are generated there on first use)")
    p.add_argument("--out", required=True, help="folder for the train.py outputs")
    p.add_argument("--benchmarks", nargs="+", default=list(BENCHMARK_STEMS))
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    p.add_argument("--base2new-config", default=BASE2NEW_CFG, help="CoOp config of the base-to-new runs")
    p.add_argument("--baselines", action="store_true", help="add 16-shot LinearProbe and CLIP-Adapter columns")
    p.add_argument("--opts", nargs="*", default=[], help="KEY VALUE config overrides for every run")
    args = p.parse_args(argv)
    table = measure(args.root, args.out, args.benchmarks, args.seeds, args.shots, args.opts, args.base2new_config,
                    args.baselines)
    print(format_table(table))


if __name__ == "__main__":
    main()
