"""Checkpoint files in the reference layout: ``<dir>/<model name>/model.pth.tar-N`` + ``checkpoint``."""
from __future__ import annotations

import os
from collections import OrderedDict

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


def _strip_module(state_dict):
    return OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def load_state_dict_checked(module, state_dict: dict, source: str, class_dependent=(), ignored=()) -> None:
    """The one rule for loading a checkpoint into a registered module: every entry must fit.

    Exceptions, declared by the trainer: ``class_dependent`` buffer names (last key component, e.g.
    ``token_prefix``) are rebuilt from the current class names, so they are dropped from the checkpoint
    and never required (a model trained on base classes loads for new ones); ``ignored`` full key names
    are entries of official checkpoints the method does not use. Anything else missing or unexpected
    is an error naming the keys; shapes must match.
    """
    def is_class_dependent(key: str) -> bool:
        return key.split(".")[-1] in class_dependent

    state = {k: v for k, v in _strip_module(state_dict).items() if not is_class_dependent(k) and k not in ignored}
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not is_class_dependent(k)]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise RuntimeError(
            f'Checkpoint "{source}" does not fit the {type(module).__name__} of this run: '
            f"missing keys {missing}, unexpected keys {unexpected}. Check that --trainer and the config "
            "(e.g. the number of context tokens, CSC) are those the checkpoint was trained with."
        )


def save_checkpoint(state: dict, save_dir: str, is_best: bool = False, model_name: str = "") -> str:
    """Write ``model.pth.tar-{epoch}`` (or ``model_name``) atomically and update the ``checkpoint`` file."""
    os.makedirs(save_dir, exist_ok=True)
    state = dict(state)
    state["state_dict"] = _strip_module(state["state_dict"])
    fpath = os.path.join(save_dir, model_name or f"model.pth.tar-{state['epoch']}")
    atomic_torch_save(state, fpath)
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


def resume_from_checkpoint(fdir: str, model, optimizer=None, scheduler=None, class_dependent=(), ignored=()) -> int:
    """Load the file named in ``fdir/checkpoint`` into model/optimizer/scheduler; return its epoch."""
    ckpt_file = os.path.join(fdir, "checkpoint")
    if not os.path.exists(ckpt_file):
        raise FileNotFoundError(
            f'Cannot resume: "{ckpt_file}" is missing (it names the checkpoint to resume from). '
            "Remove the folder to train from scratch."
        )
    with open(ckpt_file) as f:
        fpath = os.path.join(fdir, f.readline().strip())
    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    load_state_dict_checked(model, checkpoint["state_dict"], fpath, class_dependent, ignored)
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
