"""The one place where files written by ``torch.save`` / ``torch.jit.save`` are read from disk.

Nothing in a loaded file is executed:

- Pickles (our checkpoints, the original CoOp/Dassl checkpoints, CLIP state dicts) load with
  ``torch.load(weights_only=True)``. The original checkpoints' ``scheduler`` entry pickles scheduler
  and optimizer objects; the classes Dassl can write there are allowed through torch's allow-list,
  but mapped to inert stand-ins (:class:`InertObject`) that only hold the pickled data.
- Any other class or function a pickle refers to is refused before unpickling starts, with an error
  that names the file, the refused globals and the opt-in: ``VLPROMPT_TRUST_PICKLES=1`` allows full
  unpickling of such files in that process (with a warning naming each file).
- TorchScript archives (OpenAI's released CLIP weights) load with ``torch.jit.load``, whose
  unpickler only builds TorchScript values (no Python code runs).

A truncated or corrupt file (an interrupted download or copy, a killed save) raises
:class:`CorruptFileError` naming the file, its size and where it came from, instead of torch's raw
zip/pickle error.
"""
from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import pickletools
import tarfile
import warnings
import zipfile
from typing import Any, Iterable, List

import torch

TRUST_ENV = "VLPROMPT_TRUST_PICKLES"

CHECKPOINT_REMEDY = "Re-train, or restore the file from a backup."


class UnsafeFileError(pickle.UnpicklingError):
    """A file refers to code (classes/functions) outside the allow-list; it was not unpickled."""


class CorruptFileError(RuntimeError):
    """A file is truncated or corrupt (it does not read as a complete torch file)."""


class InertObject:
    """Data-only stand-in for an optimizer/scheduler object pickled in a reference checkpoint.

    ``state`` holds what was pickled (e.g. a CosineAnnealingLR's ``T_max``, ``last_epoch`` and its
    optimizer's stand-in). No method of the real class runs; only ``state_dict`` and ``epoch`` of such
    checkpoints are used. ``__slots__`` keeps pickled data from shadowing ``__setstate__``.
    """

    __slots__ = ("state",)
    pickled_name = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert stand-in for {self.pickled_name}>"


def _plain_dict(*_args) -> dict:
    # Stands in for collections.defaultdict (an optimizer's ``state``): torch's weights_only unpickler
    # fills only plain dicts, and the default factory is never needed.
    return {}


# What Dassl's build_optimizer / build_lr_scheduler can pickle into a checkpoint's ``scheduler`` entry
# (the warm-up scheduler, its successor, the successor's optimizer).
_REFERENCE_CLASSES = (
    "dassl.optim.lr_scheduler.ConstantWarmupScheduler",
    "dassl.optim.lr_scheduler.LinearWarmupScheduler",
    "torch.optim.lr_scheduler.CosineAnnealingLR",
    "torch.optim.lr_scheduler.MultiStepLR",
    "torch.optim.lr_scheduler.StepLR",
    "torch.optim.sgd.SGD",
    "torch.optim.adam.Adam",
    "torch.optim.adamw.AdamW",
    "torch.optim.rmsprop.RMSprop",
    "dassl.optim.radam.RAdam",
)


def _stand_in(full_name: str) -> type:
    module, _, name = full_name.rpartition(".")
    return type(name, (InertObject,), {"__slots__": (), "__module__": module, "pickled_name": full_name})


STAND_INS = {name: _stand_in(name) for name in _REFERENCE_CLASSES}
# (object, "module.name") pairs for torch.serialization.safe_globals: only these names are added.
SAFE_GLOBALS = [(cls, name) for name, cls in STAND_INS.items()] + [
    (_plain_dict, "collections.defaultdict"),
    (dict, "builtins.dict"),
]


def trust_pickles() -> bool:
    """Whether ``VLPROMPT_TRUST_PICKLES`` opts this process into full unpickling of refused files."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def _allowed_global_names() -> set:
    # torch's own default allow-list (what torch.serialization.get_unsafe_globals_in_checkpoint compares
    # with) plus ours; torch.load enforces the same list again while unpickling.
    from torch import _weights_only_unpickler as wo

    return set(wo._get_allowed_globals()) | set(wo._get_user_allowed_globals()) | {n for _, n in SAFE_GLOBALS}


def _globals_in_pickle(stream) -> List[str]:
    """Classes/functions a pickle refers to, read by disassembly (nothing is unpickled).

    Raises ValueError when the pickle ends before its STOP opcode (truncated)."""
    found, recent_strings = [], []
    for op, arg, _ in pickletools.genops(stream):
        if op.name in ("GLOBAL", "INST"):
            module, name = arg.split(" ", 1)
            if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol 2 writes Python 2 names
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            found.append(f"{module}.{name}")
        elif op.name == "STACK_GLOBAL":
            found.append(".".join(recent_strings[-2:]) if len(recent_strings) >= 2 else "<STACK_GLOBAL>")
        if isinstance(arg, str) and op.name not in ("GLOBAL", "INST"):
            recent_strings.append(arg)
        elif op.name not in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
            recent_strings = []
    return found


def _is_torchscript(names: Iterable[str]) -> bool:
    return any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names)


def _scan(path: str) -> tuple:
    """("zip" | "torchscript" | "legacy" | "tar", globals referred to); ValueError if truncated/corrupt."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":  # torch.save's default format and TorchScript archives are zip archives
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                if _is_torchscript(names):
                    return "torchscript", []
                pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
                if not pkl:
                    raise ValueError("a zip archive without data.pkl, not written by torch.save")
                data = zf.read(pkl[0])  # checks the CRC
            return "zip", _globals_in_pickle(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise ValueError(f"incomplete or damaged zip archive: {e}") from None
    if not head:
        raise ValueError("the file is empty")
    with open(path, "rb") as f:
        try:
            # The legacy format (torch < 1.6, or _use_new_zipfile_serialization=False): pickles of the
            # magic number, the protocol version and system info, then the object, then the tensor data.
            magic = [arg for op, arg, _ in pickletools.genops(f) if op.name in ("LONG1", "LONG4")]
            if magic != [torch.serialization.MAGIC_NUMBER]:
                raise ValueError("header mismatch")
            for _ in range(2):  # protocol version, system info
                list(pickletools.genops(f))
            return "legacy", _globals_in_pickle(f)
        except Exception as e:  # pickletools raises ValueError mostly, but also e.g. struct/Unicode errors
            if tarfile.is_tarfile(path):  # the pre-0.4 tar format: left to torch's own checks
                return "tar", []
            if head != b"\x80\x02\x8a\n":  # how the legacy header (the magic number's pickle) starts
                raise ValueError(f"not a torch.save file: it starts with {head!r}") from None
            raise ValueError(f"the pickle stops early: {e}") from None


def _describe(path: str, what: str, origin: str, start: bool = False) -> str:
    size = os.path.getsize(path)
    what = what[:1].upper() + what[1:] if start else what
    return f'{what} "{path}" ({size} bytes' + (f"; from {origin})" if origin else ")")


def _corrupt(path: str, what: str, origin: str, remedy: str, reason: str) -> CorruptFileError:
    return CorruptFileError(
        f"{_describe(path, what, origin, start=True)} looks truncated or corrupt ({reason}). "
        f"{remedy or CHECKPOINT_REMEDY}"
    )


class _TrustingUnpickler(pickle.Unpickler):
    """Full unpickling (the opt-in), still mapping the reference classes to their stand-ins."""

    def find_class(self, module, name):
        stand_in = STAND_INS.get(f"{module}.{name}")
        return stand_in if stand_in is not None else super().find_class(module, name)


class _TrustingPickleModule:
    Unpickler = _TrustingUnpickler
    load = staticmethod(lambda f, **kw: _TrustingUnpickler(f, **kw).load())


def safe_load(path, *, what: str = "checkpoint", origin: str = "", remedy: str = "",
              allow_torchscript: bool = False) -> Any:
    """Load a torch file onto the CPU without executing anything from it.

    ``what`` ("checkpoint", "CLIP weights"), ``origin`` (the config key or flag the path came from)
    and ``remedy`` (how to get an intact file) make up the messages of :class:`CorruptFileError`.
    With ``allow_torchscript`` a TorchScript archive is returned as the loaded ScriptModule (else it is
    refused as not being a ``torch.save`` file). Refused globals raise :class:`UnsafeFileError`
    unless ``VLPROMPT_TRUST_PICKLES=1``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what[:1].upper() + what[1:]} "{path}" does not exist'
                                + (f" (from {origin})" if origin else ""))
    if path.endswith(".safetensors"):  # tensors only, no pickle (torch.load reads these by name too)
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except Exception as e:
            raise _corrupt(path, what, origin, remedy, f"{type(e).__name__}: {e}") from None
    try:
        kind, refers_to = _scan(path)
    except ValueError as e:
        raise _corrupt(path, what, origin, remedy, str(e)) from None
    if kind == "torchscript":
        if not allow_torchscript:
            raise ValueError(f"{_describe(path, what, origin, start=True)} is a TorchScript archive, "
                             "not a file written by torch.save")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice
                return torch.jit.load(path, map_location="cpu")
        except RuntimeError as e:
            raise _corrupt(path, what, origin, remedy, f"torch.jit.load: {str(e).splitlines()[0]}") from None

    allowed = _allowed_global_names()
    refused = sorted({g for g in refers_to if g not in allowed})
    if refused:
        return _refuse_or_trust(path, what, origin, ", ".join(refused),
                                f"unpickling it would call {', '.join(refused)}, which is not on the allow-list "
                                "(tensors, containers, and the optimizer/scheduler classes of original CoOp/Dassl "
                                "checkpoints, loaded as inert data)")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError):
        raise
    except pickle.UnpicklingError as e:
        # Complete pickle, allowed globals, yet refused by torch (e.g. an opcode it does not support).
        if "Weights only load failed" in str(e):
            detail = str(e).strip().splitlines()[-1][:300]
            return _refuse_or_trust(path, what, origin, "content torch's weights-only unpickler rejects",
                                    f"torch's weights-only unpickler rejects its content ({detail})")
        raise _corrupt(path, what, origin, remedy, f"{type(e).__name__}: {e}") from None
    except Exception as e:  # e.g. tensor data cut off after a complete pickle
        raise _corrupt(path, what, origin, remedy, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") \
            from None


def _refuse_or_trust(path: str, what: str, origin: str, refused: str, reason: str) -> Any:
    if not trust_pickles():
        raise UnsafeFileError(
            f"Refusing to load {_describe(path, what, origin)}: {reason}; a crafted file runs code this way. "
            f"If you trust this file (e.g. an old checkpoint of your own), set the environment variable "
            f"{TRUST_ENV}=1 to allow full unpickling in this process."
        )
    warnings.warn(f'{TRUST_ENV}=1: fully unpickling "{path}" (it refers to {refused}); this runs code from the file',
                  stacklevel=3)
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_TrustingPickleModule)
