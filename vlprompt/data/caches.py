"""Pickled sample lists kept in data folders (few-shot caches, ImageNet's ``preprocessed.pkl``).

Three concerns live here, for every such file:

- **Loading is data, not code.** A pickle can run arbitrary code when loaded, and data folders are
  often shared or downloaded. :func:`load_datum_pickle` therefore resolves only the sample classes
  (ours and Dassl's ``Datum``, both loaded as :class:`vlprompt.data.base.Datum`) and the two stdlib
  globals that plain pickles of such objects need; anything else is refused, naming the file and
  the global, before it is called.
- **Written so the original code can read them.** :func:`dump_datum_pickle` writes each ``Datum``
  under Dassl's global name ``dassl.data.datasets.base_dataset.Datum`` with the same instance
  attributes (``_impath``, ``_label``, ``_domain``, ``_classname``), so CoOp/Dassl loads our caches
  in a shared data folder; Dassl need not be importable here. Protocol 4 (Python >= 3.4) is used
  rather than the writer's highest protocol, so older interpreters of the original code read it.
- **Provenance.** Caches store a ``"source"`` entry (plain str/int values, ignored by the original
  code) describing what they were drawn from; :func:`samples_digest` is the shared fingerprint of a
  sample list.
"""
from __future__ import annotations

import copyreg
import hashlib
import io
import pickle
from typing import Iterable, Optional, Sequence

from vlprompt.utils.tools import atomic_write_bytes

from .base import Datum

DASSL_DATUM_MODULE = "dassl.data.datasets.base_dataset"
PICKLE_PROTOCOL = 4

# (module, name) -> object: everything a sample-list pickle may reference. Protocols 0/1 build
# instances through copyreg._reconstructor(cls, object, None) (written under the Python 2 names
# copy_reg / __builtin__ by Python 3 for protocols < 3); protocol >= 2 needs only the class.
_ALLOWED_GLOBALS = {
    ("vlprompt.data.base", "Datum"): Datum,
    (DASSL_DATUM_MODULE, "Datum"): Datum,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("builtins", "object"): object,
    ("__builtin__", "object"): object,
}


class UnsafePickleError(ValueError):
    """A pickle in a data folder references a global other than the sample classes."""


class _DatumUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f'Refusing to load "{self._path}": it references the global "{module}.{name}", which is not a '
                "sample class. Files in data folders (few-shot caches split_fewshot/*.pkl, preprocessed.pkl) "
                "only hold sample lists, so this one is damaged or was tampered with; delete it and it will be "
                "rebuilt from the dataset."
            ) from None


def load_datum_pickle(path: str) -> dict:
    """Load a sample-list pickle written by the original code (Dassl's Datum) or by vlprompt, allowing
    no global but the sample classes (see the module docstring). Raises :class:`UnsafePickleError`."""
    with open(path, "rb") as f:
        return _DatumUnpickler(f, path).load()


class _DasslDatumPickler(pickle._Pickler):
    """Writes :class:`Datum` under Dassl's global name.

    The C pickler checks that a class is importable under the name it writes, and Dassl usually is
    not installed here; the pure-Python pickler lets ``save_global`` emit the name directly. Datum
    instances themselves go through the default protocol-2 path (``NEWOBJ`` + ``BUILD`` of the
    instance ``__dict__``), exactly what pickling Dassl's own Datum produces.
    """

    def save_global(self, obj, name=None):
        if obj is not Datum:
            return super().save_global(obj, name)
        if self.proto >= 4:
            self.save(DASSL_DATUM_MODULE)
            self.save("Datum")
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{DASSL_DATUM_MODULE}\nDatum\n".encode())
        self.memoize(obj)


def dump_datum_pickle(obj) -> bytes:
    """Pickle ``obj`` (dicts/lists of :class:`Datum` and plain values) readable by the original code."""
    buf = io.BytesIO()
    _DasslDatumPickler(buf, protocol=PICKLE_PROTOCOL).dump(obj)
    return buf.getvalue()


def write_datum_pickle(path: str, obj) -> None:
    """:func:`dump_datum_pickle` written atomically (temporary file, then rename)."""
    atomic_write_bytes(path, dump_datum_pickle(obj))


def samples_digest(*lists: Optional[Sequence[Datum]]) -> str:
    """SHA-256 of ordered sample lists: (image path, label, class name) per sample, list by list
    (``None`` lists count as empty but distinct from a missing argument)."""
    h = hashlib.sha256()
    for i, items in enumerate(lists):
        h.update(f"#list {i} {'none' if items is None else len(items)}\n".encode())
        for item in items or ():
            h.update(f"{item.impath}\t{item.label}\t{item.classname}\n".encode())
    return h.hexdigest()


def lines_digest(lines: Iterable[str]) -> str:
    """SHA-256 of text lines (one per entry, in the given order)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()
