"""Preprocessing of traces, one implementation each: frame-rate conversion (anti-aliased
resampling, count-conserving rebinning), gap filling, robust normalisation and noise
levels (in C++), and running-percentile dF/F baselines.

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
from calspike.data.recording import check_float32_range, check_lengths, check_numeric_dtype


def resampled_length(frames: int, rate_in: float, rate_out: float) -> int:
    """Frames at `rate_out` that cover `frames` frames at `rate_in` (the last one possibly partial)."""
    return int(_core.resampled_length(int(frames), check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out")))


def resample(
    traces: np.ndarray, rate_in: float, rate_out: float, lengths: Sequence[int] | np.ndarray | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample (neurons, frames) traces from `rate_in` to `rate_out` Hz, anti-aliased.

    A triangle kernel as wide as the longer of the two frame periods: linear interpolation
    when upsampling, a low-pass average when downsampling, so a trace keeps its mean and
    high frequencies do not fold back. float32 or float64 input (any strides, no copy).

    Returns (float32 (neurons, frames'), int64 lengths (neurons,)): NaN beyond each length.
    NaN inside a trace spreads to its neighbours: fill gaps first (`fill_gaps`).
    """
    values = _matrix("traces", traces)
    rate_in, rate_out = check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out")
    out, out_lengths = _core.resample(values, rate_in, rate_out, _lengths(lengths, values), threads)
    return out, np.asarray(out_lengths)


def rebin_counts(
    counts: np.ndarray, rate_in: float, rate_out: float, out_lengths: Sequence[int] | np.ndarray,
    lengths: Sequence[int] | np.ndarray | None = None, threads: int = 0,
) -> np.ndarray:
    """Map spike counts per frame (neurons, frames) at `rate_in` to `out_lengths` frames at `rate_out`.

    Each frame's count is shared among the frames its interval overlaps, in proportion to
    the overlap, so counts are conserved: each row's total is kept whenever the output
    covers the input (e.g. 100 Hz -> 25 Hz sums groups of 4 frames exactly; 25 Hz -> 100 Hz
    gives each of the 4 frames a quarter). Returns float32 (neurons, max(out_lengths)), NaN
    beyond each row's length.
    """
    values = _matrix("counts", counts)
    rate_in, rate_out = check_rate(rate_in, "rate_in"), check_rate(rate_out, "rate_out")
    wanted = check_lengths(out_lengths, values.shape[0], np.iinfo(np.int64).max, "out_lengths")
    return np.asarray(_core.rebin_counts(values, rate_in, rate_out, wanted.tolist(), _lengths(lengths, values),
                                         threads))


def fill_gaps(traces: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN frames inside each trace by linear interpolation between their finite neighbours.

    Frames before the first or after the last finite frame take the nearest finite value.
    Returns (float32 filled copy, bool mask of the filled frames), both (neurons, frames);
    padding beyond `lengths` stays NaN and is not in the mask. A trace with no finite frame
    raises ValueError naming it.
    """
    given = np.asarray(traces)
    if given.ndim > 2:
        raise ValueError(f"traces must be 2-D (neurons, frames) or 1-D (frames,), got shape {given.shape}")
    check_numeric_dtype(given.dtype, "traces")
    check_float32_range(given, "traces")
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
        raise ValueError(f"{name} must be 2-D (neurons, frames) or 1-D (frames,), got shape {np.shape(values)}")
    check_numeric_dtype(array.dtype, name)
    check_float32_range(array, name)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _lengths(lengths: Sequence[int] | np.ndarray | None, values: np.ndarray) -> list[int] | None:
    return None if lengths is None else check_lengths(lengths, values.shape[0], values.shape[1]).tolist()


def running_percentile(traces: np.ndarray, percentile: float, window: int) -> np.ndarray:
    """The `percentile` of each row over a centred window of `window` frames, float64 (rows, frames).

    Computed on block means (blocks of window / 64 frames) and interpolated back, which keeps
    it fast for long windows and smooth; NaN frames are ignored.
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
    smooth = pd.DataFrame(means.T).rolling(blocks_per_window, center=True, min_periods=1).quantile(percentile / 100)
    centres = (np.arange(means.shape[1]) + 0.5) * block - 0.5
    frame_index = np.arange(frames)
    return np.stack([np.interp(frame_index, centres, column) for column in smooth.to_numpy().T])


def robust_normalise(traces: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None,
                     threads: int = 0) -> np.ndarray:
    """(x - median) / (MAD_TO_SIGMA * MAD) per neuron over its valid frames, float32 (neurons, frames).

    The statistics `partition(normalize="neuron")` uses (C++, calspike/robust.hpp): a trace
    whose MAD is 0 is divided by its population std, a constant one by 1. Frames beyond
    `lengths` keep their values. MAD_TO_SIGMA = 1.482602218505602 (1 / Phi^-1(3/4)).
    """
    values = _matrix("traces", traces)
    return _core.robust_normalise(values, _lengths(lengths, values), config.check({"threads": threads})["threads"])


def noise_levels(traces: np.ndarray, rate: float, lengths: Sequence[int] | np.ndarray | None = None,
                 threads: int = 0) -> np.ndarray:
    """The standard noise level per neuron: median |x[t+1] - x[t]| / sqrt(rate), float64 (neurons,).

    In the traces' units per sqrt(Hz) (x 100 gives CASCADE's percent for dF/F traces).
    Differences next to NaN frames are left out; NaN for a trace with no usable pair.
    """
    values = _matrix("traces", traces)
    return np.asarray(_core.noise_levels(values, check_rate(rate, "rate"), _lengths(lengths, values),
                                         config.check({"threads": threads})["threads"]))
