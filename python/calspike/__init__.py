"""calspike: deep learning on calcium imaging, with a fast C++ core.

Read or simulate recordings, cut them into labelled windows at memory speed, stack
features for PyTorch models (every array arrives without a copy), train the LSTM
spike classifier and the VAEs, and run the tutorial end to end with `calspike.run`.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    from calspike import _core
except ImportError as _error:  # pragma: no cover - only in broken installs
    raise ImportError(
        "calspike's compiled extension (calspike._core) is missing or does not load: "
        f"{_error}. Reinstall the package (pip install --force-reinstall calspike)."
    ) from _error

from calspike.data import (
    DataError,
    Recording,
    default_recordings,
    fetch_spikefinder,
    load_recordings,
    read_array,
    read_spikefinder,
    simulate,
    write_spikefinder_csv,
)
from calspike.deconvolve import Deconvolution, deconvolve
from calspike.features import aligned_windows, features
from calspike.report import RunResult, run
from calspike.windows import (
    Windows,
    balance,
    balanced_indices,
    cached_partition,
    load_windows,
    partition,
    save_windows,
    window_view,
)

# The PyTorch half loads on first use, so `import calspike` stays fast for data work.
_LAZY = {
    "SpikeClassifier": "calspike.models",
    "CalciumVAE": "calspike.models",
    "ToyVAE": "calspike.models",
    "fit": "calspike.train",
    "load_model": "calspike.train",
    "split_by_neuron": "calspike.train",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("models", "train", "tasks", "analysis", "plots"):
        import importlib

        return importlib.import_module(f"calspike.{name}")
    raise AttributeError(f"module 'calspike' has no attribute {name!r}")

try:
    __version__ = _metadata.version("calspike")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = _core.build_info()["version"]


def build_info() -> dict[str, object]:
    """How the C++ core was built: version, openmp (bool), openmp_version, max_threads, compiler."""
    return dict(_core.build_info())


__all__ = [
    "CalciumVAE",
    "DataError",
    "Deconvolution",
    "Recording",
    "RunResult",
    "SpikeClassifier",
    "ToyVAE",
    "Windows",
    "__version__",
    "aligned_windows",
    "balance",
    "balanced_indices",
    "build_info",
    "cached_partition",
    "deconvolve",
    "default_recordings",
    "features",
    "fetch_spikefinder",
    "fit",
    "load_model",
    "load_recordings",
    "load_windows",
    "partition",
    "read_array",
    "read_spikefinder",
    "run",
    "save_windows",
    "simulate",
    "split_by_neuron",
    "window_view",
    "write_spikefinder_csv",
]
