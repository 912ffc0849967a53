"""OASIS as a method of `calspike infer` (`method.SpikeMethod`): dropped frames filled first."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from calspike.data.recording import Recording
from calspike.preprocess import fill_gaps, noise_levels
from calspike.spikes.method import MethodSettings, json_values, threads_used
from calspike.spikes.oasis import deconvolve


class OasisMethod:
    """Spike amplitude per frame from OASIS (`deconvolve`) of AR order `settings.p`.

    Parameters
    ----------
    settings : MethodSettings
        Its `p` and `threads`.
    """

    name: ClassVar[str] = "oasis"

    def __init__(self, settings: MethodSettings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: MethodSettings) -> OasisMethod:
        """The method for `infer`'s settings."""
        return cls(settings)

    @classmethod
    def on_worker(cls, payload: bytes, settings: MethodSettings) -> OasisMethod:
        """The method on a Dask worker (it needs no payload)."""
        return cls(settings)

    def recorded_settings(self) -> dict[str, Any]:
        """The AR order and the threads used."""
        return {"p": self.settings.p, **threads_used(self.settings.threads)}

    def working_rate(self, rate: float) -> float:
        """OASIS works at the traces' own rate (Hz)."""
        return rate

    def payload(self) -> bytes:
        """Nothing: a worker rebuilds OASIS from its settings."""
        return b""

    def worker_settings(self) -> MethodSettings:
        """The settings as they are (OASIS's C++ result does not depend on the process)."""
        return self.settings

    def __call__(self, recording: Recording) -> tuple[np.ndarray, dict[str, Any]]:
        """Spikes, NaN on dropped frames and for neurons without a finite frame.

        Details: per-neuron noise level (the traces' units / sqrt(Hz)), AR coefficients g,
        noise sn, baseline and the sparsity penalty lambda.
        """
        lengths = np.asarray(recording.lengths).copy()
        empty = np.array(
            [not np.isfinite(recording.calcium[r, : int(n)]).any() for r, n in enumerate(lengths)]
        )
        lengths[empty] = 0  # no finite frame: nothing to deconvolve, NaN out
        filled, dropped = fill_gaps(recording.calcium, lengths)
        result = deconvolve(
            Recording(filled, recording.rate, lengths=lengths, name=recording.name),
            p=self.settings.p,
            threads=self.settings.threads,
        )
        spikes = np.array(result.spikes, copy=True)
        spikes[dropped] = np.nan
        return spikes, {
            "noise_level": json_values(
                noise_levels(recording.calcium, recording.rate, recording.lengths)
            ),
            "g": json_values(result.g),
            "sn": json_values(result.sn),
            "baseline": json_values(result.baseline),
            "lambda": json_values(result.lam),
        }
