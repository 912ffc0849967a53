"""calspike: deep learning on calcium imaging, with a fast C++ core.

Read or simulate recordings, cut them into labelled windows at memory speed, stack
features for PyTorch models (every array arrives without a copy), train the LSTM
spike classifier and the VAEs, and run the tutorial end to end with `calspike.run`.

Every public name loads on first use, so `import calspike` costs almost nothing and
the PyTorch half loads only when a model is asked for.
"""

import sys  # the only import: see calspike.cli, start-up must be interruptible cleanly

TYPE_CHECKING = False
if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from types import ModuleType as _ModuleType
    from typing import Any

    from calspike.data import (
        DataError,
        Recording,
        default_recordings,
        fetch_spikefinder,
        load_recordings,
        read_array,
        read_spikefinder,
        write_spikefinder_csv,
    )
    from calspike.data.simulate import simulate
    from calspike.deconvolve import Deconvolution, deconvolve
    from calspike.features import aligned_windows, features
    from calspike.models import CalciumVAE, SpikeClassifier, ToyVAE
    from calspike.report import RunResult, run
    from calspike.train import fit, load_model, split_by_neuron
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
else:
    _ModuleType = type(sys)  # types.ModuleType, without importing types

_LAZY = {
    **dict.fromkeys(("DataError", "Recording", "default_recordings", "fetch_spikefinder", "load_recordings",
                     "read_array", "read_spikefinder", "simulate", "write_spikefinder_csv"), "calspike.data"),
    **dict.fromkeys(("Deconvolution", "deconvolve"), "calspike.deconvolve"),
    **dict.fromkeys(("aligned_windows", "features"), "calspike.features"),
    **dict.fromkeys(("SpikeClassifier", "CalciumVAE", "ToyVAE"), "calspike.models"),
    **dict.fromkeys(("RunResult", "run"), "calspike.report"),
    **dict.fromkeys(("fit", "load_model", "split_by_neuron"), "calspike.train"),
    **dict.fromkeys(("Windows", "balance", "balanced_indices", "cached_partition", "load_windows", "partition",
                     "save_windows", "window_view"), "calspike.windows"),
}
_SUBMODULES = ("models", "train", "tasks", "analysis", "plots")
_NAMED_LIKE_A_MODULE = ("features", "deconvolve")  # public functions of the submodules of the same name


class _PackageFace(_ModuleType):
    """The package object. Python binds a submodule onto its package when it is first imported,
    which would replace `calspike.features` (the function) by `calspike.features` (the module);
    this keeps the function."""

    def __setattr__(self, name: str, value: "Any") -> None:
        if name in _NAMED_LIKE_A_MODULE and isinstance(value, _ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PackageFace


def _load_core() -> "Any":
    import importlib

    try:
        return importlib.import_module("calspike._core")
    except ImportError as error:  # pragma: no cover - only in broken installs
        raise ImportError(
            "calspike's compiled extension (calspike._core) is missing or does not load: "
            f"{error}. Reinstall the package (pip install --force-reinstall calspike)."
        ) from error


def __getattr__(name: str) -> "Any":
    import importlib

    if name in _LAZY:
        _load_core()
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"calspike.{name}")
    if name == "__version__":
        from importlib import metadata

        try:
            version = metadata.version("calspike")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            version = str(_load_core().build_info()["version"])
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module 'calspike' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def build_info() -> dict[str, object]:
    """How the C++ core was built: version, openmp (bool), openmp_version, max_threads, compiler."""
    return dict(_load_core().build_info())


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
