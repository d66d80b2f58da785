"""Aggregate the accuracy printed at the end of each run over seeds (mean and spread).

    python parse_test_res.py output/caltech101/CoOp/rn50_16shots/nctx16_cscFalse_ctpend
    python parse_test_res.py DIR --ci95          # 95% confidence interval instead of the std
    python parse_test_res.py DIR --test-log      # eval-only logs (values after "=> result")
    python parse_test_res.py DIR --multi-exp     # DIR holds several experiments
    python parse_test_res.py DIR --results-json  # results.json values at full precision
    python parse_test_res.py DIR --allow-missing # summarise the seeds that finished when some did not
    python parse_test_res.py --base2new output/base2new [--csv t.csv]   # base / novel / H table
    python parse_test_res.py --xd output/evaluation/CoCoOp/<cfg>_16shots [--source-dir DIR] [--csv t.csv]
    python parse_test_res.py --compare zero-shot=DIR_A "CoOp 16 shots=DIR_B"  # one row per method

DIR's sub-folders (e.g. seed1, seed2, seed3) are runs. A run's final result is read from its
``results.json`` (written by every finished run, resumed ones too), else from its newest log
(``log.txt``, or the latest ``log.txt-<timestamp>`` of a later run into the folder) with the end signal
("Finish training", or "=> result" with --test-log) followed by "* accuracy: X%". A sub-folder without
a final result (a crashed or unfinished run) makes every mode fail with a list of them, rather than
average fewer seeds than there are; --allow-missing summarises the rest and says "n=2 of 3, missing: seed3".
"""
import argparse
import csv
import json
import os
import re
from collections import OrderedDict
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

# Domain-generalisation targets of an ImageNet model; the other targets are cross-dataset transfer.
DG_TARGETS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")
END_OF_TRAINING = "Finish training"
END_OF_TEST = "=> result"
LOG_DECIMALS = 1  # the evaluator prints "* accuracy: 82.1%"
JSON_NAMES = {"error": "error_rate"}  # log keyword -> results.json metric, where they differ


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


def read_results_json(fpath: str, metrics, exact: bool = True) -> "OrderedDict":
    """The metrics recorded in a run's results.json (written by every run next to log.txt); empty unless
    all are there. ``exact=False`` rounds them as log.txt prints them."""
    try:
        with open(fpath) as f:
            recorded = json.load(f).get("metrics", {})
    except (OSError, ValueError, AttributeError):
        return OrderedDict()  # unreadable (e.g. cut off): the logs decide
    output = OrderedDict(file=fpath)
    for metric in metrics:
        name = metric["name"] if metric["name"] in recorded else JSON_NAMES.get(metric["name"], metric["name"])
        if not isinstance(recorded.get(name), (int, float)):
            return OrderedDict()
        value = float(recorded[name])
        output[metric["name"]] = value if exact else round(value, LOG_DECIMALS)
    return output


def log_files(folder: str) -> List[str]:
    """A run folder's logs, newest first: ``log.txt-<timestamp>`` (later runs into the folder, e.g. a
    resumed one), then ``log.txt``."""
    names = sorted((n for n in os.listdir(folder) if n.startswith("log.txt-")), reverse=True)
    if os.path.isfile(os.path.join(folder, "log.txt")):
        names.append("log.txt")
    return [os.path.join(folder, n) for n in names]


def read_run(folder: str, metrics, end_signal: str, source: str = "auto") -> "OrderedDict":
    """The final result of one run folder, or an empty dict (crashed or unfinished run).

    ``source``: "auto" - results.json, rounded as the log prints it (so every seed counts alike
    whichever file it came from), else the newest log with a final result; "json" - the same with
    results.json at full precision; "log" - the newest log first, then results.json.
    """
    jpath = os.path.join(folder, "results.json")

    def from_json():
        return read_results_json(jpath, metrics, exact=source == "json") if os.path.isfile(jpath) else {}

    def from_logs():
        for fpath in log_files(folder):
            output = read_log_values(fpath, metrics, end_signal)
            if all(m["name"] in output for m in metrics):
                return output
        return {}

    first, second = (from_logs, from_json) if source == "log" else (from_json, from_logs)
    return first() or second()


class SeedResults(NamedTuple):
    """The runs (sub-folders) of one experiment folder."""

    directory: str
    found: List["OrderedDict"]  # results, in sub-folder order
    missing: List[str]  # sub-folders without a final result
    total: int  # sub-folders (plus expected ones that do not exist)

    def values(self, keyword: str) -> List[float]:
        return [o[keyword] for o in self.found]

    def note(self) -> str:
        return f"n={len(self.found)} of {self.total}, missing: {', '.join(self.missing)}"


def collect_seeds(directory: str, metrics, end_signal: str, source: str = "auto",
                  expected: Sequence[str] = ()) -> SeedResults:
    """Read every sub-folder (seed) of ``directory``; ``expected`` names sub-folders that should exist
    (e.g. the seeds of the matching training runs)."""
    subdirs = [d for d in listdir_nohidden(directory) if os.path.isdir(os.path.join(directory, d))] \
        if os.path.isdir(directory) else []
    found, missing = [], []
    for subdir in sorted(set(subdirs) | set(expected)):
        output = read_run(os.path.join(directory, subdir), metrics, end_signal, source) if subdir in subdirs else {}
        (found.append(output) if output else missing.append(subdir))
    return SeedResults(directory, found, missing, len(found) + len(missing))


def read_seed_values(directory: str, metrics, end_signal: str, prefer_json: bool = False) -> List["OrderedDict"]:
    """One entry per sub-folder (seed) of ``directory`` that has a final result: from its newest log,
    else its results.json; with ``prefer_json``, from results.json (full precision) first."""
    return collect_seeds(directory, metrics, end_signal, "json" if prefer_json else "log").found


def _a_result(keyword: str, end_signal: str) -> str:
    return f'results.json, or log.txt with a line "{end_signal}" followed by "* {keyword}: X%"'


def nothing_found(directory: str, keyword: str, end_signal: str, layout: str = "seed*") -> str:
    if not os.path.isdir(directory):
        return f"Nothing found in {directory}: the folder does not exist"
    subdirs = [d for d in listdir_nohidden(directory) if os.path.isdir(os.path.join(directory, d))]
    where = f"its sub-folders: {', '.join(subdirs)}" if subdirs else "it has no sub-folders"
    return (f"Nothing found in {directory}: expected {directory}/{layout}/ holding "
            f"{_a_result(keyword, end_signal)} ({where})")


def missing_message(incomplete: List[SeedResults], keyword: str, end_signal: str) -> str:
    lines = [f"{s.directory}: no final result in {', '.join(s.missing)} ({s.note()})" for s in incomplete]
    return "\n".join(lines + [
        f"Those runs crashed or did not finish (each needs {_a_result(keyword, end_signal)}). Finish or "
        "re-run them, or pass --allow-missing to summarise the runs that finished."])


def parse_function(*metrics, directory: str = "", args=None, end_signal=None) -> "OrderedDict":
    """Print each seed's result and the mean/spread; SystemExit if a seed has no final result (unless
    ``args.allow_missing``) or none has."""
    print(f"Parsing files in {directory}")
    source = "json" if getattr(args, "results_json", False) else "auto"
    seeds = collect_seeds(directory, metrics, end_signal, source)
    if not seeds.found:
        raise SystemExit(nothing_found(directory, metrics[0]["name"], end_signal))

    metrics_results = OrderedDict((m["name"], []) for m in metrics)
    for output in seeds.found:
        msg = ""
        for key, value in output.items():
            if isinstance(value, float):
                msg += f"{key}: {value:.2f}%. "
            else:
                msg += f"{key}: {value}. "
            if key != "file":
                metrics_results[key].append(value)
        print(msg)
    print(f"Found a final result in {len(seeds.found)} of {seeds.total} sub-folders")
    if seeds.missing and not getattr(args, "allow_missing", False):
        raise SystemExit(missing_message([seeds], metrics[0]["name"], end_signal))

    output_results = OrderedDict()
    print("===")
    print(f"Summary of directory: {directory}")
    for key, values in metrics_results.items():
        avg = np.mean(values)
        spread = compute_ci95(values) if getattr(args, "ci95", False) else np.std(values)
        print(f"* {key}: {avg:.2f}% +- {spread:.2f}%" + (f" ({seeds.note()})" if seeds.missing else ""))
        output_results[key] = avg
    print("===")
    return output_results


def harmonic_mean(base: float, new: float) -> float:
    return 2 * base * new / (base + new) if base + new > 0 else 0.0


def _seed_set(directory: str, keyword: str, end_signal: str, expected: Sequence[str] = ()) -> SeedResults:
    return collect_seeds(directory, [{"name": keyword, "regex": metric_regex(keyword)}], end_signal, "auto", expected)


def _mean(seeds: SeedResults, keyword: str) -> Optional[float]:
    return float(np.mean(seeds.values(keyword))) if seeds.found else None


def _check_complete(incomplete: List[SeedResults], keyword: str, end_signal: str, allow_missing: bool) -> None:
    """Tables: list incomplete cells under the table; without ``allow_missing`` that ends the program."""
    if not incomplete:
        return
    if not allow_missing:
        raise SystemExit(missing_message(incomplete, keyword, end_signal))
    print("Incomplete (means over the runs that finished):")
    for s in incomplete:
        print(f"  {s.directory}: {s.note()}")
    print()


def _print_table(title: str, headers: List[str], rows: List[list], csv_path: Optional[str], csv_rows: list) -> None:
    from tabulate import tabulate

    print(title)
    print(tabulate(rows, headers=headers, floatfmt=".2f"))
    print()
    if csv_path:
        csv_rows.extend([title, *r] for r in rows)


def base2new_tables(root: str, keyword: str = "accuracy", csv_path: Optional[str] = None,
                    allow_missing: bool = False) -> dict:
    """Tables of base (final test of the base-class run), novel (eval-only on the new classes) and
    H = 2·base·novel/(base+novel), per dataset and method, from ``root/train_base`` and ``root/test_new``
    (``<dataset>/shots_<k>/<trainer>/<cfg>/seed<s>/log.txt``). The average row's H is computed from
    the average base and novel accuracies, as in the CoCoOp paper. Returns {method: rows}.
    A seed without a final result (on either side: the novel side expects the base side's seeds) ends
    the program after the tables, unless ``allow_missing``.
    """
    train_root = os.path.join(root, "train_base")
    if not os.path.isdir(train_root):
        raise SystemExit(f'"{train_root}" does not exist (expected output/base2new/train_base/<dataset>/shots_<k>/'
                         "<trainer>/<cfg>/seed*/)")
    methods: "OrderedDict[tuple, list]" = OrderedDict()
    incomplete: List[SeedResults] = []
    for dataset in listdir_nohidden(train_root):
        for shots in listdir_nohidden(os.path.join(train_root, dataset)):
            for trainer in listdir_nohidden(os.path.join(train_root, dataset, shots)):
                for cfg in listdir_nohidden(os.path.join(train_root, dataset, shots, trainer)):
                    rel = os.path.join(dataset, shots, trainer, cfg)
                    base = _seed_set(os.path.join(train_root, rel), keyword, END_OF_TRAINING)
                    seeds = [d for d in listdir_nohidden(base.directory) if os.path.isdir(os.path.join(base.directory, d))]
                    new = _seed_set(os.path.join(root, "test_new", rel), keyword, END_OF_TEST, expected=seeds)
                    incomplete += [s for s in (base, new) if s.missing]
                    methods.setdefault((trainer, cfg, shots), []).append([dataset, _mean(base, keyword),
                                                                          _mean(new, keyword)])
    if not methods:
        raise SystemExit(f"Nothing found in {train_root}: expected <dataset>/shots_<k>/<trainer>/<cfg>/seed*/")
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
    _check_complete(incomplete, keyword, f"{END_OF_TRAINING}\" (train_base) or \"{END_OF_TEST}\" (test_new)",
                    allow_missing)
    if csv_path:
        _write_csv(csv_path, ["table", "dataset", "base", "novel", "H"], csv_rows)
    return tables


def xd_tables(directory: str, keyword: str = "accuracy", source_dir: Optional[str] = None,
              csv_path: Optional[str] = None, allow_missing: bool = False) -> dict:
    """Cross-dataset and domain-generalisation tables from ``directory/<target>/seed<s>/log.txt`` (eval-only
    logs of xd_test.sh), with the source accuracy from ``source_dir`` (the training runs) if given.
    Every target is expected to have the seeds any target (or the source) has; a missing one ends the
    program after the tables, unless ``allow_missing``."""
    if not os.path.isdir(directory):
        raise SystemExit(f'"{directory}" does not exist (expected output/evaluation/<trainer>/<cfg>_<k>shots/<target>/seed*/)')
    names = [t for t in listdir_nohidden(directory) if os.path.isdir(os.path.join(directory, t))]
    source = _seed_set(source_dir, keyword, END_OF_TRAINING) if source_dir else None
    seeds = {d for t in names for d in listdir_nohidden(os.path.join(directory, t))
             if os.path.isdir(os.path.join(directory, t, d))}
    targets = {t: _seed_set(os.path.join(directory, t), keyword, END_OF_TEST, expected=sorted(seeds)) for t in names}
    if not any(s.found for s in targets.values()):
        raise SystemExit(nothing_found(directory, keyword, END_OF_TEST, layout="<target>/seed*"))
    incomplete = [s for s in ([source] if source else []) + list(targets.values()) if s.missing]
    means = {t: _mean(s, keyword) for t, s in targets.items() if s.found}
    source_mean = _mean(source, keyword) if source else None
    csv_rows: list = []
    tables = {}
    for title, group in (("Cross-dataset transfer", [t for t in means if t not in DG_TARGETS]),
                         ("Domain generalisation", [t for t in means if t in DG_TARGETS])):
        if not group:
            continue
        rows = ([["source", source_mean]] if source_mean is not None else []) + [[t, means[t]] for t in group]
        rows.append([f"Average ({len(group)} targets)", float(np.mean([means[t] for t in group]))])
        tables[title] = rows
        _print_table(f"{title}: {directory}", ["dataset", keyword], rows, csv_path, csv_rows)
    _check_complete(incomplete, keyword, f"{END_OF_TEST}\" (targets) or \"{END_OF_TRAINING}\" (source)",
                    allow_missing)
    if csv_path:
        _write_csv(csv_path, ["table", "dataset", keyword], csv_rows)
    return tables


def run_values(directory: str, keyword: str = "accuracy") -> List[float]:
    """``keyword`` of each finished run in ``directory``: the run itself (a folder with results.json, e.g. an
    eval-only zero-shot run) or its seed sub-folders. results.json is read first, then the newest log."""
    return _runs(directory, keyword).values(keyword)


def _runs(directory: str, keyword: str) -> SeedResults:
    metrics = [{"name": keyword, "regex": metric_regex(keyword)}]
    if os.path.isfile(os.path.join(directory, "results.json")):
        found = read_results_json(os.path.join(directory, "results.json"), metrics)
        return SeedResults(directory, [found] if found else [], [], 1)
    return collect_seeds(directory, metrics, END_OF_TRAINING, "json")


def compare_table(entries: List[str], keyword: str = "accuracy", ci95: bool = False,
                  csv_path: Optional[str] = None, allow_missing: bool = False) -> List[list]:
    """One row per ``LABEL=DIR`` entry: mean and spread (std, or 95% CI) of ``keyword`` over its runs.
    A run (seed sub-folder) without a final result is an error unless ``allow_missing``."""
    rows, incomplete = [], []
    for entry in entries:
        label, sep, directory = entry.partition("=")
        if not sep or not label or not directory:
            raise SystemExit(f'--compare takes LABEL=DIR entries, e.g. '
                             f'"zero-shot=output/ZeroshotCLIP/rn50/caltech101"; got "{entry}"')
        if not os.path.isdir(directory):
            raise SystemExit(f'{label}: "{directory}" does not exist (run the experiment first)')
        runs = _runs(directory, keyword)
        values = runs.values(keyword)
        if not values:
            raise SystemExit(f'{label}: no finished run in "{directory}" (expected results.json or seed*/results.json)')
        if runs.missing:
            incomplete.append(runs)
        spread = compute_ci95(values) if ci95 else float(np.std(values))
        rows.append([label, float(np.mean(values)), spread, len(values)])
    headers = ["method", keyword, "95% CI" if ci95 else "std", "runs"]
    csv_rows: list = []
    _print_table(f"{keyword} (mean over runs)", headers, rows, csv_path, csv_rows)
    _check_complete(incomplete, keyword, END_OF_TRAINING, allow_missing)
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
    allow_missing = getattr(args, "allow_missing", False)
    if args.compare:
        compare_table(args.compare, args.keyword, args.ci95, args.csv, allow_missing)
        return
    if not args.directory:
        raise SystemExit("parse_test_res.py: give a DIRECTORY (or --compare LABEL=DIR ...)")
    if args.base2new:
        base2new_tables(args.directory, args.keyword, args.csv, allow_missing)
        return
    if args.xd:
        xd_tables(args.directory, args.keyword, args.source_dir, args.csv, allow_missing)
        return
    metric = {"name": args.keyword, "regex": metric_regex(args.keyword)}
    if args.multi_exp:
        final_results = OrderedDict()
        errors = []
        for directory in listdir_nohidden(args.directory):
            directory = os.path.join(args.directory, directory)
            try:
                results = parse_function(metric, directory=directory, args=args, end_signal=end_signal)
            except SystemExit as e:  # report every incomplete experiment, then fail
                print("(not summarised: see the error below)")
                errors.append(str(e.code))
                continue
            for key, value in results.items():
                final_results.setdefault(key, []).append(value)
        if errors:
            raise SystemExit("\n".join(errors))
        print("Average performance")
        for key, values in final_results.items():
            print(f"* {key}: {np.mean(values):.2f}%")
    else:
        parse_function(metric, directory=args.directory, args=args, end_signal=end_signal)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=str, nargs="?", help="path to directory")
    parser.add_argument("--ci95", action="store_true", help="compute 95%% confidence interval")
    parser.add_argument("--test-log", action="store_true", help="parse test-only logs")
    parser.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    parser.add_argument("--keyword", default="accuracy", type=str, help="which keyword to extract")
    parser.add_argument("--base2new", action="store_true", help="DIR is output/base2new: base/novel/H table")
    parser.add_argument("--xd", action="store_true", help="DIR holds <target>/seed*/ eval logs: transfer tables")
    parser.add_argument("--source-dir", default=None, help="with --xd: the source training runs (seed*/)")
    parser.add_argument("--results-json", action="store_true",
                        help="results.json values at full precision (default: rounded as log.txt prints them)")
    parser.add_argument("--compare", nargs="+", metavar="LABEL=DIR", help="one table row per method: mean over its runs")
    parser.add_argument("--csv", default=None, help="with --base2new/--xd/--compare: also write the table(s) as CSV")
    parser.add_argument("--allow-missing", action="store_true",
                        help="summarise the seeds that finished when some did not (default: fail, listing them)")
    return parser


if __name__ == "__main__":
    args = build_parser().parse_args()
    main(args, END_OF_TEST if args.test_log else END_OF_TRAINING)
