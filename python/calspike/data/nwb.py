"""Neurodata Without Borders (NWB) files: optical-physiology traces in, inferred spikes out.

`read_nwb` turns a RoiResponseSeries of the ``ophys`` processing module into a Recording
(neurons x frames; NWB stores frames x ROIs): ``DfOverF``'s series is preferred, else
``Fluorescence``'s, or the one named. The frame rate comes from the series' rate or its
(regular) timestamps. Spike counts beside the traces (a series named ``spike_counts`` of
the same shape, in ``ophys`` or the acquisition group) become the Recording's ground truth.

`write_nwb_spikes` writes a new file: the input plus a processing module ``calspike`` with
the inferred spikes as a RoiResponseSeries over the same ROIs and times, and the model,
settings and per-neuron noise levels as JSON in its ``comments``. The input is opened
read-only and the output appears whole or not at all. pynwb is optional
(`pip install 'calspike[nwb]'`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from calspike._inputs import check_input
from calspike._io import atomic_path
from calspike._optional import require
from calspike.config import check_rate
from calspike.data.chunked import check_plain_hdf5
from calspike.data.recording import DataError, Recording

INTERFACES = ("DfOverF", "Fluorescence")  # in order of preference
GROUND_TRUTH = "spike_counts"
OUTPUT_MODULE = "calspike"
OUTPUT_SERIES = "inferred_spikes"


def is_nwb(path: str | os.PathLike[str]) -> bool:
    """True for a path ending in .nwb (any case)."""
    return Path(path).suffix.lower() == ".nwb"


def _open(path: Path) -> Any:
    pynwb = require("pynwb", f"reading {path}")
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    check_input(path)
    try:
        io = pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True)
        return io, io.read()
    except Exception as error:  # noqa: BLE001 - h5py and hdmf raise many kinds for a file that is not NWB
        raise DataError(f"{path}: not a readable NWB file ({_cause(error)})") from None


def _cause(error: Exception, most: int = 300) -> str:
    """The error's cause in one short line.

    hdmf's construct errors print the whole object tree before the reason ("... due to:
    REASON"), which alone is kept.
    """
    text = " ".join(str(error).split())
    if "due to: " in text:
        text = text.rsplit("due to: ", 1)[1].rstrip("\"')")
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= most else text[: most - 3] + "..."


def _series_of(nwbfile: Any, path: Path, series: str | None) -> Any:
    """The chosen RoiResponseSeries; DataError naming the file and what is missing."""
    ophys = nwbfile.processing.get("ophys")
    if ophys is None:
        raise DataError(
            f"{path}: no 'ophys' processing module (optical physiology) to read traces from"
        )
    found: dict[str, Any] = {}
    for kind in INTERFACES:
        for interface in ophys.data_interfaces.values():
            if type(interface).__name__ == kind:
                found.update(
                    {
                        name: s
                        for name, s in interface.roi_response_series.items()
                        if name not in found
                    }
                )
    if not found:
        raise DataError(
            f"{path}: the 'ophys' module holds no DfOverF or Fluorescence RoiResponseSeries"
        )
    if series is None:
        return next(iter(found.values()))
    if series not in found:
        raise DataError(
            f"{path}: no RoiResponseSeries named {series!r} in 'ophys' (found: {', '.join(found)})"
        )
    return found[series]


def _rate_of(series: Any, path: Path) -> float:
    where = f"{path}: series {series.name!r}"
    if series.rate is not None:
        try:
            return check_rate(series.rate, "rate")
        except ValueError as error:
            raise DataError(f"{where}: {error}") from None
    try:
        times = np.asarray(series.timestamps[:], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: timestamps must be numbers of seconds ({error})") from None
    frames = int(series.data.shape[0])
    if times.shape != (frames,):
        raise DataError(
            f"{where}: {times.size} timestamps for {frames} frames; NWB gives each frame one"
        )
    if times.size < 2:
        raise DataError(f"{where}: fewer than 2 timestamps, so no frame rate")
    steps = np.diff(times)
    step = float(np.median(steps))
    if not step > 0 or np.max(np.abs(steps - step)) > 0.01 * step:
        raise DataError(
            f"{where}: irregular timestamps (steps from {steps.min():.6g} to {steps.max():.6g} s); "
            "calspike needs a constant frame rate"
        )
    return 1.0 / step


def _matrix(series: Any, path: Path) -> np.ndarray:
    import h5py  # pynwb's own dependency

    data = series.data
    if isinstance(data, h5py.Dataset):
        check_plain_hdf5(data, f"{path}: series {series.name!r}", path)
    if len(data.shape) != 2:
        raise DataError(
            f"{path}: series {series.name!r} must be (frames, ROIs), got shape {tuple(data.shape)}"
        )
    values = np.asarray(data[:])
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise DataError(
            f"{path}: series {series.name!r} must hold real numbers, got {values.dtype}"
        )
    return np.ascontiguousarray(values.T, dtype=np.float32)


def _ground_truth(
    nwbfile: Any, traces: Any, shape: tuple[int, int], path: Path
) -> np.ndarray | None:
    """The spike counts beside `traces`: same shape, and the same frames in time."""
    for group in (nwbfile.processing["ophys"].data_interfaces, nwbfile.acquisition):
        if GROUND_TRUTH in group:
            counts = _matrix(group[GROUND_TRUTH], path)
            if counts.shape != shape:
                raise DataError(
                    f"{path}: {GROUND_TRUTH} has shape {counts.shape[::-1]} (frames, ROIs), "
                    f"the traces {shape[::-1]}"
                )
            if not _same_frames(group[GROUND_TRUTH], traces):
                raise DataError(
                    f"{path}: {GROUND_TRUTH} is timed differently from the series "
                    f"{traces.name!r} (another rate, start or timestamps); its counts must "
                    "belong to the traces' frames"
                )
            return counts
    return None


def _same_frames(one: Any, other: Any) -> bool:
    """Whether two NWB time series share their frames' times (rate and start, or timestamps)."""
    if one.rate is not None and other.rate is not None:
        start = (one.starting_time or 0.0, other.starting_time or 0.0)
        return bool(np.isclose(one.rate, other.rate) and np.isclose(*start))
    if one.timestamps is not None and other.timestamps is not None:
        return bool(np.allclose(np.asarray(one.timestamps[:]), np.asarray(other.timestamps[:])))
    return False


def _roi_names(series: Any) -> tuple[str, ...]:
    ids = np.asarray(series.rois.table.id[:])
    return tuple(str(ids[int(row)]) for row in np.asarray(series.rois.data[:]))


def read_nwb(path: str | os.PathLike[str], series: str | None = None) -> list[Recording]:
    """Read the traces of an NWB file as one Recording (neurons = the series' ROIs, in its order).

    Needs pynwb (``pip install calspike[nwb]``). Spike counts are read when the file holds
    a series "spike_counts" (in 'ophys' or acquisition).

    Parameters
    ----------
    path : path-like
        The NWB file; its 'ophys' processing module holds the traces.
    series : str, optional
        The RoiResponseSeries' name (default: DfOverF's first, else Fluorescence's).

    Returns
    -------
    list of Recording
        One Recording, dropped (NaN) frames allowed; its ``metadata`` holds the series, the
        file's identifier and session description; neuron names are the ROI table's ids.
        The rate is the series' own (or from regular timestamps).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    DataError
        Naming the file and series for missing or malformed data.
    MissingExtra
        (An ImportError) When pynwb is not installed.
    """
    path = Path(path)
    io, nwbfile = _open(path)
    try:
        chosen = _series_of(nwbfile, path, series)
        calcium = _matrix(chosen, path)
        recording = Recording(
            calcium,
            _rate_of(chosen, path),
            spikes=_ground_truth(nwbfile, chosen, calcium.shape, path),
            name=f"{path.stem}/{chosen.name}",
            gaps=True,
            neuron_names=_roi_names(chosen),
            metadata={
                "dataset": path.stem,
                "nwb_series": chosen.name,
                "nwb_identifier": nwbfile.identifier,
                "session_description": nwbfile.session_description,
            },
        )
    finally:
        io.close()
    return [recording]


def write_nwb_spikes(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    spikes: np.ndarray,
    *,
    series: str | None = None,
    description: dict[str, Any] | None = None,
) -> None:
    """Write a copy of an NWB file with the inferred spikes added.

    `output` is the NWB file `source` plus a processing module "calspike" holding `spikes`
    as the RoiResponseSeries "inferred_spikes" over the same ROIs and times as the series
    read. The source is only read; the output appears atomically.

    Parameters
    ----------
    source : path-like
        The NWB file the traces were read from (`read_nwb`).
    output : path-like
        The NWB file to write.
    spikes : ndarray, shape (neurons, frames)
        Expected spikes per frame, one row per ROI of the series.
    series : str, optional
        The RoiResponseSeries read, as for `read_nwb`.
    description : dict, optional
        Model, settings, noise levels...: stored as JSON in the series' comments.

    Raises
    ------
    ValueError
        When `spikes` does not have the series' shape.
    DataError
        For a source that is not a readable NWB file, lacks the series, or already holds a
        "calspike" module.
    MissingExtra
        (An ImportError) When pynwb is not installed.
    """
    pynwb = require("pynwb", f"writing {output}")
    from pynwb.ophys import RoiResponseSeries

    source, output = Path(source), Path(output)
    io, nwbfile = _open(source)
    try:
        chosen = _series_of(nwbfile, source, series)
        if OUTPUT_MODULE in nwbfile.processing:
            raise DataError(
                f"{source}: already holds a '{OUTPUT_MODULE}' processing module "
                "(an output of calspike infer?); infer from the original file"
            )
        rows = np.asarray(chosen.rois.data[:])
        if spikes.shape != (rows.size, chosen.data.shape[0]):
            raise ValueError(
                f"spikes must be ({rows.size}, {chosen.data.shape[0]}), got {spikes.shape}"
            )
        region = chosen.rois.table.create_roi_table_region(
            description=f"the ROIs of {chosen.name}", region=rows.tolist(), name="rois"
        )
        timing: dict[str, Any] = (
            {"rate": float(chosen.rate), "starting_time": float(chosen.starting_time or 0.0)}
            if chosen.rate is not None
            else {"timestamps": chosen}
        )  # a link, not a copy
        inferred = RoiResponseSeries(
            name=OUTPUT_SERIES,
            data=np.ascontiguousarray(spikes.T, dtype=np.float32),
            rois=region,
            unit="spikes per frame",
            description=f"expected spikes per frame of {chosen.name}, inferred by calspike",
            comments=json.dumps(description or {}, allow_nan=True),
            **timing,
        )
        module = nwbfile.create_processing_module(OUTPUT_MODULE, "spike inference by calspike")
        module.add(inferred)
        with (
            atomic_path(output, suffix=".nwb") as temporary,
            pynwb.NWBHDF5IO(str(temporary), "w") as out,
        ):
            out.export(src_io=io, nwbfile=nwbfile)
    finally:
        io.close()
