"""The Recording: one session's calcium traces, optional spike counts, frame rate."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calspike import _core
from calspike.config import check_rate

# raised here, and imported from here too (their home before calspike.errors)
from calspike.errors import DataError as DataError  # noqa: PLC0414 - re-exported
from calspike.errors import DataWarning as DataWarning  # noqa: PLC0414 - re-exported
from calspike.errors import EmptyNeuronWarning as EmptyNeuronWarning  # noqa: PLC0414 - re-exported


def warn_empty_neurons(
    empty: np.ndarray,
    what: str,
    offset: int = 0,
    stacklevel: int = 3,
    consequence: str = "their outputs are NaN",
) -> None:
    """EmptyNeuronWarning naming the neurons where bool `empty` (neurons,) is True.

    The neurons are numbered from `offset`; `consequence` says what their lack of frames means.
    """
    empty = np.flatnonzero(np.asarray(empty, dtype=bool)) + offset
    if empty.size:
        shown = ", ".join(str(int(n)) for n in empty[:10]) + (" ..." if empty.size > 10 else "")
        warnings.warn(
            f"{what}: {empty.size} neuron(s) ({shown}) hold no finite frame; {consequence}",
            EmptyNeuronWarning,
            stacklevel=stacklevel,
        )


@dataclass(frozen=True, eq=False, repr=False)
class Recording:
    """Calcium traces of one recording session, validated and read-only.

    Every parameter is kept as the attribute of the same name, converted as described.

    Parameters
    ----------
    calcium : array_like, shape (neurons, frames)
        Fluorescence (dF/F or as given), stored as float32 in C order: each neuron's trace
        is contiguous. Frames from ``lengths[n]`` on are padding (NaN in files) and are ignored.
    rate : float
        Frame rate in Hz.
    spikes : array_like, shape (neurons, frames), optional
        Spike counts per frame (ground truth), finite and >= 0 inside each valid length;
        stored as float32.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each neuron, stored as int64. When not given: the frames before
        each trace's NaN tail.
    name : str
        A label for tables and plots.
    gaps : bool
        When True, NaN calcium inside a valid length is accepted as a dropped frame
        (spike inference fills and masks it; windowing refuses such traces).
    neuron_names : sequence of str, optional
        One name per row, stored as a tuple; None names the rows by number.
    metadata : mapping
        What the source says about the recording (e.g. dataset, indicator, species for
        CASCADE ground truth); a copy of the mapping given is kept.

    Raises
    ------
    ValueError
        For arrays that are not 2-D, are empty or differ in shape, a bad `rate`, `lengths`,
        `name`, `neuron_names` or `metadata`.
    DataError
        For non-numeric arrays, values beyond float32's range, and non-finite calcium or
        negative or non-finite spikes inside a valid length (naming the neuron and frame).

    Notes
    -----
    The arrays are converted to float32 C order at most once. When the given array
    already is, the Recording shares its memory (through a read-only view): do not
    modify it afterwards.

    Examples
    --------
    >>> import numpy as np
    >>> import calspike
    >>> recording = calspike.Recording(np.zeros((2, 100)), rate=30.0, name="demo")
    >>> recording
    Recording(name='demo', neurons=2, frames=100, rate=30 Hz, no spikes)
    >>> recording.trace(0).shape, recording.valid_frames
    ((100,), 200)
    """

    calcium: np.ndarray
    rate: float
    spikes: np.ndarray | None = None
    # Always an array once constructed; None, the default, asks for each row's length to be found
    # from its calcium (its last finite frame), which only dataclass's generated __init__ sees.
    lengths: np.ndarray = None  # type: ignore[assignment]
    name: str = "recording"
    gaps: bool = False
    neuron_names: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        calcium = _as_trace_matrix(self.calcium, "calcium", self.name)
        neurons, frames = calcium.shape
        rate = check_rate(self.rate, "rate")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")
        if self.neuron_names is not None:
            names = tuple(self.neuron_names)
            if len(names) != neurons or not all(isinstance(n, str) for n in names):
                raise ValueError(
                    f"{self.name}: neuron_names must be {neurons} strings, got {len(names)}"
                )
            object.__setattr__(self, "neuron_names", names)
        if not isinstance(self.metadata, Mapping):
            raise ValueError(
                f"{self.name}: metadata must be a mapping, got {type(self.metadata).__name__}"
            )
        object.__setattr__(
            self, "metadata", dict(self.metadata)
        )  # a copy: the caller's dict may change

        if self.lengths is None:
            lengths = np.asarray(_core.valid_lengths(calcium), dtype=np.int64)
        else:
            lengths = check_lengths(self.lengths, neurons, frames).copy()
        _check_finite(
            calcium, lengths, f"{self.name}: calcium", nonnegative=False, allow_nan=bool(self.gaps)
        )

        spikes = None
        if self.spikes is not None:
            spikes = _as_trace_matrix(self.spikes, "spikes", self.name)
            if spikes.shape != calcium.shape:
                raise ValueError(
                    f"{self.name}: spikes must have the shape of calcium {calcium.shape}, "
                    f"got {spikes.shape}"
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
        return int(self.lengths.sum())

    @property
    def duration_s(self) -> float:
        """Longest valid trace in seconds."""
        return float(self.lengths.max(initial=0)) / self.rate

    def neuron_name(self, neuron: int) -> str:
        """Name of one row.

        Parameters
        ----------
        neuron : int
            Row index.

        Returns
        -------
        str
            ``neuron_names[neuron]`` when the recording has neuron names, else
            ``"{name}/{neuron}"``.
        """
        return (
            self.neuron_names[neuron] if self.neuron_names is not None else f"{self.name}/{neuron}"
        )

    def trace(self, neuron: int) -> np.ndarray:
        """Valid calcium of one neuron.

        Parameters
        ----------
        neuron : int
            Row index.

        Returns
        -------
        ndarray, shape (lengths[neuron],), float32
            A read-only view of the neuron's valid frames (no padding).
        """
        return self.calcium[neuron, : self.lengths[neuron]]

    def __repr__(self) -> str:
        spikes = "with spikes" if self.spikes is not None else "no spikes"
        return (
            f"Recording(name={self.name!r}, neurons={self.neurons}, frames={self.frames}, "
            f"rate={self.rate:g} Hz, {spikes})"
        )


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_numeric_dtype(dtype: np.dtype[Any] | type, what: str) -> None:
    """DataError unless `dtype` is real numbers (float, int or bool).

    Complex, strings, objects, dates and records are refused rather than cast.
    """
    kind = np.dtype(dtype)
    if not (
        np.issubdtype(kind, np.floating) or np.issubdtype(kind, np.integer) or kind == np.bool_
    ):
        raise DataError(f"{what} must be numeric (real numbers), got dtype {kind}")


def check_float32_range(values: np.ndarray, what: str) -> None:
    """DataError naming the first (row, column) whose finite value float32 cannot hold.

    Those are values with |x| > 3.4e38. calspike computes in float32; such values would
    silently become infinite, then NaN.
    """
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.floating) or array.dtype.itemsize <= 4:
        return  # float32 and smaller, and every integer type (|int64| < 1e19), fit
    # Two reductions that skip NaN and allocate nothing; the search below runs only on failure.
    highest = float(np.fmax.reduce(array, axis=None, initial=-np.inf))
    lowest = float(np.fmin.reduce(array, axis=None, initial=np.inf))
    if highest <= FLOAT32_MAX and lowest >= -FLOAT32_MAX:
        return
    with np.errstate(invalid="ignore"):
        too_large = np.abs(array) > FLOAT32_MAX
    too_large &= np.isfinite(array)  # infinities are the finiteness checks' to report
    if too_large.any():
        where = tuple(int(v) for v in np.argwhere(too_large)[0])
        place = f"neuron {where[0]}, frame {where[1]}" if len(where) == 2 else f"index {where}"
        raise DataError(
            f"{what} holds {array[where]!r} at {place}: beyond float32's range (|x| <= 3.4e38)"
        )


def check_no_infinity(values: np.ndarray, what: str) -> None:
    """DataError naming the first (row, column) of `values` that is infinite.

    NaN is a missing frame wherever calspike reads traces; an infinite value is never a
    measurement, and would silently spread through medians, filters and normalisations.
    """
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.floating) or array.size == 0:
        return
    # Two reductions that skip NaN and allocate nothing; the search below runs only on failure.
    highest = float(np.fmax.reduce(array, axis=None))
    lowest = float(np.fmin.reduce(array, axis=None))
    if not (math.isinf(highest) or math.isinf(lowest)):
        return
    where = tuple(int(v) for v in np.argwhere(np.isinf(array))[0])
    place = f"neuron {where[0]}, frame {where[1]}" if len(where) == 2 else f"index {where}"
    raise DataError(
        f"{what} holds {float(array[where])} at {place}: infinite values are not measurements "
        "(mark a missing frame with NaN)"
    )


def check_lengths(lengths: object, neurons: int, frames: int, what: str = "lengths") -> np.ndarray:
    """int64 (neurons,) frame counts in [0, frames].

    ValueError for non-integers: they are never truncated.
    """
    array = np.asarray(lengths)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{what} must be integer frame counts, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and (
        not np.all(np.isfinite(array)) or np.any(array != np.round(array))
    ):
        raise ValueError(
            f"{what} must be whole numbers of frames, got {array.reshape(-1)[:5].tolist()}"
        )
    given_shape = array.shape
    array = array.astype(np.int64).reshape(-1)
    if array.shape != (neurons,):
        raise ValueError(f"{what} must have shape ({neurons},), got {given_shape}")
    if array.min(initial=0) < 0 or array.max(initial=0) > frames:
        raise ValueError(f"{what} must lie in [0, {frames}] frames")
    return array


def _as_trace_matrix(values: object, what: str, name: str) -> np.ndarray:
    """A read-only-able float32 C-ordered (neurons, frames) view or copy of `values`."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name}: {what} must be 2-D (neurons, frames), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name}: {what} must hold at least one neuron and one frame, got shape {array.shape}"
        )
    check_numeric_dtype(array.dtype, f"{name}: {what}")
    check_float32_range(array, f"{name}: {what}")
    return np.ascontiguousarray(array, dtype=np.float32).view()


def _check_finite(
    matrix: np.ndarray, lengths: np.ndarray, what: str, nonnegative: bool, allow_nan: bool = False
) -> None:
    """DataError naming the first neuron and frame inside its length that is not finite.

    With `nonnegative`, a negative value is an error too.
    """
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
