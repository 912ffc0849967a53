"""Windows cut from recordings: the Windows record, partition (C++) and a zero-allocation view.

Sampling (balancing, neuron-wise splits) is in `calspike.windows.sampling`, the on-disk
store (prepared files, the cache) in `calspike.windows.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calspike import _core, config
from calspike.data.recording import (
    Recording,
    check_float32_range,
    check_numeric_dtype,
    warn_empty_neurons,
)

WINDOW_SETTINGS = config.WINDOW_SETTINGS


@dataclass(frozen=True, eq=False, repr=False)
class Windows:
    """Labelled windows and where each came from, as `partition` returns them.

    ``len(windows)`` is the number of windows.

    Attributes
    ----------
    windows : ndarray, shape (count, len_pre + len_post), float32
        Window k is ``calcium[neuron[k], frame[k] - len_pre : frame[k] + len_post]``,
        normalised as ``params["normalize"]`` says.
    did_spike : ndarray, shape (count,), bool, or None
        Whether a spike falls near each window's centre; None when the input had no spikes.
    neuron : ndarray, shape (count,), int32
        Index into `neuron_names`.
    frame : ndarray, shape (count,), int64
        The centre frame i of each window.
    neuron_names : tuple of str
        One label per input neuron, "recording/index" (or "index" for arrays).
    skipped : ndarray, int64
        Indices of neurons too short to yield any window (length <= len_pre + len_post).
    params : dict
        The window settings used.
    """

    windows: np.ndarray
    did_spike: np.ndarray | None
    neuron: np.ndarray
    frame: np.ndarray
    neuron_names: tuple[str, ...]
    skipped: np.ndarray
    params: dict[str, Any]

    def __len__(self) -> int:
        return int(self.windows.shape[0])

    @property
    def spike_fraction(self) -> float:
        """Fraction of windows labelled as spike windows (NaN without labels or windows)."""
        if self.did_spike is None or len(self) == 0:
            return float("nan")
        return float(np.count_nonzero(self.did_spike)) / len(self)

    def subset(self, index: np.ndarray) -> Windows:
        """Select windows.

        Parameters
        ----------
        index : ndarray of int or bool
            The windows to keep: indices (in that order) or a mask of shape (count,).

        Returns
        -------
        Windows
            Copies of the selected windows with their labels and origins; the same
            `neuron_names`, `skipped` and `params`.
        """
        return Windows(
            windows=self.windows[index],
            did_spike=None if self.did_spike is None else self.did_spike[index],
            neuron=self.neuron[index],
            frame=self.frame[index],
            neuron_names=self.neuron_names,
            skipped=self.skipped,
            params=dict(self.params),
        )

    def __repr__(self) -> str:
        return (
            f"Windows(count={len(self)}, length={self.windows.shape[1]}, "
            f"neurons={len(self.neuron_names)}, "
            f"spike_fraction={self.spike_fraction:.3f}, skipped={self.skipped.size}, "
            f"params={self.params})"
        )


def partition(
    data: Recording | Sequence[Recording] | np.ndarray,
    spikes: np.ndarray | None = None,
    *,
    len_pre: int = 10,
    len_post: int = 10,
    skip: int = 10,
    spike_n: int = 2,
    normalize: str = "window",
    threads: int = 0,
) -> Windows:
    """Cut calcium traces into windows labelled by whether a spike falls near their centre.

    For each neuron with valid length T and ``i in range(len_pre, T - len_post, skip)``:
    window = calcium[i - len_pre : i + len_post]; did_spike = any(spikes[i - spike_n :
    i + spike_n] > 0).

    Parameters
    ----------
    data : Recording, sequence of Recording, or array_like, shape (neurons, frames)
        A Recording; a sequence of Recordings (their neurons are stacked, padding with NaN,
        which costs one copy of the input); or a float32/float64 array in C or Fortran
        order, read in place without conversion (other numbers are converted once). A
        trailing run of NaN in a row is padding.
    spikes : array_like, shape (neurons, frames), optional
        Spike counts per frame for an array `data` (Recordings carry their own); integers
        are converted once.
    len_pre, len_post : int
        Frames of each window before and from its centre frame.
    skip : int
        Frames between the centres of successive windows.
    spike_n : int
        Frames on each side of the centre searched for a spike; at most
        min(len_pre, len_post). See `calspike.config.SETTINGS` for every setting.
    normalize : {"window", "neuron", "none"}
        "window" z-scores each window as the tutorial did, (w - mean) / (std + 1e-7),
        population std, in float64, bit for bit equal to NumPy; "neuron" uses
        (x - median) / (1.4826 MAD) of the neuron's whole valid trace (the population std
        when MAD is 0), keeping amplitudes comparable across windows; "none" keeps raw values.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    Windows
        The windows, labels and origins; the arrays were allocated once in C++ and are
        handed over without a copy.

    Raises
    ------
    ValueError
        Naming the argument at fault, or the neuron and frame of a NaN inside a trace.
    DataError
        For non-numeric arrays or values beyond float32's range.

    Examples
    --------
    >>> import calspike
    >>> recording = calspike.simulate(neurons=2, frames=1_000, rate=100.0, seed=0)
    >>> windows = calspike.partition(recording, len_pre=10, len_post=10, skip=10)
    >>> windows.windows.shape
    (196, 20)
    """
    params = config.check(
        {
            "len_pre": len_pre,
            "len_post": len_post,
            "skip": skip,
            "spike_n": spike_n,
            "normalize": normalize,
        }
    )
    threads = config.check({"threads": threads})["threads"]
    if params["spike_n"] > min(params["len_pre"], params["len_post"]):
        raise ValueError(
            "spike_n must be at most min(len_pre, len_post) = "
            f"{min(params['len_pre'], params['len_post'])}, got {params['spike_n']}"
        )
    calcium, spike_counts, lengths, names = _as_inputs(data, spikes)
    windows, did_spike, neuron, frame, skipped, _ = _core.partition(
        calcium, spike_counts, lengths, threads=threads, **params
    )
    return Windows(windows, did_spike, neuron, frame, names, skipped, params)


def window_view(
    calcium: np.ndarray, *, len_pre: int = 10, len_post: int = 10, skip: int = 10
) -> np.ndarray:
    """Return raw windows as a read-only strided view of `calcium`: no allocation, no copy.

    Parameters
    ----------
    calcium : array_like, shape (neurons, frames)
        The traces, in any memory layout.
    len_pre, len_post : int
        Frames of each window before and from its centre frame.
    skip : int
        Frames between the centres of successive windows.

    Returns
    -------
    ndarray, shape (neurons, count, len_pre + len_post)
        ``view[n, k] = calcium[n, k*skip : k*skip + len_pre + len_post]``, the window
        centred on frame ``len_pre + k*skip``; count is the window count of the full frame
        axis. A neuron whose valid length is shorter has windows reaching into its
        padding: keep those with ``len_pre + k*skip < lengths[n] - len_post``.

    Raises
    ------
    ValueError
        For a `calcium` that is not 2-D, bad window settings, or a `skip` too large for a
        strided view.
    """
    params = config.check({"len_pre": len_pre, "len_post": len_post, "skip": skip})
    array = np.asarray(calcium)
    if array.ndim != 2:
        raise ValueError(f"calcium must be 2-D (neurons, frames), got shape {array.shape}")
    length = params["len_pre"] + params["len_post"]
    count = _core.window_count(
        array.shape[1], params["len_pre"], params["len_post"], params["skip"], 1
    )
    row_stride, frame_stride = array.strides
    if max(abs(frame_stride) * max(params["skip"], 1), abs(row_stride)) >= 2**62:
        raise ValueError(
            f"skip = {params['skip']} frames is too large a stride for a view of this array"
        )
    return np.lib.stride_tricks.as_strided(
        array,
        shape=(array.shape[0], count, length),
        strides=(row_stride, params["skip"] * frame_stride, frame_stride),
        writeable=False,
    )


def _as_inputs(
    data: Recording | Sequence[Recording] | np.ndarray, spikes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, list[int] | None, tuple[str, ...]]:
    """(calcium, spikes, lengths, neuron names) ready for _core.partition."""
    if isinstance(data, Recording):
        data = [data]
    if isinstance(data, Sequence) and not isinstance(data, np.ndarray):
        recordings = list(data)
        if not recordings or not all(isinstance(r, Recording) for r in recordings):
            raise ValueError(
                "data must be a Recording, a non-empty sequence of Recordings, or an array"
            )
        if spikes is not None:
            raise ValueError("spikes must be None when data are Recordings (they carry their own)")
        for recording in recordings:  # as infer does: name the neurons that cannot give windows
            empty = [
                not np.isfinite(recording.calcium[row, : int(n)]).any()
                for row, n in enumerate(recording.lengths)
            ]
            warn_empty_neurons(np.array(empty), recording.name, 0, 4, "they give no windows")
        names = tuple(f"{r.name}/{n}" for r in recordings for n in range(r.neurons))
        lengths = np.concatenate([r.lengths for r in recordings]).tolist()
        if len(recordings) == 1:
            only = recordings[0]
            return only.calcium, only.spikes, lengths, names
        with_spikes = [r.spikes is not None for r in recordings]
        if any(with_spikes) and not all(with_spikes):
            raise ValueError("either all recordings or none must carry spikes")
        frames = max(r.frames for r in recordings)
        calcium = _stack([r.calcium for r in recordings], frames)
        stacked_spikes = (
            _stack([r.spikes for r in recordings if r.spikes is not None], frames)
            if all(with_spikes)
            else None
        )
        return calcium, stacked_spikes, lengths, names

    calcium = np.asarray(data)
    if calcium.ndim != 2:
        raise ValueError(f"calcium must be 2-D (neurons, frames), got shape {calcium.shape}")
    check_numeric_dtype(calcium.dtype, "calcium")
    check_float32_range(calcium, "calcium")
    if calcium.dtype not in (np.float32, np.float64):
        calcium = calcium.astype(np.float64)
    if spikes is not None:
        spikes = np.asarray(spikes)
        check_numeric_dtype(spikes.dtype, "spikes")
        check_float32_range(spikes, "spikes")
        if spikes.ndim == 2 and spikes.dtype not in (np.float32, np.float64):
            spikes = spikes.astype(np.float32)
    return calcium, spikes, None, tuple(str(n) for n in range(calcium.shape[0]))


def _stack(arrays: list[np.ndarray], frames: int) -> np.ndarray:
    out = np.full((sum(a.shape[0] for a in arrays), frames), np.nan, dtype=np.float32)
    row = 0
    for array in arrays:
        out[row : row + array.shape[0], : array.shape[1]] = array
        row += array.shape[0]
    return out
