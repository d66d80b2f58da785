"""The data pipeline: training-loader throughput, and whole short few-shot runs split into data, model
and evaluation time, the original pipeline against ours (same seed, same numbers).

    python benchmarks/bench_data.py --classes 100 --json benchmarks/results/cpu_data_c100.json

- **original** = the reference's loader: workers re-spawned every epoch, every JPEG decoded (and resized
  from full size) at every step and every evaluation (``DATALOADER.PERSISTENT_WORKERS False``,
  ``DECODED_CACHE_MB 0``, ``EVAL_CACHE_MB 0``);
- **ours** = the defaults: persistent workers re-seeded each epoch as fresh ones, the few-shot images
  decoded once, the evaluation images prepared once per process (vlprompt/data/pipeline.py);
- **ours+gpu_augment** (``--gpu-augment``) = ours with ``INPUT.GPU_AUGMENT True``: crops, flips and
  normalisation of the decoded images on the run's device (vlprompt/data/gpu_augment.py; not exact).

Images are generated JPEGs of realistic size (500x375, quality 90) in the user-data layout
(``ImageFolder``): ``--classes`` x (16 train + 1 val + ``--test`` test) images. Runs use CoOp with the released
schedule's transforms (224 px, bicubic random resized crop, flip) and a small random-weight CLIP at 224 px
(patch 32), so the model is cheap and the data pipeline's share is the worst case; on a GPU pass
``--arch ViT-B/16`` for the real model (random weights in its shapes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ORIGINAL = ["DATALOADER.PERSISTENT_WORKERS", "False", "DATALOADER.DECODED_CACHE_MB", "0", "DATALOADER.EVAL_CACHE_MB", "0"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_images(root: str, classes: int, per_class: int, seed: int = 0) -> None:
    """``root/<class>/<n>.jpg``: smooth random colour fields with noise, 500x375 (what photos decode like)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = os.path.join(root, f"{c:03d}_class{c}")
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            low = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
            img = Image.fromarray(low).resize((500, 375), Image.BICUBIC)
            arr = np.asarray(img, dtype=np.int16) + rng.integers(-20, 20, (375, 500, 3))
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(os.path.join(d, f"{i:03d}.jpg"), quality=90)


def loader_throughput(root: str, shots: int, workers: int, epochs: int, opts) -> float:
    """Training images per second of the loader alone over ``epochs`` epochs (first epoch included)."""
    from vlprompt.config import setup_cfg
    from vlprompt.data import DataManager

    cfg = setup_cfg(config_file=os.path.join(REPO, "configs/trainers/CoOp/rn50.yaml"),
                    opts=["DATASET.NAME", "ImageFolder", "DATASET.ROOT", root, "DATASET.NUM_SHOTS", str(shots),
                          "DATALOADER.NUM_WORKERS", str(workers), "DATASET.VALIDATE", "off", "VERBOSE", "False",
                          "SEED", "1", *opts])
    t0 = time.perf_counter()
    dm = DataManager(cfg)
    n = 0
    for _ in range(epochs):
        for batch in dm.train_loader_x:
            n += batch["img"].shape[0]
    return n / (time.perf_counter() - t0)


def short_run(root: str, out: str, shots: int, workers: int, epochs: int, backbone: str, opts) -> dict:
    """A whole train.py run (CoOp); returns wall time, its time split and its accuracy."""
    cmd = [sys.executable, os.path.join(REPO, "train.py"), "--root", root, "--seed", "1", "--trainer", "CoOp",
           "--dataset-config-file", os.path.join(REPO, "configs/datasets/image_folder.yaml"),
           "--config-file", os.path.join(REPO, "configs/trainers/CoOp/rn50.yaml"), "--output-dir", out,
           "DATASET.NUM_SHOTS", str(shots), "DATALOADER.NUM_WORKERS", str(workers), "OPTIM.MAX_EPOCH", str(epochs),
           "TRAINER.COOP.PREC", "fp32", "MODEL.BACKBONE.PATH", backbone, "DATASET.VALIDATE", "off", *opts]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with open(os.path.join(out, "results.json")) as f:
        record = json.load(f)
    return {"wall_s": wall, **{f"{k}_s": v for k, v in record["time_split_s"].items()},
            "accuracy": record["metrics"]["accuracy"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--test", type=int, default=4, help="test images per class")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--loader-epochs", type=int, default=3)
    p.add_argument("--run-epochs", type=int, default=3)
    p.add_argument("--shots", type=int, nargs="+", default=[1, 16])
    p.add_argument("--arch", default="tiny224", help="tiny224 (random, cheap) or an open_clip name, e.g. ViT-B/16")
    p.add_argument("--json", default="")
    p.add_argument("--gpu-augment", action="store_true",
                   help="also time ours + INPUT.GPU_AUGMENT True (augmentation on the run's device; not exact)")
    p.add_argument("--keep", default="", help="keep the generated images in this folder (reused when present)")
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench_data_")
    root = args.keep or os.path.join(tmp, "images")
    if not os.path.isdir(root):
        print(f"Generating {args.classes} classes x {17 + args.test} JPEGs (500x375) in {root}", flush=True)
        make_images(root, args.classes, 17 + args.test)
    # The split, written as a split file: 16 train, 1 val and --test test images per class.
    split = {"train": [], "val": [], "test": []}
    for c, d in enumerate(sorted(os.listdir(root))):
        if not os.path.isdir(os.path.join(root, d)):
            continue
        files = sorted(os.listdir(os.path.join(root, d)))
        for i, f in enumerate(files):
            part = "train" if i < 16 else "val" if i == 16 else "test"
            split[part].append([f"{d}/{f}", c, d.split("_", 1)[1]])
    with open(os.path.join(root, "split_ImageFolder.json"), "w") as f:
        json.dump(split, f)

    if args.arch == "tiny224":
        from vlprompt.clip.tiny import save_tiny_clip

        backbone = save_tiny_clip(os.path.join(tmp, "tiny224.pt"), image_size=224, patch_size=32)
    else:
        import torch

        from benchmarks.common import ARCHS, build_random_clip  # noqa: F401

        backbone = os.path.join(tmp, "backbone.pt")
        torch.save(build_random_clip(args.arch, torch.device("cpu"), "fp16").state_dict(), backbone)

    rows = []
    for shots in args.shots:
        row = {"shots": shots, "classes": args.classes, "workers": args.workers}
        configs = [("original", ORIGINAL), ("ours", [])]
        if args.gpu_augment:
            configs.append(("ours+gpu_augment", ["INPUT.GPU_AUGMENT", "True"]))
        for name, opts in configs:
            row[f"loader img/s ({name})"] = loader_throughput(root, shots, args.workers, args.loader_epochs, opts)
            r = short_run(root, os.path.join(tmp, f"run_{name}_{shots}"), shots, args.workers, args.run_epochs, backbone, opts)
            for k, v in r.items():
                row[f"{k} ({name})"] = v
        row["loader speed-up"] = row["loader img/s (ours)"] / row["loader img/s (original)"]
        row["run speed-up"] = row["wall_s (original)"] / row["wall_s (ours)"]
        row["data share (ours)"] = row["data_s (ours)"] / row["wall_s (ours)"]
        row["same accuracy"] = row["accuracy (original)"] == row["accuracy (ours)"]
        if args.gpu_augment:
            row["run speed-up (gpu_augment)"] = row["wall_s (original)"] / row["wall_s (ours+gpu_augment)"]
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    from tabulate import tabulate

    short = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
              if k.startswith(("shots", "loader", "wall", "data_s", "run", "same", "data share"))} for r in rows]
    print(tabulate(short, headers="keys"))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": {"classes": args.classes, "workers": args.workers, "arch": args.arch,
                                "run_epochs": args.run_epochs, "cpus": os.cpu_count()}, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
