"""``python -m vlprompt.reproduce``: list / run a paper recipe / write the reproduction report.

    python -m vlprompt.reproduce list
    python -m vlprompt.reproduce coop-fewshot --root $DATA [--datasets ...] [--launcher local --workers 4] [-- KEY VALUE]
    python -m vlprompt.reproduce report OUTPUT_ROOT [--out DIR] [--seeds 1 2 3]
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Optional, Sequence

from vlprompt.launch import add_launcher_args, launch, launcher_from_args

from .recipes import RECIPES, expand_recipe
from .report import build_report


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] == "list":
        for r in RECIPES.values():
            print(f"{r.name:24s} {r.table}")
        return 0
    if argv[0] == "report":
        p = argparse.ArgumentParser(prog="python -m vlprompt.reproduce report")
        p.add_argument("root", help="the output root holding the runs (e.g. output)")
        p.add_argument("--out", default=None, help="folder for report.md, report.csv and the curves (default ROOT/report)")
        p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds every cell should have")
        args = p.parse_args(argv[1:])
        result = build_report(args.root, args.out or os.path.join(args.root, "report"), args.seeds)
        print(f"Wrote {result['markdown']}, {result['csv']}" + (f" and {len(result['plots'])} plot(s)" if result["plots"] else ""))
        if result["problems"]:
            print(f"{len(result['problems'])} run(s) missing or failed (listed in the report)")
        return 0
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(prog=f"python -m vlprompt.reproduce {argv[0]}")
    p.add_argument("recipe", choices=sorted(RECIPES))
    p.add_argument("--root", default=os.environ.get("DATA", ""), help="datasets folder (default: $DATA)")
    p.add_argument("--output-root", default="output")
    p.add_argument("--datasets", nargs="+", default=())
    p.add_argument("--shots", type=int, nargs="+", default=())
    p.add_argument("--seeds", type=int, nargs="+", default=())
    p.add_argument("--print", action="store_true", help="print the train.py commands of unfinished runs")
    p.add_argument("--keep-going", action="store_true")
    add_launcher_args(p)
    args = p.parse_args(argv[:split])
    if not args.root:
        p.error("--root (or $DATA) is required")
    specs = expand_recipe(args.recipe, args.root, args.output_root, args.datasets, args.shots, args.seeds,
                          argv[split + 1:])
    if args.print:
        for spec in specs:
            if spec.status() != "finished":
                print(shlex.join(spec.command()))
        return 0
    print(f"{args.recipe}: {RECIPES[args.recipe].table}; {len(specs)} runs", flush=True)
    summary = launch(specs, keep_going=args.keep_going, quiet=True, progress=True, launcher=launcher_from_args(args))
    print(summary)
    return summary.returncode


if __name__ == "__main__":
    sys.exit(main())
