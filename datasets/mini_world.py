"""Readers of the built-in MiniCLIP world's benchmarks: MiniShapes, MiniShapesTinted, MiniShades, MiniLights.

Each is a folder-per-class tree ``<root>/<dataset_dir>/images/<NN_colour_shape>/`` with the split file
``split_zhou_<Name>.json``, generated on first use into DATASET.ROOT (vlprompt/mini/benchmarks.py,
docs/miniclip.md). One reader class per benchmark, made from its definition, so a new benchmark needs only
its entry in ``vlprompt.mini.benchmarks.BENCHMARKS``.
"""
from vlprompt.data import DATASET_REGISTRY
from vlprompt.mini.benchmarks import BENCHMARKS, MiniDataset

__all__ = []
for _bench in BENCHMARKS.values():
    _reader = type(_bench.name, (MiniDataset,), {
        "__doc__": f"{_bench.name}: {_bench.description}",
        "__module__": __name__,
        "benchmark": _bench,
        "dataset_dir": _bench.dataset_dir,
        "split_file": f"split_zhou_{_bench.name}.json",
    })
    globals()[_bench.name] = DATASET_REGISTRY.register()(_reader)
    __all__.append(_bench.name)
