"""Use a trained model on new images: ``load_classifier(run_dir or exported file)`` and a command line.

    python -m vlprompt.predict RUN_DIR IMAGE_OR_FOLDER... [--topk 5] [--classes FILE] [--json]
    python -m vlprompt.predict run.vlprompt.pt photo.jpg          # an exported run (vlprompt.export)

    from vlprompt import load_classifier
    clf = load_classifier("output/.../seed1")            # or the exported file
    labels, probabilities = clf.predict(["a.jpg", "b.jpg"])  # class names, (N, n_classes) softmax
    clf = load_classifier(run, classnames=["cat", "dog"])    # other classes (prompt methods only)

The model is rebuilt exactly as the run evaluated it: the run's config (``config.yaml``), its class names
and template (``classes.json``), the checkpoint it deployed (``model-best.pth.tar`` for TEST.FINAL_MODEL
best_val, else its last ``model.pth.tar-N``), the test transform and precision; so predictions on the
run's test images reproduce its test accuracy. Checkpoints and exported files are read with the safe
loader (nothing in them is executed). CLIP weights come from the backbone named in the config
(``cache_dir`` overrides where they are looked for).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
from typing import List, Optional, Sequence, Tuple, Union

import torch

from vlprompt.data.validation import read_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
EXPORT_FORMAT = "vlprompt-export"


class Classifier:
    """A trained model and its class names; :meth:`predict` maps images to class names and probabilities."""

    def __init__(self, trainer, source: str):
        self.trainer = trainer
        self.source = source
        self.classnames: List[str] = list(trainer.dm.dataset.classnames)
        self.transform = trainer.dm.tfm_test
        trainer.set_model_mode("eval")
        with torch.no_grad():
            trainer.before_test()  # e.g. the class text features, encoded once

    @property
    def method(self) -> str:
        return self.trainer.method_tag()

    @torch.no_grad()
    def logits(self, images: Sequence[Union[str, "object"]], batch_size: Optional[int] = None) -> torch.Tensor:
        """Logits (N, n_classes) of images (paths or PIL images), in batches as the evaluation does."""
        batch_size = batch_size or self.trainer.cfg.DATALOADER.TEST.BATCH_SIZE
        out = []
        for i in range(0, len(images), batch_size):
            batch = [read_image(x) if isinstance(x, (str, os.PathLike)) else x.convert("RGB")
                     for x in images[i:i + batch_size]]
            x = torch.stack([self.transform(img) for img in batch]).to(self.trainer.device)
            out.append(self.trainer.predict_logits(x).float().cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.classnames))

    def predict(self, images: Sequence[Union[str, "object"]]) -> Tuple[List[str], torch.Tensor]:
        """(predicted class name per image, softmax probabilities (N, n_classes))."""
        probs = self.logits(images).softmax(dim=-1)
        return [self.classnames[i] for i in probs.argmax(dim=-1).tolist()], probs

    def topk(self, images: Sequence[Union[str, "object"]], k: int = 5) -> List[List[Tuple[str, float]]]:
        """The ``k`` most probable classes per image, as (class name, probability) pairs."""
        probs = self.logits(images).softmax(dim=-1)
        values, idx = probs.topk(min(k, probs.shape[-1]), dim=-1)
        return [[(self.classnames[j], float(v)) for j, v in zip(row_i.tolist(), row_v.tolist())]
                for row_i, row_v in zip(idx, values)]


# ----------------------------------------------------------------------------- loading
def _checkpoint_file(run_dir: str, name: str, final_model: str) -> str:
    """The checkpoint the run deployed: model-best for best_val, else the highest model.pth.tar-N."""
    folder = os.path.join(run_dir, name)
    if final_model == "best_val" and os.path.isfile(os.path.join(folder, "model-best.pth.tar")):
        return os.path.join(folder, "model-best.pth.tar")
    epochs = sorted(int(m.group(1)) for f in (os.listdir(folder) if os.path.isdir(folder) else [])
                    if (m := re.fullmatch(r"model\.pth\.tar-(\d+)", f)))
    if not epochs:
        raise FileNotFoundError(f'No trained model in "{folder}" (expected model.pth.tar-<epoch>): the run has not '
                                "finished training")
    return os.path.join(folder, f"model.pth.tar-{epochs[-1]}")


def read_run(run_dir: str) -> dict:
    """What a run folder holds for prediction: its config (YAML text) and run info (the checkpoints are
    read when the model is rebuilt)."""
    info_path, cfg_path = os.path.join(run_dir, "classes.json"), os.path.join(run_dir, "config.yaml")
    missing = [p for p in (info_path, cfg_path) if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f'"{run_dir}" is not a run folder of this vlprompt version: {missing} missing '
                                "(train.py writes config.yaml and classes.json next to log.txt)")
    with open(cfg_path) as f:
        config = f.read()
    with open(info_path) as f:
        info = json.load(f)
    return {"format": EXPORT_FORMAT, "version": 1, "config": config, "info": info, "models": None, "run_dir": run_dir}


def read_export(path: str) -> dict:
    from vlprompt.utils.safe_load import safe_load

    data = safe_load(path, what="exported model")
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValueError(f'"{path}" is not a file written by vlprompt.export (format "{EXPORT_FORMAT}")')
    return data


def build_trainer_for(data: dict, classnames: Optional[Sequence[str]] = None, cache_dir: str = "",
                      device: Optional[str] = None, quiet: bool = True):
    """The run's trainer rebuilt without its dataset, with its trained weights loaded."""
    from vlprompt.config import get_cfg
    from vlprompt.data import ClassesOnly
    from vlprompt.engine import build_trainer
    from vlprompt.engine.checkpoint import load_checkpoint, load_state_dict_checked

    cfg = get_cfg()
    cfg.merge_from_other_cfg(cfg.load_cfg(data["config"]))
    cfg.VERBOSE = False
    if cache_dir:
        cfg.MODEL.BACKBONE.CACHE_DIR = cache_dir
    if device is not None:
        cfg.USE_CUDA = device != "cpu"
    info = data["info"]
    own = list(info["classnames"])
    names = list(classnames) if classnames is not None else own
    cfg.freeze()
    sink = io.StringIO() if quiet else None
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        trainer = build_trainer(cfg, data=ClassesOnly(cfg, names, info["template"]))
        if names != own:
            trainer.check_new_classes(names)
        for name in trainer.get_model_names():
            if data.get("models") is not None:
                if name not in data["models"]:
                    raise KeyError(f"The exported file holds no weights for {name} (it holds {sorted(data['models'])})")
                state, source = data["models"][name], f"{data.get('source', 'exported file')} [{name}]"
            else:
                source = _checkpoint_file(data["run_dir"], name, cfg.TEST.FINAL_MODEL)
                state = load_checkpoint(source)["state_dict"]
            load_state_dict_checked(trainer._models[name], state, source, trainer.class_dependent_keys,
                                    trainer.ignored_checkpoint_keys)
    return trainer


def load_classifier(path: str, classnames: Optional[Sequence[str]] = None, cache_dir: str = "",
                    device: Optional[str] = None) -> Classifier:
    """A :class:`Classifier` from a run folder or a file written by :mod:`vlprompt.export`.

    ``classnames``: classify other classes than the run's (prompt methods rebuild their class-dependent
    parts from the names; methods with one weight per training class raise a clear error).
    """
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        data = read_run(path)
    elif os.path.isfile(path):
        data = read_export(path)
    else:
        raise FileNotFoundError(f'"{path}" is neither a run folder nor an exported file')
    return Classifier(build_trainer_for(data, classnames, cache_dir, device), path)


# ----------------------------------------------------------------------------- command line
def expand_images(inputs: Sequence[str]) -> List[str]:
    """Image files and the images inside folders (recursively, sorted)."""
    out = []
    for item in inputs:
        if os.path.isdir(item):
            for dirpath, dirs, files in os.walk(item):
                dirs.sort()
                out += [os.path.join(dirpath, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise FileNotFoundError(f'"{item}" is neither an image file nor a folder')
    if not out:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in {list(inputs)}")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vlprompt.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a run folder (holding config.yaml, classes.json, checkpoints) or an exported file")
    p.add_argument("images", nargs="+", help="image files and/or folders of images")
    p.add_argument("--topk", type=int, default=1)
    p.add_argument("--classes", default="", help="a file of class names, one per line, to classify instead")
    p.add_argument("--json", action="store_true", help="one JSON list of results instead of text")
    p.add_argument("--cache-dir", default="", help="where the CLIP weights are (MODEL.BACKBONE.CACHE_DIR)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: as the run, when available)")
    args = p.parse_args(argv)
    classnames = None
    if args.classes:
        with open(args.classes) as f:
            classnames = [line.strip() for line in f if line.strip()]
    clf = load_classifier(args.model, classnames, args.cache_dir, args.device)
    images = expand_images(args.images)
    results = clf.topk(images, args.topk)
    if args.json:
        print(json.dumps([{"image": img, "predictions": [{"class": c, "probability": round(pr, 6)} for c, pr in r]}
                          for img, r in zip(images, results)], indent=2))
    else:
        for img, r in zip(images, results):
            print(f"{img}\t" + "\t".join(f"{c} ({pr:.3f})" for c, pr in r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
