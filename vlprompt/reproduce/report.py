"""The reproduction report: a folder of runs -> tables (mean, std, 95% CI over seeds) beside the published
numbers, few-shot curves, and the list of runs that are missing or failed.

    python -m vlprompt.reproduce report output [--out report] [--seeds 1 2 3]

Runs are found by their ``results.json`` in the launcher's output layouts (``vlprompt/launch.py``):
few-shot ``<dataset>/<Trainer>/<cfg>_<K>shots[/<variant>]/seed<S>``, base-to-novel
``base2new/{train_base,test_new}/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>`` and zero-shot
``<Trainer>/<cfg>/<dataset>``. A table row is one experiment (method, config family — ``_ep<N>`` left
out, since the papers train longer with more shots — variant, backbone); a cell holds its seeds.
Only runs whose status is "completed" count; a seed folder without a final result (a crashed or
unfinished run), a failed run, or a seed that should be there and is not (``--seeds``, by
default every seed seen in that row) is listed under "Missing or failed" and flagged in its cell: a
mean over fewer seeds is never passed off as complete.

Statistics: mean, sample standard deviation and the 95% confidence interval of the mean,
t(0.975, n-1) * std / sqrt(n) (undefined for one seed). Published numbers come from ``published.csv``
(each with its source); a difference larger than the CI half-width is flagged. Base-to-novel: H is the
harmonic mean of the mean base and mean new accuracies (as the CoCoOp paper), per dataset and averaged.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

PUBLISHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published.csv")
SEED_DIR = re.compile(r"seed(\d+)$")


@dataclass
class Cell:
    """The seeds of one experiment on one dataset and shot count."""

    values: Dict[int, float] = field(default_factory=dict)  # seed -> accuracy
    problems: Dict[int, str] = field(default_factory=dict)  # seed -> why it has no value

    @property
    def n(self) -> int:
        return len(self.values)

    def stats(self) -> Tuple[Optional[float], Optional[float], Optional[float]]:
        """(mean, sample std, 95% CI half-width); None where undefined."""
        vals = list(self.values.values())
        if not vals:
            return None, None, None
        mean = sum(vals) / len(vals)
        if len(vals) < 2:
            return mean, None, None
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        from scipy.stats import t

        return mean, std, float(t.ppf(0.975, len(vals) - 1)) * std / math.sqrt(len(vals))


@dataclass
class Row:
    """One experiment: a method with its config (and variant) on one backbone, under one protocol."""

    protocol: str  # fewshot | base2new | zeroshot
    trainer: str
    config: str
    backbone: str
    cells: Dict[Tuple[str, int, str], Cell] = field(default_factory=lambda: defaultdict(Cell))  # (dataset, K, metric)

    @property
    def label(self) -> str:
        return f"{self.trainer} ({self.config}, {self.backbone})"


def _read(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _layout(rel: Sequence[str], files: Sequence[str]) -> Optional[Tuple[str, str, str, str, int, str]]:
    """(protocol, trainer, config label, metric, shots, dataset stem) of a run folder, from its path below
    the root (the launcher's layouts); None for any other folder."""
    if len(rel) == 7 and rel[0] == "base2new" and rel[1] in ("train_base", "test_new") and SEED_DIR.match(rel[6]):
        m = re.fullmatch(r"shots_(\d+)", rel[3])
        if m:
            return "base2new", rel[4], rel[5], "base" if rel[1] == "train_base" else "new", int(m.group(1)), rel[2]
    if len(rel) >= 4 and rel[0] not in ("base2new", "evaluation") and SEED_DIR.match(rel[-1]):
        m = re.fullmatch(r"(.+)_(\d+)shots", rel[2])
        if m:
            # One row per config family: the papers train longer with more shots (CoOp: rn50_ep50 for
            # 1 shot, rn50_ep100 for 2/4, rn50 for 8/16), so "_ep<N>" is left out of the row's name.
            config = re.sub(r"_ep\d+", "", m.group(1)) + "".join("/" + part for part in rel[3:-1])
            return "fewshot", rel[1], config, "accuracy", int(m.group(2)), rel[0]
    run_files = {"results.json", "log.txt"} & set(files)
    if len(rel) == 3 and rel[0] not in ("base2new", "evaluation") and run_files and not re.search(r"_\d+shots$", rel[2]):
        return "zeroshot", rel[0], rel[1], "accuracy", -1, rel[2]
    return None


def collect(root: str, seeds: Optional[Sequence[int]] = None) -> Tuple[List[Row], List[str]]:
    """Every experiment under ``root`` and the list of problems (missing, crashed, failed runs)."""
    rows: Dict[tuple, Row] = {}
    problems: List[str] = []
    stems: Dict[str, str] = {}  # dataset stem -> DATASET.NAME
    seen: Dict[tuple, set] = defaultdict(set)
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(dirpath, root).split(os.sep)
        where = _layout(rel, files)
        if where is None:
            continue
        dirs[:] = []  # a run folder holds no other runs
        protocol, trainer, config, metric, shots, stem = where
        record = _read(os.path.join(dirpath, "results.json")) if "results.json" in files else None
        row = rows.setdefault((protocol, trainer, config), Row(protocol, trainer, config, "?"))
        if record:
            stems[stem] = record.get("dataset", stem)
            if row.backbone == "?":
                row.backbone = record.get("backbone", "?")
        seed_match = SEED_DIR.match(rel[-1])
        seed = int(seed_match.group(1)) if seed_match else 0
        cell = row.cells[(stem, shots, metric)]
        seen[(protocol, trainer, config)].add(seed)
        if record is None:
            cell.problems[seed] = "no result (crashed or unfinished)"
            problems.append(f"{dirpath}: no results.json (crashed or unfinished run)")
        elif record.get("status", "completed") != "completed":
            cell.problems[seed] = f"failed: {record.get('error', '?')}"
            problems.append(f"{dirpath}: failed ({record.get('error', 'no reason recorded')})")
        else:
            cell.values[seed] = float(record["metrics"]["accuracy"])
    for key, row in rows.items():
        wanted = set(seeds) if seeds and row.protocol != "zeroshot" else seen[key]
        for (stem, shots, metric), cell in sorted(row.cells.items()):
            for seed in sorted(wanted - set(cell.values) - set(cell.problems)):
                cell.problems[seed] = "missing"
                problems.append(f"{row.label}: {stems.get(stem, stem)}, {shots} shots, {metric}: seed {seed} missing")
        row.cells = {(stems.get(s, s), k, m): c for (s, k, m), c in row.cells.items()}
    return sorted(rows.values(), key=lambda r: (r.protocol, r.trainer, r.config)), problems


def load_published(path: str = PUBLISHED) -> List[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def published_value(published: List[dict], row: Row, dataset: str, shots: int, metric: str) -> Optional[dict]:
    """The published entry for a cell: same method, protocol, backbone, dataset, shots and metric; an
    entry with a config applies to that config only."""
    protocol = "fewshot" if row.protocol == "zeroshot" else row.protocol
    for entry in published:
        if (entry["method"] == row.trainer and entry["protocol"] == protocol and entry["backbone"] == row.backbone
                and entry["dataset"] == dataset and int(entry["shots"]) == (shots if shots > 0 else 16)
                and entry["metric"] == metric and (not entry["config"] or row.config.startswith(entry["config"]))):
            return entry
    return None


def _fmt(mean, ci) -> str:
    if mean is None:
        return "—"
    return f"{mean:.2f}" + (f" ± {ci:.2f}" if ci is not None else "")


def _flag(mean, ci, pub) -> Tuple[str, Optional[float], bool]:
    """(text, difference, outside the CI) of a cell against its published number."""
    if pub is None or mean is None:
        return "", None, False
    value = float(pub["value"])
    diff = mean - value
    outside = ci is not None and abs(diff) > ci
    return f" (pub. {value:.2f}{', Δ ' + format(diff, '+.2f') + ' ⚠ outside CI' if outside else ''})", diff, outside


def harmonic(base: Optional[float], new: Optional[float]) -> Optional[float]:
    if base is None or new is None or base + new == 0:
        return None
    return 2 * base * new / (base + new)


def build_report(root: str, out_dir: str, seeds: Optional[Sequence[int]] = None,
                 published_path: str = PUBLISHED) -> dict:
    """Write ``report.md``, ``report.csv`` and one ``curves_<method>.png`` per few-shot experiment into
    ``out_dir``; returns {"rows", "problems", "markdown", "csv", "plots"}."""
    rows, problems = collect(root, seeds)
    published = load_published(published_path)
    os.makedirs(out_dir, exist_ok=True)
    md = [f"# Reproduction report: `{os.path.abspath(root)}`", "",
          "Mean ± 95% CI over seeds (t distribution; n = seeds with a final result). `pub.` = published number "
          "(source in `vlprompt/reproduce/published.csv`); ⚠ = outside the CI; (k/n seeds) = seeds missing.", ""]
    csv_rows = [["protocol", "method", "config", "backbone", "dataset", "shots", "metric", "n", "mean", "std",
                 "ci95", "published", "diff", "outside_ci", "missing_seeds", "source"]]
    plots = []
    for row in rows:
        md += [f"## {row.label} — {row.protocol}", ""]
        datasets = sorted({d for d, _, _ in row.cells})
        if row.protocol == "base2new":
            md += _base2new_table(row, datasets, published, csv_rows)
        else:
            shots = sorted({k for _, k, _ in row.cells})
            md += _fewshot_table(row, datasets, shots, published, csv_rows)
            if row.protocol == "fewshot" and len(shots) > 1:
                plots.append(_plot_curves(row, datasets, shots, published, out_dir))
        md.append("")
    md += ["## Missing or failed runs", ""]
    md += [f"- {p}" for p in problems] if problems else ["None: every expected seed has a final result."]
    md.append("")
    if plots:
        md += ["## Few-shot curves", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in plots] + [""]
    md_path, csv_path = os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.csv")
    from vlprompt.utils.tools import atomic_write_text

    atomic_write_text(md_path, "\n".join(md))
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows(csv_rows)
    return {"rows": rows, "problems": problems, "markdown": md_path, "csv": csv_path, "plots": plots}


def _cell_line(row, cell: Optional["Cell"], dataset, shots, metric, published, csv_rows) -> str:
    if cell is None:
        return "—"
    mean, std, ci = cell.stats()
    pub = published_value(published, row, dataset, shots, metric)
    flag, diff, outside = _flag(mean, ci, pub)
    missing = sorted(cell.problems)
    seeds_note = f" ({cell.n}/{cell.n + len(missing)} seeds)" if missing else ""
    csv_rows.append([row.protocol, row.trainer, row.config, row.backbone, dataset, shots, metric, cell.n,
                     mean, std, ci, pub["value"] if pub else "", diff, outside, " ".join(map(str, missing)),
                     pub["source"] if pub else ""])
    return _fmt(mean, ci) + seeds_note + flag


def _average_cell(cells: Sequence["Cell"]) -> "Cell":
    """The average over datasets, per seed present in every dataset (a seed missing anywhere is missing)."""
    avg = Cell()
    seeds = set.intersection(*(set(c.values) for c in cells)) if cells else set()
    for s in seeds:
        avg.values[s] = sum(c.values[s] for c in cells) / len(cells)
    for c in cells:
        for s in set(c.values) | set(c.problems):
            if s not in seeds:
                avg.problems[s] = "missing in a dataset"
    return avg


def _fewshot_table(row, datasets, shots, published, csv_rows) -> List[str]:
    head = ["dataset"] + [("zero-shot" if k < 0 else f"{k} shots") for k in shots]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in datasets:
        lines.append("| " + " | ".join([d] + [_cell_line(row, row.cells.get((d, k, "accuracy")), d, k, "accuracy",
                                                          published, csv_rows) for k in shots]) + " |")
    if len(datasets) > 1:
        cells = []
        for k in shots:
            group = [row.cells[(d, k, "accuracy")] for d in datasets if (d, k, "accuracy") in row.cells]
            complete = len(group) == len(datasets)
            cells.append(_cell_line(row, _average_cell(group), "Average" if len(datasets) == 11 else f"{len(datasets)} datasets",
                                    k, "accuracy", published, csv_rows) + ("" if complete else " (incomplete)"))
        lines.append("| " + " | ".join([f"**Average ({len(datasets)})**"] + cells) + " |")
    return lines


def _base2new_table(row, datasets, published, csv_rows) -> List[str]:
    shots = sorted({k for _, k, _ in row.cells})[0]
    lines = ["| dataset | base | new | H |", "|---|---|---|---|"]
    means = {}
    for d in datasets + (["Average"] if len(datasets) > 1 else []):
        if d == "Average":
            group = {m: [row.cells[(x, shots, m)] for x in datasets if (x, shots, m) in row.cells] for m in ("base", "new")}
            cells = {m: _average_cell(g) for m, g in group.items()}
            label = "Average" if len(datasets) == 11 else f"{len(datasets)} datasets"
        else:
            cells = {m: row.cells.get((d, shots, m)) for m in ("base", "new")}
            label = d
        texts = [_cell_line(row, cells[m], label, shots, m, published, csv_rows) for m in ("base", "new")]
        base, new = (cells[m].stats()[0] if cells[m] else None for m in ("base", "new"))
        h = harmonic(base, new)
        pub = published_value(published, row, label, shots, "H")
        h_text = "—" if h is None else f"{h:.2f}" + (f" (pub. {float(pub['value']):.2f})" if pub else "")
        csv_rows.append([row.protocol, row.trainer, row.config, row.backbone, label, shots, "H", "", h, "", "",
                         pub["value"] if pub else "", (h - float(pub["value"])) if (pub and h is not None) else "", "",
                         "", pub["source"] if pub else ""])
        means[d] = (base, new, h)
        lines.append(f"| {'**' + d + '**' if d == 'Average' else d} | {texts[0]} | {texts[1]} | {h_text} |")
    return lines


def _plot_curves(row, datasets, shots, published, out_dir) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = datasets + (["Average"] if len(datasets) > 1 else [])
    cols = min(4, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.2 * cols, 2.6 * rows_n), squeeze=False)
    for ax, d in zip(axes.flat, panels):
        if d == "Average":
            cells = [_average_cell([row.cells[(x, k, "accuracy")] for x in datasets if (x, k, "accuracy") in row.cells])
                     for k in shots]
            pub_label = "Average" if len(datasets) == 11 else None
        else:
            cells = [row.cells.get((d, k, "accuracy")) for k in shots]
            pub_label = d
        stats = [c.stats() if c else (None, None, None) for c in cells]
        xs = [k for k, s in zip(shots, stats) if s[0] is not None]
        ys = [s[0] for s in stats if s[0] is not None]
        errs = [s[2] or 0.0 for s in stats if s[0] is not None]
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label="this run")
        pubs = [(k, published_value(published, row, pub_label, k, "accuracy")) for k in shots] if pub_label else []
        pubs = [(k, float(p["value"])) for k, p in pubs if p]
        if pubs:
            ax.plot([k for k, _ in pubs], [v for _, v in pubs], "s--", label="published")
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots)
        ax.set_xticklabels([str(k) for k in shots])
        ax.set_title(d, fontsize=9)
        ax.set_xlabel("shots per class", fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(row.label, fontsize=10)
    fig.tight_layout()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"curves_{row.trainer}_{row.config}_{row.backbone}") + ".png"
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
