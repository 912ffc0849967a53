"""suite2p plane folders: fluorescence with neuropil subtraction and a running-percentile dF/F.

A plane folder (``suite2p/plane0``) holds ``F.npy`` and ``Fneu.npy`` (ROIs x frames,
float32), ``iscell.npy`` (ROIs x 2: is-cell flag, probability) and ``ops.npy`` (a pickled
dict whose ``fs`` is the frame rate in Hz).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.lib import format as npy_format

from calspike._inputs import open_input
from calspike.config import check_rate
from calspike.data.arrays import load_npy
from calspike.data.recording import DataError, Recording
from calspike.preprocess import running_percentile

NEUROPIL_COEFFICIENT = 0.7  # suite2p's and CASCADE's usual choice
BASELINE_PERCENTILE = 8.0
BASELINE_WINDOW_S = 60.0


@dataclass(frozen=True)
class Suite2pPlane:
    """A suite2p plane read as dF/F: the Recording of the chosen ROIs and their ROI indices."""

    recording: Recording
    rois: np.ndarray  # int64 (neurons,): row of each neuron in F.npy
    total_rois: int


def is_suite2p_plane(path: str | os.PathLike[str]) -> bool:
    """True for a folder holding F.npy (a suite2p plane).

    DataError for a folder holding suite2p's other files (ops.npy, Fneu.npy, iscell.npy)
    but no F.npy, which would otherwise be read as a SpikeFinder folder and said to lack
    its CSVs.
    """
    folder = Path(path)
    if not folder.is_dir():
        return False
    if (folder / "F.npy").exists():
        return True
    others = [name for name in ("ops.npy", "Fneu.npy", "iscell.npy") if (folder / name).exists()]
    if others:
        raise DataError(
            f"{folder}: a suite2p plane ({', '.join(others)}) without F.npy, the traces "
            "calspike reads: give the plane folder suite2p wrote whole"
        )
    return False


def read_suite2p(
    folder: str | os.PathLike[str],
    rate: float | None = None,
    *,
    neuropil: float = NEUROPIL_COEFFICIENT,
    baseline: str = "running-percentile",
    baseline_percentile: float = BASELINE_PERCENTILE,
    baseline_window_s: float = BASELINE_WINDOW_S,
    cells_only: bool = True,
) -> Suite2pPlane:
    """Read a suite2p plane folder into dF/F traces.

    Parameters
    ----------
    folder : path-like
        A suite2p plane folder (``suite2p/plane0``): ``F.npy`` and ``Fneu.npy`` (ROIs x
        frames), ``iscell.npy`` and ``ops.npy``.
    rate : float, optional
        Frame rate in Hz; when None it is ``ops.npy``'s ``fs``. ops.npy is a pickle: it is
        read with an unpickler that admits only plain data (dicts, lists, strings, numbers,
        NumPy arrays and scalars), so a crafted file cannot run code.
    neuropil : float
        Coefficient in [0, 2]: F - neuropil * Fneu (0: no neuropil subtraction).
    baseline : {"running-percentile", "none"}
        "running-percentile": dF/F = (F - F0) / F0, F0 the `baseline_percentile` percentile
        of F over a centred window of `baseline_window_s` seconds; "none": F after neuropil
        subtraction, unchanged. F0 below 10 % of the ROI's median raw F is raised to it, so
        that a neuropil-dominated ROI does not divide by ~0.
    baseline_percentile : float
        Percentile in (0, 100) of the running baseline.
    baseline_window_s : float
        Width in seconds (> 0) of the running baseline's window.
    cells_only : bool
        Keep the ROIs that iscell.npy marks as cells (all when it is missing).

    Returns
    -------
    Suite2pPlane
        ``recording``: the Recording of the chosen ROIs (dF/F, float32 (neurons, frames),
        dropped frames allowed); ``rois``: int64 (neurons,), each neuron's row in F.npy;
        ``total_rois``: the rows of F.npy.

    Raises
    ------
    FileNotFoundError
        When the folder holds no F.npy, or `rate` is None and there is no ops.npy.
    ValueError
        For a bad `baseline`, `neuropil`, `baseline_percentile`, `baseline_window_s` or
        `rate`.
    DataError
        For malformed files, no ROI marked as a cell, an ops dict without a frame rate, or
        a median fluorescence <= 0 with the running-percentile baseline.
    """
    path = Path(folder)
    if not is_suite2p_plane(path):
        raise FileNotFoundError(f"{path}: not a suite2p plane folder (no F.npy)")
    if baseline not in ("running-percentile", "none"):
        raise ValueError(f"baseline must be 'running-percentile' or 'none', got {baseline!r}")
    if not (isinstance(neuropil, (int, float)) and 0 <= neuropil <= 2):
        raise ValueError(f"neuropil must be a coefficient in [0, 2], got {neuropil!r}")
    if not 0 < baseline_percentile < 100:
        raise ValueError(f"baseline_percentile must lie in (0, 100), got {baseline_percentile!r}")
    if not baseline_window_s > 0:
        raise ValueError(f"baseline_window_s must be > 0 seconds, got {baseline_window_s!r}")
    fluorescence = _matrix(path / "F.npy")
    rate = _ops_rate(path / "ops.npy") if rate is None else check_rate(rate, "rate")
    rois = np.arange(fluorescence.shape[0])
    if cells_only and (path / "iscell.npy").is_file():
        flags = load_npy(path / "iscell.npy")
        if flags.ndim not in (1, 2) or flags.shape[0] != fluorescence.shape[0]:
            raise DataError(
                f"{path / 'iscell.npy'}: expected ({fluorescence.shape[0]}, 2), got {flags.shape}"
            )
        rois = np.flatnonzero((flags[:, 0] if flags.ndim == 2 else flags) > 0.5)
        if rois.size == 0:
            raise DataError(
                f"{path / 'iscell.npy'}: no ROI is marked as a cell (cells_only=False keeps all)"
            )
    traces = fluorescence[rois].astype(np.float64)
    if neuropil > 0:
        neuropil_traces = _matrix(path / "Fneu.npy")
        if neuropil_traces.shape != fluorescence.shape:
            raise DataError(
                f"{path / 'Fneu.npy'}: shape {neuropil_traces.shape} differs from F.npy's "
                f"{fluorescence.shape}"
            )
        traces -= neuropil * neuropil_traces[rois]
    if baseline == "running-percentile":
        floor = 0.1 * np.median(fluorescence[rois], axis=1)
        if np.any(floor <= 0):
            bad = int(rois[np.flatnonzero(floor <= 0)[0]])
            raise DataError(
                f"{path / 'F.npy'}: ROI {bad} has a median fluorescence <= 0, so dF/F is undefined "
                "(use baseline='none')"
            )
        f0 = running_percentile(
            traces, baseline_percentile, max(1, round(baseline_window_s * rate))
        )
        traces = (traces - f0) / np.maximum(f0, floor[:, None])
    recording = Recording(traces.astype(np.float32), rate, name=path.name, gaps=True)
    return Suite2pPlane(recording, rois.astype(np.int64), int(fluorescence.shape[0]))


def _matrix(path: Path) -> np.ndarray:
    values = load_npy(path)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise DataError(f"{path}: expected a (ROIs, frames) array, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        raise DataError(f"{path}: expected numbers, got dtype {values.dtype}")
    return values


# The only globals a plain suite2p ops dict needs: NumPy arrays, dtypes and scalars (and
# _codecs.encode, which protocol-2 pickles use for bytes). Anything else is refused.
_OPS_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


# The dtypes an ops dict's arrays may have: booleans, numbers, strings and object arrays (whose
# items this unpickler reads too). Datetimes, structured and void dtypes carry states whose
# unpickling reaches NumPy internals (a crafted datetime state crashes the process): refused.
_OPS_DTYPE_KINDS = "biufcUSO"


def _plain_dtype(name: Any, *args: Any) -> np.dtype:
    """`numpy.dtype(name, *args)` for the kinds an ops dict holds; UnpicklingError otherwise."""
    if not isinstance(name, str) or name[:1] not in _OPS_DTYPE_KINDS:
        raise pickle.UnpicklingError(f"refused a NumPy dtype {name!r}")
    return np.dtype(name, *args)


class _OpsUnpickler(pickle._Unpickler):
    """Unpickles dicts, lists, tuples, strings, numbers and NumPy arrays/scalars, nothing else.

    So a crafted ops.npy cannot run code. This is the pure-Python unpickler, whose BUILD step
    can be checked: a dtype's state must be a plain one (no subarray, fields or metadata).
    """

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("numpy", "dtype"):
            return _plain_dtype
        if (module, name) in _OPS_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")

    def _load_build(self) -> None:
        state, target = self.stack[-1], self.stack[-2]  # type: ignore[attr-defined]
        if isinstance(target, np.dtype) and not _plain_dtype_state(state):
            raise pickle.UnpicklingError(f"refused the state {state!r} of a NumPy dtype")
        self.load_build()  # type: ignore[attr-defined]

    dispatch[pickle.BUILD[0]] = _load_build


def _plain_dtype_state(state: Any) -> bool:
    """True for a dtype state without subarray, field names, fields or metadata."""
    return (
        isinstance(state, tuple)
        and len(state) in (8, 9)
        and state[0] in (3, 4)
        and state[1] in ("<", ">", "|", "=")
        and state[2:5] == (None, None, None)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in state[5:8])
        and (len(state) == 8 or state[8] is None)
    )


def read_ops(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A suite2p ops.npy as a dict, unpickled with only plain data admitted (never code)."""
    path = Path(path)
    try:
        with open_input(path) as stream:
            version = npy_format.read_magic(stream)
            header = (
                npy_format.read_array_header_1_0(stream)
                if version == (1, 0)
                else npy_format.read_array_header_2_0(stream)
            )
            shape, _, dtype = header
            if dtype != np.dtype(object) or shape != ():
                raise DataError(
                    f"{path}: not a suite2p ops dict (a {dtype} array of shape {shape})"
                )
            ops = _OpsUnpickler(stream).load()
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - a pickle can fail in many ways; all mean the same here
        raise DataError(
            f"{path}: not a plain suite2p ops dict ({error}); pass the frame rate (--rate) instead"
        ) from None
    if isinstance(ops, np.ndarray) and ops.shape == () and ops.dtype == object:
        ops = ops.item()
    if not isinstance(ops, dict):
        raise DataError(f"{path}: holds a {type(ops).__name__}, not a suite2p ops dict")
    return ops


def _ops_rate(path: Path) -> float:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pass the frame rate (rate=, --rate)")
    ops = read_ops(path)
    if "fs" not in ops:
        raise DataError(f"{path}: the ops dict has no frame rate 'fs'; pass --rate")
    try:
        return check_rate(ops["fs"], "fs")
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
