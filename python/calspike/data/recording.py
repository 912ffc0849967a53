"""The Recording: one session's calcium traces, optional spike counts, frame rate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from calspike import _core


class DataError(ValueError):
    """Malformed data: the message names the file (or array), the row and the column at fault."""


@dataclass(frozen=True, eq=False, repr=False)
class Recording:
    """Calcium traces of one recording session, validated and read-only.

    Attributes
    ----------
    calcium : float32 ndarray, shape (neurons, frames)
        Fluorescence (dF/F or as given), C-contiguous: each neuron's trace is contiguous.
        Frames from ``lengths[n]`` on are padding (NaN in files) and are ignored.
    rate : float
        Frame rate in Hz.
    spikes : float32 ndarray, shape (neurons, frames), or None
        Spike counts per frame (ground truth), finite and >= 0 inside each valid length.
    lengths : int64 ndarray, shape (neurons,)
        Valid frames of each neuron. When not given: the frames before each trace's NaN tail.
    name : str
        A label for tables and plots.
    gaps : bool
        When True, NaN calcium inside a valid length is accepted as a dropped frame
        (spike inference fills and masks it; windowing refuses such traces).

    The arrays are converted to float32 C order at most once. When the given array
    already is, the Recording shares its memory (through a read-only view): do not
    modify it afterwards.
    """

    calcium: np.ndarray
    rate: float
    spikes: np.ndarray | None = None
    lengths: np.ndarray | None = field(default=None)
    name: str = "recording"
    gaps: bool = False

    def __post_init__(self) -> None:
        calcium = _as_trace_matrix(self.calcium, "calcium", self.name)
        neurons, frames = calcium.shape
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise ValueError(f"rate must be a number of frames per second (Hz), got {rate!r}")
        rate = float(rate)
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a finite frame rate > 0 Hz, got {rate!r}")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")

        if self.lengths is None:
            lengths = np.asarray(_core.valid_lengths(calcium), dtype=np.int64)
        else:
            lengths = np.array(self.lengths, dtype=np.int64, copy=True).reshape(-1)
            if lengths.shape != (neurons,):
                raise ValueError(f"lengths must have shape ({neurons},), got {np.shape(self.lengths)}")
            if lengths.min(initial=0) < 0 or lengths.max(initial=0) > frames:
                raise ValueError(f"lengths must lie in [0, {frames}] frames")
        _check_finite(calcium, lengths, f"{self.name}: calcium", nonnegative=False, allow_nan=bool(self.gaps))

        spikes = None
        if self.spikes is not None:
            spikes = _as_trace_matrix(self.spikes, "spikes", self.name)
            if spikes.shape != calcium.shape:
                raise ValueError(
                    f"{self.name}: spikes must have the shape of calcium {calcium.shape}, got {spikes.shape}"
                )
            _check_finite(spikes, lengths, f"{self.name}: spikes", nonnegative=True)

        for array in (calcium, lengths, spikes):
            if array is not None:
                array.flags.writeable = False
        object.__setattr__(self, "calcium", calcium)
        object.__setattr__(self, "spikes", spikes)
        object.__setattr__(self, "lengths", lengths)
        object.__setattr__(self, "rate", rate)

    @property
    def neurons(self) -> int:
        """Number of neurons (rows)."""
        return int(self.calcium.shape[0])

    @property
    def frames(self) -> int:
        """Number of frames (columns), padding included."""
        return int(self.calcium.shape[1])

    @property
    def valid_frames(self) -> int:
        """Valid frames summed over neurons."""
        return int(self.lengths.sum())  # type: ignore[union-attr]

    @property
    def duration_s(self) -> float:
        """Longest valid trace in seconds."""
        return float(self.lengths.max(initial=0)) / self.rate  # type: ignore[union-attr]

    def trace(self, neuron: int) -> np.ndarray:
        """Valid calcium of one neuron, shape (lengths[neuron],), float32, read-only view."""
        return self.calcium[neuron, : self.lengths[neuron]]  # type: ignore[index]

    def __repr__(self) -> str:
        spikes = "with spikes" if self.spikes is not None else "no spikes"
        return (
            f"Recording(name={self.name!r}, neurons={self.neurons}, frames={self.frames}, "
            f"rate={self.rate:g} Hz, {spikes})"
        )


def _as_trace_matrix(values: object, what: str, name: str) -> np.ndarray:
    """A read-only-able float32 C-ordered (neurons, frames) view or copy of `values`."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name}: {what} must be 2-D (neurons, frames), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: {what} must hold at least one neuron and one frame, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            or array.dtype == np.bool_):
        raise ValueError(f"{name}: {what} must be numeric, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32).view()


def _check_finite(matrix: np.ndarray, lengths: np.ndarray, what: str, nonnegative: bool,
                  allow_nan: bool = False) -> None:
    """DataError naming the first neuron and frame that is not finite (or negative) inside its length."""
    frames = matrix.shape[1]
    columns = np.arange(frames)
    rows_per_block = max(1, (1 << 22) // frames)  # bounds the temporary masks to ~4 MB
    for start in range(0, matrix.shape[0], rows_per_block):
        block = matrix[start : start + rows_per_block]
        bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
        if nonnegative:
            bad |= block < 0
        bad &= columns < lengths[start : start + rows_per_block, None]
        if bad.any():
            row, frame = (int(v) for v in np.argwhere(bad)[0])
            neuron = start + row
            kind = "negative" if np.isfinite(block[row, frame]) else "NaN or infinite"
            raise DataError(
                f"{what} is {kind} at neuron {neuron}, frame {frame} "
                f"(inside its valid length {lengths[neuron]})"
            )
