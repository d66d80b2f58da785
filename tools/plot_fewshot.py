"""Few-shot curves: accuracy vs. number of shots per dataset and on average, one line per method,
with a band of ± one standard deviation over seeds; zero-shot runs as dashed horizontal lines.

    python tools/plot_fewshot.py output --out fewshot.png      # also .pdf
    python tools/plot_fewshot.py output --datasets Caltech101 DescribableTextures --metric accuracy

Reads every ``results.json`` under the given folder (written by each run next to its log.txt).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np


def collect(root: str, metric: str = "accuracy") -> List[dict]:
    """One record per run: dataset, method (label), shots, seed, value."""
    records = []
    for folder, _dirs, files in os.walk(root):
        if "results.json" not in files:
            continue
        with open(os.path.join(folder, "results.json")) as f:
            r = json.load(f)
        if r.get("split") != "test" or metric not in r.get("metrics", {}) or r.get("subsample_classes", "all") != "all":
            continue
        label = r.get("method") or r["trainer"]
        if r.get("backbone"):
            label = f"{label} [{r['backbone']}]"
        records.append({"dataset": r["dataset"], "method": label, "shots": int(r["shots"]),
                        "seed": r.get("seed"), "value": float(r["metrics"][metric])})
    if not records:
        raise SystemExit(f"No results.json with a {metric!r} test metric found under {root}")
    return records


def curves(records: List[dict]) -> Dict[str, Dict[str, Dict[int, List[float]]]]:
    """dataset -> method -> shots -> values over seeds (shots <= 0: zero-shot / full data)."""
    out: Dict[str, Dict[str, Dict[int, List[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in records:
        out[r["dataset"]][r["method"]][r["shots"]].append(r["value"])
    return out


def plot(records: List[dict], out_path: str, datasets: Optional[List[str]] = None, metric: str = "accuracy") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves(records)
    names = [d for d in sorted(data) if not datasets or d in datasets]
    panels = names + (["Average"] if len(names) > 1 else [])
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    methods = sorted({m for d in names for m in data[d]})
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(methods)}
    for ax, panel in zip(axes.flat, panels):
        for method in methods:
            if panel == "Average":  # mean over datasets of the per-dataset seed means, where all have it
                per = [data[d][method] for d in names if method in data[d]]
                if len(per) != len(names):
                    continue
                shots = sorted(set.intersection(*[set(p) for p in per]))
                series = {k: [float(np.mean([np.mean(p[k]) for p in per]))] for k in shots}
            else:
                series = data[panel].get(method, {})
            few = sorted(k for k in series if k > 0)
            if few:
                mean = np.array([np.mean(series[k]) for k in few])
                std = np.array([np.std(series[k]) for k in few])
                ax.plot(few, mean, marker="o", color=colors[method], label=method)
                ax.fill_between(few, mean - std, mean + std, color=colors[method], alpha=0.2)
            if any(k <= 0 for k in series):  # zero-shot (or full-data) reference
                level = np.mean([v for k in series if k <= 0 for v in series[k]])
                ax.axhline(level, linestyle="--", color=colors[method], label=method if not few else None)
        ax.set_title(panel)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("shots per class")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, max(1, len(labels))), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    print(f"Saved {out_path}")
    return out_path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="output folder to scan for results.json files")
    p.add_argument("--out", default="fewshot.png", help="figure file (.png or .pdf)")
    p.add_argument("--datasets", nargs="*", help="DATASET.NAME values to plot (default: all found)")
    p.add_argument("--metric", default="accuracy")
    args = p.parse_args(argv)
    plot(collect(args.root, args.metric), args.out, args.datasets, args.metric)


if __name__ == "__main__":
    main()
