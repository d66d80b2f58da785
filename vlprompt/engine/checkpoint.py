"""Checkpoint files in the reference layout: ``<dir>/<model name>/model.pth.tar-N`` + ``checkpoint``.

Our checkpoints carry, besides the reference's entries, ``rng_state`` (exact resume) and ``config`` /
``config_hash`` (the run's training-relevant config, :func:`run_fingerprint`): a run resumes only from
a checkpoint of the same configuration. ``model-last.pth.tar`` is the rolling resume checkpoint written
every ``TRAIN.RESUME_CHECKPOINT_FREQ`` epochs (the learnable weights, optimiser, schedule and RNG state,
without the class-dependent buffers) and removed once the final checkpoint is written.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from typing import Callable, Optional

import torch

from vlprompt.utils.safe_load import CHECKPOINT_REMEDY, safe_load
from vlprompt.utils.tools import atomic_torch_save, atomic_write_text


def get_rng_state() -> dict:
    """All RNG states a training epoch consumes (sampler order, augmentation, workers' base seed)."""
    import random

    import numpy as np

    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import random

    import numpy as np

    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


LAST_CHECKPOINT = "model-last.pth.tar"

# Keys that may change between an interrupted run and its resumption: where things are, how much is
# printed or checked, how many epochs in all (a run may be extended), how often checkpoints are written,
# and evaluation-only settings.
RESUME_IGNORED_KEYS = (
    "OUTPUT_DIR", "RESUME", "VERBOSE", "USE_CUDA", "DATASET.ROOT", "DATASET.VALIDATE", "DATASET.SKIP_BAD_IMAGES",
    "DATALOADER.NUM_WORKERS", "DATALOADER.TEST.BATCH_SIZE", "MODEL.BACKBONE.CACHE_DIR", "MODEL.BACKBONE.PATH",
    "MODEL.TEXT_ENCODING", "OPTIM.MAX_EPOCH", "TRAIN.PRINT_FREQ", "TRAIN.CHECKPOINT_FREQ",
    "TRAIN.RESUME_CHECKPOINT_FREQ", "TEST.PER_CLASS_RESULT", "TEST.COMPUTE_CMAT", "TEST.NO_TEST", "TEST.SPLIT",
)


class ResumeConfigError(ValueError):
    """A run was asked to resume from a checkpoint written under another configuration."""


def run_fingerprint(cfg) -> dict:
    """The training-relevant part of a config as a flat ``{"KEY.PATH": value}`` dict (JSON values)."""
    flat = {}

    def walk(node, prefix):
        for key, value in node.items():
            full = prefix + key
            if hasattr(value, "items"):
                walk(value, full + ".")
            elif full not in RESUME_IGNORED_KEYS:
                flat[full] = list(value) if isinstance(value, tuple) else value
    walk(cfg, "")
    return flat


def fingerprint_hash(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_resume_config(stored: Optional[dict], current: dict, source: str) -> None:
    """Refuse to resume from ``source`` when its stored fingerprint differs from the current run's."""
    if stored is None:
        print(f'Note: "{source}" records no config (written by the original code or an older vlprompt); '
              "resuming without checking that it comes from the same configuration")
        return
    diff = sorted(k for k in set(stored) | set(current) if stored.get(k, "<absent>") != current.get(k, "<absent>"))
    if diff:
        shown = "; ".join(f"{k}: {stored.get(k, '<absent>')!r} in the checkpoint, {current.get(k, '<absent>')!r} now"
                          for k in diff[:8])
        raise ResumeConfigError(
            f'Cannot resume from "{source}": it was written by a run with another configuration ({shown}'
            f"{'; ...' if len(diff) > 8 else ''}). Resuming would continue (or skip) that run's training and "
            "report its result under this configuration. Use a new --output-dir for this run, or delete the "
            "old run's folder to start over."
        )


def _strip_module(state_dict):
    return OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def load_state_dict_checked(module, state_dict: dict, source: str, class_dependent=(), ignored=(), optional=()) -> None:
    """The one rule for loading a checkpoint into a registered module: every entry must fit.

    Exceptions, declared by the trainer: ``class_dependent`` buffer names (last key component, e.g.
    ``token_prefix``) are rebuilt from the current class names, so they are dropped from the checkpoint
    and never required (a model trained on base classes loads for new ones); ``ignored`` full key names
    (or, ending in ".", key prefixes) are entries of official checkpoints the method does not use;
    ``optional`` full key names may be absent (frozen weights a registered whole model holds: they come
    from the CLIP file, and are loaded when a checkpoint carries them). Anything else missing or
    unexpected is an error naming the keys; shapes must match.
    """
    def is_class_dependent(key: str) -> bool:
        return key.split(".")[-1] in class_dependent

    prefixes = tuple(k for k in ignored if k.endswith("."))

    def is_ignored(key: str) -> bool:
        return key in ignored or (bool(prefixes) and key.startswith(prefixes))

    state = {k: v for k, v in _strip_module(state_dict).items() if not is_class_dependent(k) and not is_ignored(k)}
    result = module.load_state_dict(state, strict=False)
    optional = set(optional)
    missing = [k for k in result.missing_keys if not is_class_dependent(k) and k not in optional]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise RuntimeError(
            f'Checkpoint "{source}" does not fit the {type(module).__name__} of this run: '
            f"missing keys {missing}, unexpected keys {unexpected}. Check that --trainer and the config "
            "(e.g. the number of context tokens, CSC) are those the checkpoint was trained with."
        )


def save_checkpoint(state: dict, save_dir: str, is_best: bool = False, model_name: str = "", quiet: bool = False) -> str:
    """Write ``model.pth.tar-{epoch}`` (or ``model_name``) atomically and update the ``checkpoint`` file."""
    os.makedirs(save_dir, exist_ok=True)
    state = dict(state)
    state["state_dict"] = _strip_module(state["state_dict"])
    fpath = os.path.join(save_dir, model_name or f"model.pth.tar-{state['epoch']}")
    atomic_torch_save(state, fpath)
    if not quiet:
        print(f"Checkpoint saved to {fpath}")
    atomic_write_text(os.path.join(save_dir, "checkpoint"), f"{os.path.basename(fpath)}\n")
    if is_best:
        best = os.path.join(save_dir, "model-best.pth.tar")
        atomic_torch_save(state, best)
        print(f'Best checkpoint saved to "{best}"')
    return fpath


def load_checkpoint(fpath: str) -> dict:
    """Load a checkpoint written by us or by the original code onto the CPU, executing nothing from it.

    Goes through :func:`vlprompt.utils.safe_load.safe_load`: the reference's pickled scheduler objects
    load as inert stand-ins (only ``state_dict`` and ``epoch`` are needed for evaluation); a file that
    refers to other code is refused unless VLPROMPT_TRUST_PICKLES=1; a truncated file raises
    CorruptFileError naming the file and its size.
    """
    if not os.path.exists(fpath):
        raise FileNotFoundError(f'Model not found at "{fpath}"')
    return safe_load(fpath, what="checkpoint", remedy=CHECKPOINT_REMEDY)


def checkpoint_to_resume(fdir: str) -> str:
    """The file named in ``fdir/checkpoint`` (the most recently written checkpoint)."""
    ckpt_file = os.path.join(fdir, "checkpoint")
    if not os.path.exists(ckpt_file):
        raise FileNotFoundError(
            f'Cannot resume: "{ckpt_file}" is missing (it names the checkpoint to resume from). '
            "Remove the folder to train from scratch."
        )
    with open(ckpt_file) as f:
        return os.path.join(fdir, f.readline().strip())


def final_checkpoint(fdir: str) -> str:
    """The final ``model.pth.tar-N`` of a finished training run (the file ``fdir/checkpoint`` names), for
    methods whose last epoch depends on the data. An unfinished run (its latest file is the rolling
    resume checkpoint) is an error."""
    ckpt_file = os.path.join(fdir, "checkpoint")
    if not os.path.exists(ckpt_file):
        raise FileNotFoundError(f'No checkpoint in "{fdir}" (its "checkpoint" file, naming the final model, is '
                                "missing): train the model first, or give --load-epoch")
    path = checkpoint_to_resume(fdir)
    if os.path.basename(path) == LAST_CHECKPOINT:
        raise RuntimeError(f'The training run of "{fdir}" did not finish (its latest checkpoint is the rolling resume '
                           f"checkpoint {LAST_CHECKPOINT}): finish it (run it again: it resumes) before evaluating it")
    return path


def resume_from_checkpoint(fdir: str, model, optimizer=None, scheduler=None, class_dependent=(), ignored=(),
                           run_config: Optional[dict] = None, optional=(),
                           on_load: Optional[Callable[[dict, str], None]] = None) -> int:
    """Load the file named in ``fdir/checkpoint`` into model/optimizer/scheduler; return its epoch.

    With ``run_config`` (:func:`run_fingerprint` of the current run), a checkpoint written under another
    configuration is refused (:class:`ResumeConfigError`). ``on_load(checkpoint, path)`` receives the loaded
    checkpoint (a trainer's own entries, e.g. PromptSRC's running prompt average)."""
    fpath = checkpoint_to_resume(fdir)
    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    if run_config is not None:
        check_resume_config(checkpoint.get("config"), run_config, fpath)
    load_state_dict_checked(model, checkpoint["state_dict"], fpath, class_dependent, ignored, optional)
    if on_load is not None:
        on_load(checkpoint, fpath)
    print("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    start_epoch = checkpoint["epoch"]
    if scheduler is not None:
        sched_state = checkpoint.get("scheduler")
        if not (isinstance(sched_state, dict) and "name" in sched_state):
            # A reference (Dassl) scheduler state: our schedule is closed-form in the epoch index.
            sched_state = {"last_epoch": start_epoch}
        scheduler.load_state_dict(sched_state)
        print("Loaded scheduler")
    if checkpoint.get("rng_state") is not None:
        # Not done by the reference: restoring the RNG makes a resumed run equal an uninterrupted one.
        set_rng_state(checkpoint["rng_state"])
        print("Loaded RNG state")
    print(f"Previous epoch: {start_epoch}")
    return start_epoch
