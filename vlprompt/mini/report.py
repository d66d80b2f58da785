"""Measure the MiniCLIP world's findings through ``train.py`` (the numbers of docs/miniclip.md).

    python -m vlprompt.mini.report --root data/mini --out output/mini_report --seeds 1 2 3

Runs, per benchmark: zero-shot CLIP (all / base / new classes), CoOp at each number of shots (all
classes), and CoOp and CoCoOp trained on the base classes (16 shots) evaluated on the base and the new classes
(with --baselines also LinearProbe and CLIP-Adapter, 16 shots; with --adapters Tip-Adapter, Tip-Adapter-F
and CLIP-LoRA at each number of shots);
prints a markdown table of the mean over seeds (± std). Every run is an ordinary train.py run started by
vlprompt.launch (outputs under --out in the scripts' layout, finished runs reused), so any number can be
re-run from its log.txt. Needs a source checkout (train.py, configs/).
"""
from __future__ import annotations

import argparse
from typing import Dict, List, Sequence

import numpy as np

from vlprompt.launch import RunSpec, launch

from .benchmarks import BENCHMARKS

# config stem (configs/datasets/<stem>.yaml) -> DATASET.NAME; each stem is its benchmark's folder name
BENCHMARK_STEMS = {bench.dataset_dir: name for name, bench in BENCHMARKS.items()}
COOP_CFG = "mini_ep50"  # few-shot: M=16 random context (CoOp's default)
BASE2NEW_CFG = "mini_ep50_ctxv1"  # base-to-new: M=4 from "a photo of a" (as scripts/coop/base2new_*.sh)
COCOOP_CFG = "mini_c4_ep30_batch4"
BASELINE_CFGS = {"LinearProbe": "mini", "CLIP_Adapter": "mini_ep50"}  # trainer -> config, 16 shots
ADAPTER_CFGS = {"TipAdapter": "mini", "TipAdapterF": "mini", "CLIP_LoRA": "mini"}  # trainer -> config, every shots


def _accuracy(spec: RunSpec) -> float:
    """Run ``spec`` in-process unless finished (the launcher's rule), then its test accuracy."""
    summary = launch([spec], in_process=True)
    if summary.failed:
        raise RuntimeError(f"train.py failed for {spec.output_dir} (see its log.txt)")
    return spec.results()["metrics"]["accuracy"]


def zeroshot(root: str, out: str, stem: str, sub: str = "all", opts: Sequence[str] = ()) -> float:
    """Zero-shot CLIP on all / base / new classes."""
    return _accuracy(RunSpec("zeroshot", "ZeroshotCLIP", stem, COOP_CFG, seed=-1, root=root, output_root=out,
                             opts=tuple(opts), subsample=sub))


def train_spec(root: str, out: str, stem: str, shots: int, seed: int, sub: str = "all", cfg: str = COOP_CFG,
               opts: Sequence[str] = (), trainer: str = "CoOp") -> RunSpec:
    """Few-shot training on all classes (``sub`` "all") or base-to-new training on the base classes."""
    protocol = {"all": "fewshot", "base": "base2new_train"}[sub]
    return RunSpec(protocol, trainer, stem, cfg, seed=seed, shots=shots, root=root, output_root=out, opts=tuple(opts))


def train_test(root: str, out: str, stem: str, shots: int, seed: int, sub: str = "all", cfg: str = COOP_CFG,
               opts: Sequence[str] = (), trainer: str = "CoOp") -> float:
    """Train ``trainer`` on ``sub`` classes ("all" or "base") and test on them."""
    return _accuracy(train_spec(root, out, stem, shots, seed, sub, cfg, opts, trainer))


def evaluate_on_new(root: str, out: str, stem: str, seed: int, shots: int = 16, cfg: str = COOP_CFG,
                    opts: Sequence[str] = (), trainer: str = "CoOp") -> float:
    """Evaluate the model trained on the base classes (``train_test(..., sub="base")``) on the new classes."""
    return _accuracy(RunSpec("base2new_test", trainer, stem, cfg, seed=seed, shots=shots, root=root, output_root=out,
                             opts=tuple(opts)))


def measure(root: str, out: str, stems: Sequence[str], seeds: Sequence[int], shots: Sequence[int],
            opts: Sequence[str] = (), base2new_cfg: str = BASE2NEW_CFG,
            baselines: bool = False, adapters: bool = False) -> Dict[str, Dict[str, List[float]]]:
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
            if adapters:
                for trainer, cfg in ADAPTER_CFGS.items():
                    for k in shots:
                        acc = train_test(root, out, stem, k, seed, "all", cfg, opts, trainer)
                        row.setdefault(f"{trainer} {k}-shot", []).append(acc)
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
    p.add_argument("--adapters", action="store_true",
                   help="add Tip-Adapter, Tip-Adapter-F and CLIP-LoRA columns at every number of shots")
    p.add_argument("--opts", nargs="*", default=[], help="KEY VALUE config overrides for every run")
    args = p.parse_args(argv)
    table = measure(args.root, args.out, args.benchmarks, args.seeds, args.shots, args.opts, args.base2new_config,
                    args.baselines, args.adapters)
    print(format_table(table))


if __name__ == "__main__":
    main()
