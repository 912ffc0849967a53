"""Windows cut from recordings: partition (C++), a zero-allocation view, balanced sampling, a cache."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calspike import _core, config
from calspike._io import atomic_path
from calspike.data import Recording, cache_dir, read_spikefinder
from calspike.data.recording import check_float32_range, check_numeric_dtype

WINDOW_SETTINGS = ("len_pre", "len_post", "skip", "spike_n", "normalize")
_CACHE_FORMAT = 1


@dataclass(frozen=True, eq=False, repr=False)
class Windows:
    """Labelled windows and where each came from.

    Attributes
    ----------
    windows : float32 (count, len_pre + len_post), window k = calcium[neuron[k], frame[k] - len_pre :
        frame[k] + len_post], normalised as `params["normalize"]` says.
    did_spike : bool (count,), or None when the input had no spikes.
    neuron : int32 (count,), index into `neuron_names`.
    frame : int64 (count,), the centre frame i of each window.
    neuron_names : one label per input neuron, "recording/index" (or "index" for arrays).
    skipped : int64 indices of neurons too short to yield any window (length <= len_pre + len_post).
    params : the window settings used.
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
        """Fraction of windows labelled as spike windows (NaN when there are no labels or windows)."""
        if self.did_spike is None or len(self) == 0:
            return float("nan")
        return float(np.count_nonzero(self.did_spike)) / len(self)

    def subset(self, index: np.ndarray) -> Windows:
        """The windows at `index` (an integer or boolean array), in that order; copies."""
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
            f"Windows(count={len(self)}, length={self.windows.shape[1]}, neurons={len(self.neuron_names)}, "
            f"spike_fraction={self.spike_fraction:.3f}, skipped={self.skipped.size}, params={self.params})"
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
    i + spike_n] > 0). ``normalize``: "window" z-scores each window as the tutorial did,
    (w - mean) / (std + 1e-7), population std, in float64, bit for bit equal to NumPy;
    "neuron" uses (x - median) / (1.4826 MAD) of the neuron's whole valid trace (the
    population std when MAD is 0), keeping amplitudes comparable across windows; "none"
    keeps raw values.

    Parameters
    ----------
    data : a Recording, a sequence of Recordings (their neurons are stacked, padding with
        NaN, which costs one copy of the input), or a float32/float64 (neurons, frames)
        array in C or Fortran order, read in place without conversion. A trailing run of
        NaN in a row is padding.
    spikes : (neurons, frames) spike counts for an array `data`; ints are converted once.
    len_pre, len_post, skip, spike_n : frames; see `calspike.config.SETTINGS`.
    threads : C++ threads; 0 uses all cores.

    Returns Windows whose arrays were allocated once in C++ and are handed over without a copy.
    Raises ValueError naming the argument, or the neuron and frame of a NaN inside a trace.
    """
    params = config.check(
        {"len_pre": len_pre, "len_post": len_post, "skip": skip, "spike_n": spike_n, "normalize": normalize}
    )
    threads = config.check({"threads": threads})["threads"]
    if params["spike_n"] > min(params["len_pre"], params["len_post"]):
        raise ValueError(
            f"spike_n must be at most min(len_pre, len_post) = {min(params['len_pre'], params['len_post'])}, "
            f"got {params['spike_n']}"
        )
    calcium, spike_counts, lengths, names = _as_inputs(data, spikes)
    windows, did_spike, neuron, frame, skipped, _ = _core.partition(
        calcium, spike_counts, lengths, threads=threads, **params
    )
    return Windows(windows, did_spike, neuron, frame, names, skipped, params)


def window_view(
    calcium: np.ndarray, *, len_pre: int = 10, len_post: int = 10, skip: int = 10
) -> np.ndarray:
    """Raw windows as a read-only strided view of `calcium`: no allocation, no copy.

    Returns shape (neurons, count, len_pre + len_post) with view[n, k] = calcium[n,
    k*skip : k*skip + len_pre + len_post], the window centred on frame len_pre + k*skip, and
    count = the window count of the full frame axis. A neuron whose valid length is
    shorter has windows reaching into its padding: keep those with
    ``len_pre + k*skip < lengths[n] - len_post``. Works for any memory layout.
    """
    params = config.check({"len_pre": len_pre, "len_post": len_post, "skip": skip})
    array = np.asarray(calcium)
    if array.ndim != 2:
        raise ValueError(f"calcium must be 2-D (neurons, frames), got shape {array.shape}")
    length = params["len_pre"] + params["len_post"]
    count = _core.window_count(array.shape[1], params["len_pre"], params["len_post"], params["skip"], 1)
    row_stride, frame_stride = array.strides
    if max(abs(frame_stride) * max(params["skip"], 1), abs(row_stride)) >= 2**62:
        raise ValueError(f"skip = {params['skip']} frames is too large a stride for a view of this array")
    return np.lib.stride_tricks.as_strided(
        array,
        shape=(array.shape[0], count, length),
        strides=(row_stride, params["skip"] * frame_stride, frame_stride),
        writeable=False,
    )


def balanced_indices(did_spike: np.ndarray, per_class: int | None = None, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Indices of an equal number of spike and no-spike windows, shuffled.

    ``per_class`` defaults to the size of the smaller class, drawn without replacement;
    a larger request draws without replacement while a class has enough windows and
    completes the rest with replacement. Seeded: the same seed gives the same indices.
    """
    labels = np.asarray(did_spike)
    if labels.ndim != 1 or labels.dtype != np.bool_:
        raise ValueError(f"did_spike must be a 1-D bool array, got dtype {labels.dtype} shape {labels.shape}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    classes = [np.flatnonzero(labels), np.flatnonzero(~labels)]
    smaller = min(c.size for c in classes)
    if per_class is not None and (
        isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 0
    ):
        raise ValueError(f"per_class must be an integer >= 0, got {per_class!r}")
    if smaller == 0 and per_class != 0:
        raise ValueError(
            f"cannot balance: {classes[0].size} spike and {classes[1].size} no-spike windows (a class has no windows)"
        )
    if per_class is None:
        per_class = smaller
    chosen = []
    for members in classes:
        take = min(per_class, members.size)
        picks = rng.choice(members, take, replace=False)
        if per_class > take:  # not enough windows: the rest with replacement
            picks = np.concatenate([picks, rng.choice(members, per_class - take, replace=True)])
        chosen.append(picks)
    index = np.concatenate(chosen)
    rng.shuffle(index)
    return index


def balance(windows: Windows, per_class: int | None = None, seed: int | np.random.Generator = 0) -> Windows:
    """A balanced, shuffled subset of labelled windows (see `balanced_indices`)."""
    if windows.did_spike is None:
        raise ValueError("windows has no spike labels to balance")
    return windows.subset(balanced_indices(windows.did_spike, per_class, seed))


def cached_partition(
    directory: str | os.PathLike[str],
    *,
    split: str = "train",
    cache: str | os.PathLike[str] | None = None,
    threads: int = 0,
    **params: Any,
) -> Windows:
    """`partition` of a SpikeFinder folder, cached on disk as an .npz.

    The cache key hashes the content of every input file, the window settings and the
    cache format. A cache file that fails to load, is incomplete or holds another key
    is rebuilt, never trusted. Writes are atomic.
    """
    if set(params) - set(WINDOW_SETTINGS):
        raise ValueError(f"unknown window settings: {', '.join(sorted(set(params) - set(WINDOW_SETTINGS)))}")
    settings = config.check({**config.defaults(WINDOW_SETTINGS), **params})
    folder = Path(directory)
    files = sorted(folder.glob(f"*.{split}.*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.{split}.*.csv files in {folder}")
    key = _cache_key(files, settings)
    target = (Path(cache) if cache is not None else cache_dir()) / "windows" / f"{key}.npz"
    cached = _load_cached(target, key)
    if cached is not None:
        return cached
    windows = partition(read_spikefinder(folder, split), threads=threads, **settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_npz(target, windows, key)
    return windows


def _cache_key(files: list[Path], settings: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"calspike-windows-{_CACHE_FORMAT}".encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:32]


def _load_cached(target: Path, key: str) -> Windows | None:
    if not target.is_file():
        return None
    try:
        return _read_npz(target, key)
    except ValueError as error:
        warnings.warn(f"ignoring unreadable window cache {target} ({error}); rebuilding it", stacklevel=3)
        return None


def save_windows(windows: Windows, path: str | os.PathLike[str]) -> Path:
    """Write windows, labels, origins and settings to an .npz file, atomically; returns its path."""
    target = Path(path)
    if target.suffix != ".npz":
        raise ValueError(f"prepared windows are saved as .npz, got {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_npz(target, windows, "prepared")
    return target


def is_windows_file(path: str | os.PathLike[str]) -> bool:
    """True for an .npz that `save_windows` (or the cache) wrote, judged by its array names."""
    with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
        return {"key", "windows", "neuron", "frame", "params"} <= set(archive.files)


def load_windows(path: str | os.PathLike[str]) -> Windows:
    """Windows written by `save_windows` (or cached); ValueError naming the file when it is not one."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"no such file: {target}")
    try:
        return _read_npz(target, None)
    except ValueError as error:
        raise ValueError(f"{target}: not a calspike windows file ({error})") from None


def _write_npz(target: Path, windows: Windows, key: str) -> None:
    with atomic_path(target) as temporary, open(temporary, "wb") as stream:
        np.savez(
            stream,
            key=np.array(key),
            windows=windows.windows,
            did_spike=windows.did_spike if windows.did_spike is not None else np.zeros(0, bool),
            has_spikes=np.array(windows.did_spike is not None),
            neuron=windows.neuron,
            frame=windows.frame,
            skipped=windows.skipped,
            neuron_names=np.array(windows.neuron_names, dtype=str),
            params=np.array(json.dumps(windows.params)),
        )


def _read_npz(target: Path, key: str | None) -> Windows:
    """The Windows in an .npz; ValueError for anything unreadable, incomplete or (with `key`) another key."""
    try:
        # np.load leaks its file handle when the zip is unreadable; own the stream instead
        with open(target, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            if key is not None and str(archive["key"]) != key:
                raise ValueError("the cache file holds another key")
            has_spikes = bool(archive["has_spikes"])
            windows = Windows(
                windows=archive["windows"],
                did_spike=archive["did_spike"] if has_spikes else None,
                neuron=archive["neuron"],
                frame=archive["frame"],
                neuron_names=tuple(str(n) for n in archive["neuron_names"]),
                skipped=archive["skipped"],
                params=json.loads(str(archive["params"])),
            )
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ValueError(str(error) or type(error).__name__) from None
    count = windows.windows.shape[0]
    if windows.windows.ndim != 2 or not (windows.neuron.shape == windows.frame.shape == (count,)) or (
        windows.did_spike is not None and windows.did_spike.shape != (count,)
    ):
        raise ValueError("arrays of different lengths")
    check_numeric_dtype(windows.windows.dtype, "windows")
    for name in ("neuron", "frame", "skipped"):
        if getattr(windows, name).size and not np.issubdtype(getattr(windows, name).dtype, np.integer):
            raise ValueError(f"'{name}' must hold integers, got dtype {getattr(windows, name).dtype}")
    if windows.did_spike is not None and windows.did_spike.dtype != np.bool_:
        raise ValueError(f"'did_spike' must be bool, got dtype {windows.did_spike.dtype}")
    names = len(windows.neuron_names)
    outside = (windows.neuron < 0) | (windows.neuron >= names)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ValueError(f"window {k} names neuron {int(windows.neuron[k])}, but the file lists {names} "
                         "neuron names")
    if (windows.frame < 0).any():
        raise ValueError(f"window {int(np.flatnonzero(windows.frame < 0)[0])} has a negative centre frame")
    return windows


def _as_inputs(
    data: Recording | Sequence[Recording] | np.ndarray, spikes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, list[int] | None, tuple[str, ...]]:
    """(calcium, spikes, lengths, neuron names) ready for _core.partition."""
    if isinstance(data, Recording):
        data = [data]
    if isinstance(data, Sequence) and not isinstance(data, np.ndarray):
        recordings = list(data)
        if not recordings or not all(isinstance(r, Recording) for r in recordings):
            raise ValueError("data must be a Recording, a non-empty sequence of Recordings, or an array")
        if spikes is not None:
            raise ValueError("spikes must be None when data are Recordings (they carry their own)")
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
        stacked_spikes = _stack([r.spikes for r in recordings], frames) if all(with_spikes) else None  # type: ignore[misc]
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
