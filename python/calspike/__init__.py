"""calspike: deep learning on calcium imaging, with a fast C++ core.

Read or simulate recordings, cut them into labelled windows at memory speed, and
stack features for PyTorch models; every array arrives without a copy.
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
from calspike.features import features
from calspike.windows import (
    Windows,
    balance,
    balanced_indices,
    cached_partition,
    partition,
    window_view,
)

try:
    __version__ = _metadata.version("calspike")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = _core.build_info()["version"]


def build_info() -> dict[str, object]:
    """How the C++ core was built: version, openmp (bool), openmp_version, max_threads, compiler."""
    return dict(_core.build_info())


__all__ = [
    "DataError",
    "Deconvolution",
    "Recording",
    "Windows",
    "__version__",
    "balance",
    "balanced_indices",
    "build_info",
    "cached_partition",
    "deconvolve",
    "default_recordings",
    "features",
    "fetch_spikefinder",
    "load_recordings",
    "partition",
    "read_array",
    "read_spikefinder",
    "simulate",
    "window_view",
    "write_spikefinder_csv",
]
