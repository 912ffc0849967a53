"""calspike: deep learning on calcium imaging, with a fast C++ core.

Read or simulate recordings, cut them into labelled windows at memory speed, stack
features for PyTorch models (every array arrives without a copy), train the LSTM
spike classifier and the VAEs, and run the tutorial end to end with `calspike.run`;
infer spike rates for every frame of every neuron (`infer_spike_rates`, `deconvolve`,
`infer` on files) and score them (`score_files`).

Every public name loads on first use, so `import calspike` costs almost nothing and
the PyTorch half loads only when a model is asked for.
"""

import sys  # the only import: see calspike.cli, start-up must be interruptible cleanly

TYPE_CHECKING = False
if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from types import ModuleType as _ModuleType
    from typing import Any

    from calspike._version import __version__
    from calspike.data import (
        DataError,
        DataWarning,
        EmptyNeuronWarning,
        Recording,
        default_recordings,
        fetch_spikefinder,
        load_recordings,
        read_array,
        read_ground_truth,
        read_nwb,
        read_spikefinder,
        write_nwb_spikes,
        write_spikefinder_csv,
    )
    from calspike.data.simulate import simulate
    from calspike.data.suite2p import read_suite2p
    from calspike.errors import CalspikeWarning, MissingExtra, NoGroundTruthWarning, UsageError
    from calspike.features import aligned_windows, features
    from calspike.models import CalciumVAE, SpikeClassifier, SpikeRateModel, ToyVAE
    from calspike.preprocess import (
        fill_gaps,
        noise_levels,
        rebin_counts,
        resample,
        robust_normalise,
    )
    from calspike.spikes.files import infer
    from calspike.spikes.oasis import Deconvolution, deconvolve
    from calspike.spikes.rate import (
        FrameRateWarning,
        NoiseWarning,
        infer_spike_rates,
        load_rate_model,
    )
    from calspike.spikes.rate_training import train_rate_model
    from calspike.spikes.score import score_files
    from calspike.training import fit, load_model
    from calspike.tutorial.pipeline import RunResult, run
    from calspike.windows import Windows, partition, window_view
    from calspike.windows.sampling import balance, balanced_indices, split_by_neuron
    from calspike.windows.store import cached_partition, load_windows, save_windows
else:
    _ModuleType = type(sys)  # types.ModuleType, without importing types

_LAZY = {
    **dict.fromkeys(
        ("CalspikeWarning", "MissingExtra", "NoGroundTruthWarning", "UsageError"), "calspike.errors"
    ),
    **dict.fromkeys(
        (
            "DataError",
            "DataWarning",
            "EmptyNeuronWarning",
            "Recording",
            "default_recordings",
            "fetch_spikefinder",
            "load_recordings",
            "read_array",
            "read_ground_truth",
            "read_nwb",
            "read_spikefinder",
            "simulate",
            "write_nwb_spikes",
            "write_spikefinder_csv",
        ),
        "calspike.data",
    ),
    "read_suite2p": "calspike.data.suite2p",
    **dict.fromkeys(("aligned_windows", "features"), "calspike.features"),
    **dict.fromkeys(
        ("SpikeClassifier", "CalciumVAE", "ToyVAE", "SpikeRateModel"), "calspike.models"
    ),
    **dict.fromkeys(
        ("fill_gaps", "noise_levels", "rebin_counts", "resample", "robust_normalise"),
        "calspike.preprocess",
    ),
    "infer": "calspike.spikes.files",
    **dict.fromkeys(("Deconvolution", "deconvolve"), "calspike.spikes.oasis"),
    **dict.fromkeys(
        ("FrameRateWarning", "NoiseWarning", "infer_spike_rates", "load_rate_model"),
        "calspike.spikes.rate",
    ),
    "train_rate_model": "calspike.spikes.rate_training",
    "score_files": "calspike.spikes.score",
    **dict.fromkeys(("fit", "load_model"), "calspike.training"),
    **dict.fromkeys(("RunResult", "run"), "calspike.tutorial.pipeline"),
    **dict.fromkeys(("Windows", "partition", "window_view"), "calspike.windows"),
    **dict.fromkeys(
        ("balance", "balanced_indices", "split_by_neuron"), "calspike.windows.sampling"
    ),
    **dict.fromkeys(("cached_partition", "load_windows", "save_windows"), "calspike.windows.store"),
    "__version__": "calspike._version",
}
_SUBMODULES = (
    "config",
    "dask",
    "data",
    "errors",
    "models",
    "preprocess",
    "spikes",
    "training",
    "tutorial",
    "windows",
)
_NAMED_LIKE_A_MODULE = ("features",)  # public functions of the submodules of the same name


class _PackageFace(_ModuleType):
    """The package object, which keeps `calspike.features` the function.

    Python binds a submodule onto its package when it is first imported, which would replace
    `calspike.features` (the function) by `calspike.features` (the module).
    """

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
    raise AttributeError(f"module 'calspike' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and submodules, not the package's own machinery (sys, _LAZY...)."""
    return sorted({*__all__, *_SUBMODULES})


def build_info() -> dict[str, object]:
    """Describe how the C++ core was built.

    Returns
    -------
    dict
        ``version``, ``openmp`` (bool), ``openmp_version``, ``max_threads``,
        ``compiler``, ``cplusplus`` (the C++ standard) and ``assertions`` (bool).

    Raises
    ------
    ImportError
        When the compiled extension (calspike._core) is missing or does not load.
    """
    return dict(_load_core().build_info())


__all__ = [
    "CalciumVAE",
    "CalspikeWarning",
    "DataError",
    "DataWarning",
    "Deconvolution",
    "EmptyNeuronWarning",
    "FrameRateWarning",
    "MissingExtra",
    "NoGroundTruthWarning",
    "NoiseWarning",
    "Recording",
    "RunResult",
    "SpikeClassifier",
    "SpikeRateModel",
    "ToyVAE",
    "UsageError",
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
    "fill_gaps",
    "fit",
    "infer",
    "infer_spike_rates",
    "load_model",
    "load_rate_model",
    "load_recordings",
    "load_windows",
    "noise_levels",
    "partition",
    "read_array",
    "read_ground_truth",
    "read_nwb",
    "read_spikefinder",
    "read_suite2p",
    "rebin_counts",
    "resample",
    "robust_normalise",
    "run",
    "save_windows",
    "score_files",
    "simulate",
    "split_by_neuron",
    "train_rate_model",
    "window_view",
    "write_nwb_spikes",
    "write_spikefinder_csv",
]
