"""Preprocessing of traces, one implementation each.

Frame-rate conversion (anti-aliased resampling, count-conserving rebinning), gap filling,
robust normalisation and noise levels (in C++), and running-percentile dF/F baselines.

Frame k of a recording at rate r (Hz) covers [k / r, (k + 1) / r) seconds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from calspike import _core, config
from calspike.config import check_rate
from calspike.data.recording import (
    check_float32_range,
    check_lengths,
    check_no_infinity,
    check_numeric_dtype,
)


def resampled_length(frames: int, rate_in: float, rate_out: float) -> int:
    """Frames at `rate_out` that cover `frames` frames at `rate_in`.

    The last one may be partial.
    """
    return int(
        _core.resampled_length(
            int(frames), check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out")
        )
    )


def resample(
    traces: np.ndarray,
    rate_in: float,
    rate_out: float,
    lengths: Sequence[int] | np.ndarray | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample traces from `rate_in` to `rate_out` Hz, anti-aliased.

    A triangle kernel as wide as the longer of the two frame periods: linear interpolation
    when upsampling, a low-pass average when downsampling, so a trace keeps its mean and
    high frequencies do not fold back.

    Parameters
    ----------
    traces : array_like, shape (neurons, frames) or (frames,)
        The traces; float32 or float64 are read in place (any strides, no copy), other
        numbers converted to float64. NaN inside a trace spreads to its neighbours: fill
        gaps first (`fill_gaps`).
    rate_in, rate_out : float
        Frame rates in Hz of the input and of the output.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each trace; all frames when None.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    resampled : ndarray, shape (neurons, frames_out), float32
        The traces at `rate_out`, NaN beyond each length.
    lengths : ndarray, shape (neurons,), int64
        Valid frames of each resampled trace.

    Raises
    ------
    ValueError
        For traces that are not 1-D or 2-D, a rate outside `calspike.config.RATE_RANGE_HZ`, or
        bad `lengths`.
    DataError
        For non-numeric traces, infinite values or values beyond float32's range.
    """
    values = _matrix("traces", traces)
    rate_in, rate_out = check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out")
    out, out_lengths = _core.resample(values, rate_in, rate_out, _lengths(lengths, values), threads)
    return out, np.asarray(out_lengths)


def rebin_counts(
    counts: np.ndarray,
    rate_in: float,
    rate_out: float,
    out_lengths: Sequence[int] | np.ndarray,
    lengths: Sequence[int] | np.ndarray | None = None,
    threads: int = 0,
) -> np.ndarray:
    """Map spike counts per frame from `rate_in` to `rate_out` Hz, conserving counts.

    Each frame's count is shared among the frames its interval overlaps, in proportion to
    the overlap, so each row's total is kept whenever the output covers the input (e.g.
    100 Hz -> 25 Hz sums groups of 4 frames exactly; 25 Hz -> 100 Hz gives each of the 4
    frames a quarter).

    Parameters
    ----------
    counts : array_like, shape (neurons, frames) or (frames,)
        Spike counts per frame at `rate_in`.
    rate_in, rate_out : float
        Frame rates in Hz of the input and of the output.
    out_lengths : array_like of int, shape (neurons,)
        Output frames of each row.
    lengths : array_like of int, shape (neurons,), optional
        Valid input frames of each row; all frames when None.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    ndarray, shape (neurons, max(out_lengths)), float32
        Counts per output frame, NaN beyond each row's length.

    Raises
    ------
    ValueError
        For counts that are not 1-D or 2-D, a rate outside `calspike.config.RATE_RANGE_HZ`, or
        bad `out_lengths` or `lengths`.
    DataError
        For non-numeric counts, infinite values or values beyond float32's range.
    """
    values = _matrix("counts", counts)
    rate_in, rate_out = check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out")
    wanted = check_lengths(out_lengths, values.shape[0], np.iinfo(np.int64).max, "out_lengths")
    return np.asarray(
        _core.rebin_counts(
            values, rate_in, rate_out, wanted.tolist(), _lengths(lengths, values), threads
        )
    )


def fill_gaps(
    traces: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN frames inside each trace by linear interpolation between finite neighbours.

    Frames before the first or after the last finite frame take the nearest finite value.

    Parameters
    ----------
    traces : array_like, shape (neurons, frames) or (frames,)
        The traces, NaN on dropped frames.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each trace; all frames when None. Padding beyond them stays NaN.

    Returns
    -------
    filled : ndarray, shape (neurons, frames), float32
        A filled copy of the traces.
    mask : ndarray, shape (neurons, frames), bool
        True on the filled frames (never on padding).

    Raises
    ------
    ValueError
        For traces of more than 2 dimensions, bad `lengths`, or a trace with no finite frame
        (naming it).
    DataError
        For non-numeric traces, infinite values or values beyond float32's range.
    """
    given = np.asarray(traces)
    if given.ndim > 2:
        raise ValueError(
            f"traces must be 2-D (neurons, frames) or 1-D (frames,), got shape {given.shape}"
        )
    check_numeric_dtype(given.dtype, "traces")
    check_float32_range(given, "traces")
    check_no_infinity(given, "traces")
    values = np.array(given, dtype=np.float32, copy=True, ndmin=2)
    rows, frames = values.shape
    limit = np.full(rows, frames) if lengths is None else check_lengths(lengths, rows, frames)
    gaps = np.isnan(values) & (np.arange(frames) < limit[:, None])
    for row in np.flatnonzero(gaps.any(axis=1)):
        n = int(limit[row])
        trace, missing = values[row, :n], gaps[row, :n]
        present = np.flatnonzero(~missing)
        if present.size == 0:
            raise ValueError(f"neuron {row}: every frame is NaN")
        trace[missing] = np.interp(np.flatnonzero(missing), present, trace[present])
    return values, gaps


def _matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (neurons, frames) or 1-D (frames,), got shape {np.shape(values)}"
        )
    check_numeric_dtype(array.dtype, name)
    check_float32_range(array, name)
    check_no_infinity(array, name)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _lengths(lengths: Sequence[int] | np.ndarray | None, values: np.ndarray) -> list[int] | None:
    return (
        None
        if lengths is None
        else check_lengths(lengths, values.shape[0], values.shape[1]).tolist()
    )


def running_percentile(traces: np.ndarray, percentile: float, window: int) -> np.ndarray:
    """The `percentile` of each row over a centred window of `window` frames.

    Float64 (rows, frames). Computed on block means (blocks of window / 64 frames) and
    interpolated back, which keeps it fast for long windows and smooth; NaN frames are ignored.
    """
    values = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    frames = values.shape[1]
    block = max(1, window // 64)
    usable = frames // block * block
    if usable == 0:
        block, usable = 1, frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        means = np.nanmean(values[:, :usable].reshape(values.shape[0], -1, block), axis=2)
    blocks_per_window = max(1, math.ceil(window / block))
    smooth = (
        pd.DataFrame(means.T)
        .rolling(blocks_per_window, center=True, min_periods=1)
        .quantile(percentile / 100)
    )
    centres = (np.arange(means.shape[1]) + 0.5) * block - 0.5
    frame_index = np.arange(frames)
    return np.stack([np.interp(frame_index, centres, column) for column in smooth.to_numpy().T])


def robust_normalise(
    traces: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None, threads: int = 0
) -> np.ndarray:
    """Normalise each trace by its median and MAD over its valid frames, in C++.

    The statistics ``partition(normalize="neuron")`` uses (C++, calspike/robust.hpp):
    (x - median) / (MAD_TO_SIGMA * MAD), MAD_TO_SIGMA = 1.482602218505602 (1 / Phi^-1(3/4));
    a trace whose MAD is 0 is divided by its population std, a constant one by 1.

    Parameters
    ----------
    traces : array_like, shape (neurons, frames) or (frames,)
        The traces.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each trace; all frames when None. Frames beyond keep their values.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    ndarray, shape (neurons, frames), float32
        The normalised traces (unitless).

    Raises
    ------
    ValueError
        For traces that are not 1-D or 2-D, bad `lengths` or `threads`.
    DataError
        For non-numeric traces, infinite values or values beyond float32's range.
    """
    values = _matrix("traces", traces)
    return _core.robust_normalise(
        values, _lengths(lengths, values), config.check({"threads": threads})["threads"]
    )


def robust_scales(
    traces: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None, threads: int = 0
) -> np.ndarray:
    """Compute the divisor `robust_normalise` uses for each trace, in C++.

    MAD_TO_SIGMA x MAD of its valid frames; the population std where the MAD is 0, 1 for a
    constant or empty trace (the spike-rate model reads it as the trace's spread in dF/F).

    Parameters
    ----------
    traces : array_like, shape (neurons, frames) or (frames,)
        The traces.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each trace; all frames when None.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    ndarray, shape (neurons,), float64
        The scales in the traces' units; NaN for a trace with NaN among its valid frames.

    Raises
    ------
    ValueError
        For traces that are not 1-D or 2-D, bad `lengths` or `threads`.
    DataError
        For non-numeric traces, infinite values or values beyond float32's range.
    """
    values = _matrix("traces", traces)
    return _core.robust_scales(
        values, _lengths(lengths, values), config.check({"threads": threads})["threads"]
    )


def noise_levels(
    traces: np.ndarray,
    rate: float,
    lengths: Sequence[int] | np.ndarray | None = None,
    threads: int = 0,
) -> np.ndarray:
    """Compute the standard noise level of each trace: ``median(|x[t+1] - x[t]|) / sqrt(rate)``.

    Parameters
    ----------
    traces : array_like, shape (neurons, frames) or (frames,)
        The traces. Differences next to NaN frames are left out.
    rate : float
        Frame rate in Hz.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each trace; all frames when None.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    ndarray, shape (neurons,), float64
        Noise levels in the traces' units per sqrt(Hz) (x 100 gives CASCADE's percent for
        dF/F traces); NaN for a trace with no usable pair of frames.

    Raises
    ------
    ValueError
        For traces that are not 1-D or 2-D, a rate outside `calspike.config.RATE_RANGE_HZ`, bad
        `lengths` or `threads`.
    DataError
        For non-numeric traces, infinite values or values beyond float32's range.
    """
    values = _matrix("traces", traces)
    return np.asarray(
        _core.noise_levels(
            values,
            check_rate(rate, "rate"),
            _lengths(lengths, values),
            config.check({"threads": threads})["threads"],
        )
    )
