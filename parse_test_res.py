"""Aggregate the accuracy printed at the end of each run over seeds (mean and spread).

    python parse_test_res.py output/caltech101/CoOp/rn50_16shots/nctx16_cscFalse_ctpend
    python parse_test_res.py DIR --ci95          # 95% confidence interval instead of the std
    python parse_test_res.py DIR --test-log      # eval-only logs (values after "=> result")
    python parse_test_res.py DIR --multi-exp     # DIR holds several experiments
    python parse_test_res.py DIR --results-json  # read each run's results.json instead of log.txt
    python parse_test_res.py --base2new output/base2new [--csv t.csv]   # base / novel / H table
    python parse_test_res.py --xd output/evaluation/CoCoOp/<cfg>_16shots [--source-dir DIR] [--csv t.csv]
    python parse_test_res.py --compare zero-shot=DIR_A "CoOp 16 shots=DIR_B"  # one row per method

DIR's sub-folders (e.g. seed1, seed2, seed3) each hold a ``log.txt``.
"""
import argparse
import csv
import json
import os
import re
from collections import OrderedDict
from typing import List, Optional

import numpy as np

# Domain-generalisation targets of an ImageNet model; the other targets are cross-dataset transfer.
DG_TARGETS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")
END_OF_TRAINING = "Finish training"
END_OF_TEST = "=> result"


def listdir_nohidden(path: str):
    return sorted(f for f in os.listdir(path) if not f.startswith("."))


def compute_ci95(res) -> float:
    return 1.96 * np.std(res) / np.sqrt(len(res))


def metric_regex(keyword: str):
    return re.compile(fr"\* {keyword}: ([\.\deE+-]+)%")


def read_log_values(fpath: str, metrics, end_signal: str) -> "OrderedDict":
    """Last value of each metric printed after the first line equal to ``end_signal`` (empty if none)."""
    good_to_go = False
    output = OrderedDict()
    with open(fpath) as f:
        for line in f:
            line = line.strip()
            if line == end_signal:
                good_to_go = True
            for metric in metrics:
                match = metric["regex"].search(line)
                if match and good_to_go:
                    output["file"] = fpath
                    output[metric["name"]] = float(match.group(1))
    return output


def read_results_json(fpath: str, metrics) -> "OrderedDict":
    """The metrics recorded in a run's results.json (written by every run next to log.txt)."""
    with open(fpath) as f:
        recorded = json.load(f).get("metrics", {})
    output = OrderedDict()
    for metric in metrics:
        if metric["name"] in recorded:
            output["file"] = fpath
            output[metric["name"]] = float(recorded[metric["name"]])
    return output


def read_seed_values(directory: str, metrics, end_signal: str, prefer_json: bool = False) -> List["OrderedDict"]:
    """One entry per sub-folder (seed) of ``directory``: from its log.txt, or from its results.json
    when ``prefer_json`` or when there is no log.txt."""
    outputs = []
    for subdir in listdir_nohidden(directory):
        fpath = os.path.join(directory, subdir, "log.txt")
        jpath = os.path.join(directory, subdir, "results.json")
        if (prefer_json or not os.path.isfile(fpath)) and os.path.isfile(jpath):
            output = read_results_json(jpath, metrics)
        else:
            assert os.path.isfile(fpath), f'"{fpath}" does not exist (every sub-folder of {directory} needs a log.txt)'
            output = read_log_values(fpath, metrics, end_signal)
        if output:
            outputs.append(output)
    return outputs


def parse_function(*metrics, directory: str = "", args=None, end_signal=None) -> "OrderedDict":
    print(f"Parsing files in {directory}")
    outputs = read_seed_values(directory, metrics, end_signal, prefer_json=getattr(args, "results_json", False))
    assert len(outputs) > 0, f"Nothing found in {directory}"

    metrics_results = OrderedDict((m["name"], []) for m in metrics)
    for output in outputs:
        msg = ""
        for key, value in output.items():
            if isinstance(value, float):
                msg += f"{key}: {value:.2f}%. "
            else:
                msg += f"{key}: {value}. "
            if key != "file":
                metrics_results[key].append(value)
        print(msg)

    output_results = OrderedDict()
    print("===")
    print(f"Summary of directory: {directory}")
    for key, values in metrics_results.items():
        avg = np.mean(values)
        spread = compute_ci95(values) if args.ci95 else np.std(values)
        print(f"* {key}: {avg:.2f}% +- {spread:.2f}%")
        output_results[key] = avg
    print("===")
    return output_results


def harmonic_mean(base: float, new: float) -> float:
    return 2 * base * new / (base + new) if base + new > 0 else 0.0


def _seed_mean(directory: str, keyword: str, end_signal: str) -> Optional[float]:
    if not os.path.isdir(directory):
        return None
    values = [o[keyword] for o in read_seed_values(directory, [{"name": keyword, "regex": metric_regex(keyword)}], end_signal)]
    return float(np.mean(values)) if values else None


def _print_table(title: str, headers: List[str], rows: List[list], csv_path: Optional[str], csv_rows: list) -> None:
    from tabulate import tabulate

    print(title)
    print(tabulate(rows, headers=headers, floatfmt=".2f"))
    print()
    if csv_path:
        csv_rows.extend([title, *r] for r in rows)


def base2new_tables(root: str, keyword: str = "accuracy", csv_path: Optional[str] = None) -> dict:
    """Tables of base (final test of the base-class run), novel (eval-only on the new classes) and
    H = 2·base·novel/(base+novel), per dataset and method, from ``root/train_base`` and ``root/test_new``
    (``<dataset>/shots_<k>/<trainer>/<cfg>/seed<s>/log.txt``). The average row's H is computed from
    the average base and novel accuracies, as in the CoCoOp paper. Returns {method: rows}.
    """
    train_root = os.path.join(root, "train_base")
    assert os.path.isdir(train_root), f'"{train_root}" does not exist (expected output/base2new/train_base/...)'
    methods: "OrderedDict[tuple, list]" = OrderedDict()
    for dataset in listdir_nohidden(train_root):
        for shots in listdir_nohidden(os.path.join(train_root, dataset)):
            for trainer in listdir_nohidden(os.path.join(train_root, dataset, shots)):
                for cfg in listdir_nohidden(os.path.join(train_root, dataset, shots, trainer)):
                    rel = os.path.join(dataset, shots, trainer, cfg)
                    base = _seed_mean(os.path.join(train_root, rel), keyword, END_OF_TRAINING)
                    new = _seed_mean(os.path.join(root, "test_new", rel), keyword, END_OF_TEST)
                    methods.setdefault((trainer, cfg, shots), []).append([dataset, base, new])
    assert methods, f"Nothing found in {train_root}"
    csv_rows: list = []
    tables = {}
    for (trainer, cfg, shots), rows in methods.items():
        for row in rows:
            row.append(harmonic_mean(row[1], row[2]) if None not in row[1:3] else None)
        complete = [r for r in rows if r[3] is not None]
        if complete:
            base, new = float(np.mean([r[1] for r in complete])), float(np.mean([r[2] for r in complete]))
            rows = rows + [[f"Average ({len(complete)} datasets)", base, new, harmonic_mean(base, new)]]
        tables[f"{trainer}/{cfg}/{shots}"] = rows
        _print_table(f"Base-to-novel: {trainer} {cfg} {shots}", ["dataset", "base", "novel", "H"], rows, csv_path, csv_rows)
    if csv_path:
        _write_csv(csv_path, ["table", "dataset", "base", "novel", "H"], csv_rows)
    return tables


def xd_tables(directory: str, keyword: str = "accuracy", source_dir: Optional[str] = None,
              csv_path: Optional[str] = None) -> dict:
    """Cross-dataset and domain-generalisation tables from ``directory/<target>/seed<s>/log.txt`` (eval-only
    logs of xd_test.sh), with the source accuracy from ``source_dir`` (the training runs) if given."""
    assert os.path.isdir(directory), f'"{directory}" does not exist (expected output/evaluation/<trainer>/<cfg>_<k>shots)'
    targets = {t: _seed_mean(os.path.join(directory, t), keyword, END_OF_TEST) for t in listdir_nohidden(directory)}
    targets = {t: v for t, v in targets.items() if v is not None}
    assert targets, f"Nothing found in {directory}"
    source = _seed_mean(source_dir, keyword, END_OF_TRAINING) if source_dir else None
    csv_rows: list = []
    tables = {}
    for title, names in (("Cross-dataset transfer", [t for t in targets if t not in DG_TARGETS]),
                         ("Domain generalisation", [t for t in targets if t in DG_TARGETS])):
        if not names:
            continue
        rows = ([["source", source]] if source is not None else []) + [[t, targets[t]] for t in names]
        rows.append([f"Average ({len(names)} targets)", float(np.mean([targets[t] for t in names]))])
        tables[title] = rows
        _print_table(f"{title}: {directory}", ["dataset", keyword], rows, csv_path, csv_rows)
    if csv_path:
        _write_csv(csv_path, ["table", "dataset", keyword], csv_rows)
    return tables


def run_values(directory: str, keyword: str = "accuracy") -> List[float]:
    """``keyword`` of each finished run in ``directory``: the run itself (a folder with results.json, e.g. an
    eval-only zero-shot run) or its seed sub-folders. results.json is read first, then log.txt."""
    metrics = [{"name": keyword, "regex": metric_regex(keyword)}]
    if os.path.isfile(os.path.join(directory, "results.json")):
        found = read_results_json(os.path.join(directory, "results.json"), metrics)
        return [found[keyword]] if keyword in found else []
    return [o[keyword] for o in read_seed_values(directory, metrics, END_OF_TRAINING, prefer_json=True)]


def compare_table(entries: List[str], keyword: str = "accuracy", ci95: bool = False,
                  csv_path: Optional[str] = None) -> List[list]:
    """One row per ``LABEL=DIR`` entry: mean and spread (std, or 95% CI) of ``keyword`` over its runs."""
    rows = []
    for entry in entries:
        label, sep, directory = entry.partition("=")
        if not sep or not label or not directory:
            raise SystemExit(f'--compare takes LABEL=DIR entries, e.g. '
                             f'"zero-shot=output/ZeroshotCLIP/rn50/caltech101"; got "{entry}"')
        if not os.path.isdir(directory):
            raise SystemExit(f'{label}: "{directory}" does not exist (run the experiment first)')
        values = run_values(directory, keyword)
        if not values:
            raise SystemExit(f'{label}: no finished run in "{directory}" (expected results.json or seed*/results.json)')
        spread = compute_ci95(values) if ci95 else float(np.std(values))
        rows.append([label, float(np.mean(values)), spread, len(values)])
    headers = ["method", keyword, "95% CI" if ci95 else "std", "runs"]
    csv_rows: list = []
    _print_table(f"{keyword} (mean over runs)", headers, rows, csv_path, csv_rows)
    if csv_path:
        _write_csv(csv_path, ["table"] + headers, csv_rows)
    return rows


def _write_csv(path: str, header: List[str], rows: list) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if v is None else (round(v, 2) if isinstance(v, float) else v) for v in r] for r in rows])
    print(f"Saved table to {path}")


def main(args, end_signal: str) -> None:
    if args.compare:
        compare_table(args.compare, args.keyword, args.ci95, args.csv)
        return
    if not args.directory:
        raise SystemExit("parse_test_res.py: give a DIRECTORY (or --compare LABEL=DIR ...)")
    if args.base2new:
        base2new_tables(args.directory, args.keyword, args.csv)
        return
    if args.xd:
        xd_tables(args.directory, args.keyword, args.source_dir, args.csv)
        return
    metric = {"name": args.keyword, "regex": metric_regex(args.keyword)}
    if args.multi_exp:
        final_results = OrderedDict()
        for directory in listdir_nohidden(args.directory):
            directory = os.path.join(args.directory, directory)
            results = parse_function(metric, directory=directory, args=args, end_signal=end_signal)
            for key, value in results.items():
                final_results.setdefault(key, []).append(value)
        print("Average performance")
        for key, values in final_results.items():
            print(f"* {key}: {np.mean(values):.2f}%")
    else:
        parse_function(metric, directory=args.directory, args=args, end_signal=end_signal)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=str, nargs="?", help="path to directory")
    parser.add_argument("--ci95", action="store_true", help="compute 95%% confidence interval")
    parser.add_argument("--test-log", action="store_true", help="parse test-only logs")
    parser.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    parser.add_argument("--keyword", default="accuracy", type=str, help="which keyword to extract")
    parser.add_argument("--base2new", action="store_true", help="DIR is output/base2new: base/novel/H table")
    parser.add_argument("--xd", action="store_true", help="DIR holds <target>/seed*/ eval logs: transfer tables")
    parser.add_argument("--source-dir", default=None, help="with --xd: the source training runs (seed*/)")
    parser.add_argument("--results-json", action="store_true", help="read results.json instead of log.txt")
    parser.add_argument("--compare", nargs="+", metavar="LABEL=DIR", help="one table row per method: mean over its runs")
    parser.add_argument("--csv", default=None, help="with --base2new/--xd/--compare: also write the table(s) as CSV")
    args = parser.parse_args()
    main(args, END_OF_TEST if args.test_log else END_OF_TRAINING)
