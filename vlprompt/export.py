"""Export a trained run as one small, self-contained file; :mod:`vlprompt.predict` reads it.

    python -m vlprompt.export RUN_DIR [-o FILE]        # default FILE: RUN_DIR/model.vlprompt.pt

The file holds what the run learned (the state dicts of its registered models, from the checkpoint it
deployed) and what rebuilds it: method, config (which names the backbone), class names and template.
It needs neither the run folder nor the dataset; the CLIP weights come from the backbone the config
names. It is written with ``torch.save`` and read back with the safe loader (tensors, strings and
numbers only: nothing in it is executed).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from vlprompt.predict import EXPORT_FORMAT, _checkpoint_file, read_run


def export_run(run_dir: str, path: Optional[str] = None) -> str:
    """Write ``path`` (default ``<run_dir>/model.vlprompt.pt``) atomically; returns the path."""
    from vlprompt.config import get_cfg
    from vlprompt.engine import TRAINER_REGISTRY
    from vlprompt.engine.checkpoint import load_checkpoint
    from vlprompt.utils.tools import atomic_torch_save

    data = read_run(run_dir)
    cfg = get_cfg()
    cfg.merge_from_other_cfg(cfg.load_cfg(data["config"]))
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    # The registered models are known once built; their folders in the run are the checkpoint folders.
    names = sorted(n for n in os.listdir(run_dir) if os.path.isfile(os.path.join(run_dir, n, "checkpoint")))
    models, epochs = {}, {}
    for name in names:
        source = _checkpoint_file(run_dir, name, cfg.TEST.FINAL_MODEL)
        checkpoint = load_checkpoint(source)
        models[name] = dict(checkpoint["state_dict"])
        epochs[name] = checkpoint.get("epoch")
    payload = {"format": EXPORT_FORMAT, "version": 1, "trainer": trainer_cls.__name__, "config": data["config"],
               "info": data["info"], "models": models, "epochs": epochs, "source": os.path.abspath(run_dir)}
    path = path or os.path.join(run_dir, "model.vlprompt.pt")
    atomic_torch_save(payload, path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vlprompt.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a finished run folder (config.yaml, classes.json, checkpoints)")
    p.add_argument("-o", "--output", default=None, help="the file to write (default: RUN_DIR/model.vlprompt.pt)")
    args = p.parse_args(argv)
    path = export_run(args.run_dir, args.output)
    print(f"Exported {args.run_dir} to {path} ({os.path.getsize(path):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
