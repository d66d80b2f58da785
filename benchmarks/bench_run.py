"""The whole run, as users start it: train.py in our configuration against the original computation,
same seed, same data, per phase (set-up, training, evaluation).

    python benchmarks/bench_run.py --arch ViT-B/16 --cases train100 test100 eval1000 --json r.json

- **original** = the reference computation selected by config: 77-token prompts encoded in full at every
  step and every test batch (``MODEL.TEXT_ENCODING reference``) and the original data pipeline (workers
  re-spawned every epoch, images decoded at every step and every evaluation);
- **ours** = the defaults.

Cases (the issue's table): ``train100`` = 100 classes, 1 shot, batch 32, one epoch (the training phase);
``test100`` = the same run's evaluation on 200 images, batch 100; ``eval1000`` = eval-only, 1,000 classes,
100 images, batch 100. Reported per phase: wall, CPU (user + system) seconds, images/s; per run: peak
memory and the final accuracy, which must be equal. Weights are random in the architecture's real shapes
(timings do not depend on values); class names are ImageNet's (realistic token counts); images are
generated 500x375 JPEGs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_data import ORIGINAL, make_images  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {  # classes, train images per class (0: eval-only), test images per class, train batch
    "train100": (100, 1, 2, 32),
    "test100": (100, 1, 2, 32),
    "eval1000": (1000, 0, 0.1, 32),
}


def dataset(root: str, classes: int, train: int, test_per_class: float) -> str:
    """An ImageFolder of ImageNet-named classes with a split file: ``train`` train, 1 val, the test images."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    folder = os.path.join(root, f"c{classes}_t{train}")
    n_test = max(1, round(test_per_class * classes))
    if not os.path.isdir(folder):
        names = [re.sub(r"[^A-Za-z0-9' -]", "", IMAGENET_CLASSNAMES[i % 1000]).strip().replace(" ", "_") or f"c{i}"
                 for i in range(classes)]
        seen: dict = {}
        for i, n in enumerate(names):  # ImageNet repeats two names (crane, maillot): class names must differ
            seen[n] = seen.get(n, 0) + 1
            if seen[n] > 1:
                names[i] = f"{n}_{seen[n]}"
        tmp = folder + ".tmp"
        make_images(tmp, classes, max(train, 1) + 1 + max(1, n_test // classes))
        for i, d in enumerate(sorted(os.listdir(tmp))):
            os.rename(os.path.join(tmp, d), os.path.join(tmp, f"{i:04d}_{names[i]}"))
        split = {"train": [], "val": [], "test": []}
        per_class = max(1, n_test // classes)  # test images per class; fewer images than classes: spread evenly
        step = max(1, classes // n_test)
        for c, d in enumerate(sorted(os.listdir(tmp))):
            files = sorted(os.listdir(os.path.join(tmp, d)))
            name = d.split("_", 1)[1]
            split["train"] += [[f"{d}/{f}", c, name] for f in files[:max(train, 1)]]
            split["val"].append([f"{d}/{files[max(train, 1)]}", c, name])
            if c % step == 0:
                split["test"] += [[f"{d}/{f}", c, name] for f in files[max(train, 1) + 1:][:per_class]]
        with open(os.path.join(tmp, "split_ImageFolder.json"), "w") as f:
            json.dump(split, f)
        os.rename(tmp, folder)
    return folder


def run(root: str, out: str, backbone: str, arch: str, train: int, batch: int, workers: int, opts, eval_only: bool) -> dict:
    cmd = [sys.executable, os.path.join(REPO, "train.py"), "--root", root, "--seed", "1", "--trainer", "CoOp",
           "--dataset-config-file", os.path.join(REPO, "configs/datasets/image_folder.yaml"),
           "--config-file", os.path.join(REPO, "configs/trainers/CoOp/vit_b16.yaml"), "--output-dir", out,
           *(["--eval-only"] if eval_only else []),
           "MODEL.BACKBONE.NAME", arch, "MODEL.BACKBONE.PATH", backbone, "DATASET.NUM_SHOTS", str(max(train, 1)),
           "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", str(batch), "DATALOADER.TEST.BATCH_SIZE", "100",
           "DATALOADER.NUM_WORKERS", str(workers), "TRAINER.COOP.PREC", "fp32", "DATASET.VALIDATE", "off", *opts]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with open(os.path.join(out, "results.json")) as f:
        r = json.load(f)
    split, proc = r["time_split_s"], r["process"]
    train_s = split["data"] + split["forward_backward"]
    return {"wall_s": wall, "setup_s": wall - train_s - split["evaluation"], "train_s": train_s,
            "eval_s": split["evaluation"], "cpu_s": proc["user_s"] + proc["system_s"], "system_s": proc["system_s"],
            "eval_cpu_s": proc["evaluation_cpu_s"], "peak_rss_mb": proc["peak_rss_mb"],
            "images_evaluated": r.get("images_evaluated"), "accuracy": r["metrics"]["accuracy"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="ViT-B/16")
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--data", default="", help="folder for the generated datasets (kept and reused)")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    import torch

    from benchmarks.common import build_random_clip

    tmp = tempfile.mkdtemp(prefix="bench_run_")
    data = args.data or os.path.join(tmp, "data")
    backbone = os.path.join(tmp, "backbone.pt")
    torch.save(build_random_clip(args.arch, torch.device("cpu"), "fp16").state_dict(), backbone)
    rows = []
    for case in args.cases:
        classes, train, test_per_class, batch = CASES[case]
        root = dataset(data, classes, train, test_per_class)
        row = {"case": case, "classes": classes}
        for name, opts in (("original", ORIGINAL + ["MODEL.TEXT_ENCODING", "reference"]), ("ours", [])):
            r = run(root, os.path.join(tmp, f"{case}_{name}"), backbone, args.arch, train, batch, args.workers, opts,
                    eval_only=train == 0)
            row.update({f"{k} ({name})": v for k, v in r.items()})
        phase = "eval_s" if case != "train100" else "train_s"
        row["ratio (phase)"] = row[f"{phase} (original)"] / row[f"{phase} (ours)"]
        row["ratio (wall)"] = row["wall_s (original)"] / row["wall_s (ours)"]
        row["same accuracy"] = row["accuracy (original)"] == row["accuracy (ours)"]
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": {"arch": args.arch, "workers": args.workers, "cpus": os.cpu_count(),
                                "torch": torch.__version__}, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
