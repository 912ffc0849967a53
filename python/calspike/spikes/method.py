"""What a spike-inference method is to `calspike infer`: a chunk of a recording in, spikes out.

`SpikeMethod` is the protocol the rate model (`rate_method.RateModelMethod`) and OASIS
(`oasis_method.OasisMethod`) follow; a new method (an ensemble, a user's own model) is a new
class in `calspike.spikes.registry`, and the runner, the sidecar and Dask need nothing else.
`MethodSettings` holds what `infer` passes to any method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from calspike.data.recording import Recording


@dataclass(frozen=True)
class MethodSettings:
    """The settings `calspike infer` builds a method from; each method reads those it needs.

    Attributes
    ----------
    model : pathlib.Path or None
        A checkpoint (the rate model); None for the shipped default.
    device : str
        "auto", "cpu", "cuda" or "cuda:i" (the rate model).
    p : int
        AR order (OASIS).
    threads : int
        C++ threads; 0 uses OpenMP's default.
    chunk_neurons : int
        Most neurons processed together.
    progress : bool
        Show a progress bar.
    torch_threads : int or None
        PyTorch's intra-op threads to compute with (None: the process's own). A Dask worker
        computes with the thread count of the process that sent the work: a sum split over
        other threads rounds differently.
    """

    model: Path | None = None
    device: str = "auto"
    p: int = 1
    threads: int = 0
    chunk_neurons: int = 256
    progress: bool = False
    torch_threads: int | None = None


class SpikeMethod(Protocol):
    """A spike-inference method as `calspike infer` applies it, chunk by chunk.

    Implementations load what they need (a checkpoint) on first use, not when built, and
    warn through calspike's warnings; the runner silences their EmptyNeuronWarning and warns
    itself, numbering neurons by input row.
    """

    name: ClassVar[str]  # the --method choice, and the sidecar's "method"
    settings: MethodSettings

    @classmethod
    def from_settings(cls, settings: MethodSettings) -> SpikeMethod:
        """The method, built from `infer`'s settings (loading nothing yet)."""
        ...

    @classmethod
    def on_worker(cls, payload: bytes, settings: MethodSettings) -> SpikeMethod:
        """The method rebuilt on a Dask worker from `payload` (`payload()`) and its settings."""
        ...

    def recorded_settings(self) -> dict[str, Any]:
        """The method's settings (and model) as the sidecar records them: JSON values."""
        ...

    def working_rate(self, rate: float) -> float:
        """The rate (Hz) the method works at on traces at `rate` Hz; chunks are sized by it."""
        ...

    def payload(self) -> bytes:
        """What a Dask worker needs besides the settings (a checkpoint's bytes); b"" for none."""
        ...

    def worker_settings(self) -> MethodSettings:
        """The settings a Dask worker computes with, so that its result equals this process's."""
        ...

    def __call__(self, recording: Recording) -> tuple[np.ndarray, dict[str, Any]]:
        """Spikes (neurons, frames) float32 of a recording, and the sidecar's per-neuron details.

        The details map a name to one JSON value per neuron (`json_values`).
        """
        ...


def threads_used(threads: int) -> dict[str, int]:
    """The sidecar's ``threads_used``: `threads`, or OpenMP's default capped (OMP_NUM_THREADS)."""
    from calspike import _core

    return {"threads_used": threads or int(_core.build_info()["max_threads"])}


def json_values(array: np.ndarray) -> list[Any]:
    """JSON-ready values of a per-neuron array: NaN (and rows holding NaN) become null."""
    out = []
    for value in np.asarray(array):
        if np.ndim(value) == 0:
            out.append(float(value) if math.isfinite(float(value)) else None)
        else:
            out.append(np.asarray(value).tolist() if np.all(np.isfinite(value)) else None)
    return out
