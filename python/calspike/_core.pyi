"""Types of calspike's compiled core (private; use the calspike package)."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_THREADS: int
MAD_TO_SIGMA: float

def build_info() -> dict[str, Any]: ...
def robust_normalise(
    traces: npt.NDArray[np.floating[Any]], lengths: Sequence[int] | None = None, threads: int = 0
) -> npt.NDArray[np.float32]: ...
def robust_scales(
    traces: npt.NDArray[np.floating[Any]], lengths: Sequence[int] | None = None, threads: int = 0
) -> npt.NDArray[np.float64]: ...
def noise_levels(
    traces: npt.NDArray[np.floating[Any]],
    rate: float,
    lengths: Sequence[int] | None = None,
    threads: int = 0,
) -> npt.NDArray[np.float64]: ...
def partition(
    calcium: npt.NDArray[np.floating[Any]],
    spikes: npt.NDArray[np.floating[Any]] | None = None,
    lengths: Sequence[int] | None = None,
    len_pre: int = 10,
    len_post: int = 10,
    skip: int = 10,
    spike_n: int = 2,
    normalize: str = "window",
    threads: int = 0,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.bool_] | None,
    npt.NDArray[np.int32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]: ...
def valid_lengths(calcium: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.int64]: ...
def window_count(
    valid_length: int, len_pre: int, len_post: int, skip: int, spike_n: int
) -> int: ...
def features(
    windows: npt.NDArray[np.float32], kinds: Sequence[str], threads: int = 0
) -> npt.NDArray[np.float32]: ...
def oasis(
    calcium: npt.NDArray[np.floating[Any]],
    lengths: Sequence[int] | None,
    baseline: npt.ArrayLike,
    g: npt.ArrayLike,
    penalty: npt.ArrayLike,
    constrained: bool = False,
    s_min: float = 0.0,
    exact: bool = True,
    threads: int = 0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float64]]: ...
def oasis_estimates(
    calcium: npt.NDArray[np.floating[Any]],
    lengths: Sequence[int] | None,
    p: int = 1,
    baseline_percentile: float = 15.0,
    fudge: float = 0.98,
    threads: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def resampled_length(frames: int, rate_in: float, rate_out: float) -> int: ...
def resample(
    traces: npt.NDArray[np.floating[Any]],
    rate_in: float,
    rate_out: float,
    lengths: Sequence[int] | None = None,
    threads: int = 0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def rebin_counts(
    counts: npt.NDArray[np.floating[Any]],
    rate_in: float,
    rate_out: float,
    out_lengths: Sequence[int],
    lengths: Sequence[int] | None = None,
    threads: int = 0,
) -> npt.NDArray[np.float32]: ...
