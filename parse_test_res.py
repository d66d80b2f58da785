"""Aggregate the accuracy printed at the end of each run over seeds (mean and spread).

    python parse_test_res.py output/caltech101/CoOp/rn50_16shots/nctx16_cscFalse_ctpend
    python parse_test_res.py DIR --ci95          # 95% confidence interval instead of the std
    python parse_test_res.py DIR --test-log      # eval-only logs (values after "=> result")
    python parse_test_res.py DIR --multi-exp     # DIR holds several experiments

DIR's sub-folders (e.g. seed1, seed2, seed3) each hold a ``log.txt``.
"""
import argparse
import os
import re
from collections import OrderedDict

import numpy as np


def listdir_nohidden(path: str):
    return sorted(f for f in os.listdir(path) if not f.startswith("."))


def compute_ci95(res) -> float:
    return 1.96 * np.std(res) / np.sqrt(len(res))


def parse_function(*metrics, directory: str = "", args=None, end_signal=None) -> "OrderedDict":
    print(f"Parsing files in {directory}")
    subdirs = listdir_nohidden(directory)
    outputs = []
    for subdir in subdirs:
        fpath = os.path.join(directory, subdir, "log.txt")
        assert os.path.isfile(fpath), f'"{fpath}" does not exist (every sub-folder of {directory} needs a log.txt)'
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
        if output:
            outputs.append(output)
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


def main(args, end_signal: str) -> None:
    metric = {"name": args.keyword, "regex": re.compile(fr"\* {args.keyword}: ([\.\deE+-]+)%")}
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
    parser.add_argument("directory", type=str, help="path to directory")
    parser.add_argument("--ci95", action="store_true", help="compute 95%% confidence interval")
    parser.add_argument("--test-log", action="store_true", help="parse test-only logs")
    parser.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    parser.add_argument("--keyword", default="accuracy", type=str, help="which keyword to extract")
    args = parser.parse_args()
    main(args, "=> result" if args.test_log else "Finish training")
