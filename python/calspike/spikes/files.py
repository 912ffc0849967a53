"""Spike inference from files: read recordings, infer spikes for every frame, write them back.

The output keeps the input's layout (SpikeFinder CSV for CSV input, .npy otherwise) and a
JSON sidecar records the method, its settings, the model, per-neuron noise levels and the
SHA-256 of every file written, so `calspike score` can tell a complete output from one
left by an interrupted run. Outputs are checked before any data is read: never an input,
never a file or folder that calspike did not write.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike._io import (
    UsageError,
    atomic_folder,
    atomic_path,
    check_not_input,
    file_digest,
    write_text,
)
from calspike.data import Recording, load_recordings, write_spikefinder_csv
from calspike.data.chunked import Rows, ZarrWriter, is_chunked_source, open_rows, split_hdf5
from calspike.data.npy_stream import NpyWriter
from calspike.data.recording import warn_empty_neurons
from calspike.data.suite2p import NEUROPIL_COEFFICIENT, is_suite2p_plane, read_suite2p
from calspike.spikes import budget
from calspike.spikes.estimator import Estimator, dropped_frames, estimates

SIDECAR = "calspike-infer.json"  # in a prediction folder; a file's sidecar is FILE.json
WORKING_BYTES = budget.WORKING_BYTES  # per chunk of neurons


def check_outputs(source: Path, output: Path, *, suite2p: bool | None = None) -> str:
    """The output layout for `source`: "folder", "csv", "npy", "zarr" or "nwb".

    UsageError before any work when `output` is unusable: an input, a folder or file calspike
    did not write, the wrong type.
    """
    hdf5 = split_hdf5(source)
    if not (hdf5[0] if hdf5 else source).exists():
        raise FileNotFoundError(f"input not found: {hdf5[0] if hdf5 else source}")
    if output.name in ("", ".", ".."):  # `-o .`, `-o /`, `-o ..`: a place, not a name
        raise UsageError(
            f"output {output} is a folder you already have; name a new file or folder in it"
        )
    plane = False if hdf5 else is_suite2p_plane(source) if suite2p is None else suite2p
    if source.suffix.lower() == ".nwb":
        layout = "nwb"
    elif is_chunked_source(source) and output.suffix.lower() == ".zarr":
        layout = "zarr"
    elif is_chunked_source(source):
        layout = "npy"
    elif source.is_dir() and not plane:
        layout = "folder"
    elif not plane and source.name.endswith(".calcium.csv"):
        layout = "csv"
    else:
        layout = "npy"
    check_not_input(
        [output, sidecar_path(output, layout)],
        [hdf5[0] if hdf5 else source, *_files_read(source, layout)],
        inside_allowed=layout not in ("folder", "zarr"),
    )
    sidecar = sidecar_path(
        output, layout
    )  # written beside the output: the user's file there is refused too
    if (
        layout != "folder"
        and (sidecar.exists() or sidecar.is_symlink())
        and _our_record(sidecar) is None
    ):
        raise UsageError(
            f"{sidecar} exists and calspike did not write it (the sidecar of {output.name} goes "
            "there); choose another output name"
        )
    if layout in ("folder", "zarr"):
        from calspike._io import check_folder_target

        check_folder_target(output, "output folder" if layout == "folder" else "output zarr array")
        return layout
    if output.is_dir():
        raise UsageError(f"output {output} is a folder; give a .{layout} file path")
    if output.suffix != f".{layout}":
        what = {"npy": "array or suite2p", "csv": "SpikeFinder CSV", "nwb": "NWB"}[layout]
        also = " (or a .zarr)" if layout == "npy" and is_chunked_source(source) else ""
        raise UsageError(f"output for {what} input must be a .{layout} path{also}, got {output}")
    if not output.parent.is_dir():
        raise UsageError(f"output folder does not exist: {output.parent}")
    if output.is_symlink():
        raise UsageError(f"output {output} is a symbolic link; calspike writes only to a real path")
    if output.exists() and not _written_by_calspike(output):
        raise UsageError(
            f"output {output} exists and calspike did not write it (no matching "
            f"{sidecar_path(output, layout).name}); choose another name"
        )
    return layout


def _files_read(source: Path, layout: str) -> list[Path]:
    """Every file an input may be read from: a folder's files, a SpikeFinder CSV's ground truth."""
    if split_hdf5(source):
        return []
    if source.is_dir():
        return [entry for entry in source.iterdir() if entry.is_file()]
    if layout == "csv":
        return [source.with_name(source.name.replace(".calcium.csv", ".spikes.csv"))]
    return []


def sidecar_path(output: Path, layout: str) -> Path:
    """Where the JSON sidecar of an output goes (beside a file or a zarr folder, inside a folder)."""
    return output / SIDECAR if layout == "folder" else output.with_name(output.name + ".json")


def _our_record(sidecar: Path) -> dict[str, Any] | None:
    """The record in a sidecar calspike wrote (a JSON object naming calspike and its files), else None."""
    try:
        fits = sidecar.is_file() and not sidecar.is_symlink() and sidecar.stat().st_size < 1 << 26
        record = json.loads(sidecar.read_text()) if fits else None
    except (OSError, ValueError):
        return None
    return (
        record
        if isinstance(record, dict)
        and "calspike" in record
        and isinstance(record.get("files"), dict)
        else None
    )


def _written_by_calspike(output: Path) -> bool:
    record = _our_record(output.with_name(output.name + ".json"))
    return record is not None and output.name in record["files"]


def infer(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    method: str = "model",
    rate: float | None = None,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    p: int = 1,
    threads: int = 0,
    chunk_neurons: int = 256,
    neuropil: float = NEUROPIL_COEFFICIENT,
    baseline: str = "running-percentile",
    cells_only: bool = True,
    series: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> list[Path]:
    """Infer spikes for every frame of every neuron in `source` and write them to `output`.

    The settings are those of ``calspike infer`` (`calspike.config`), with the same
    defaults.

    Parameters
    ----------
    source : path-like
        A SpikeFinder folder or ``N.{train,test}.calcium.csv`` file; a ``.npy``/``.npz``/
        ``.csv`` array of (neurons, frames) (with `rate`, Hz, unless the file stores one); a
        ``.zarr`` array or an HDF5 dataset ``file.h5:/path`` (neurons, frames; the rate from
        its attributes or `rate`); an NWB file; or a suite2p plane folder (F.npy, Fneu.npy,
        iscell.npy, ops.npy). NaN frames inside a trace are dropped frames: filled for
        inference and NaN in the output. A ``.npy``, ``.zarr`` or HDF5 input is read a chunk
        of neurons at a time, so its size does not count toward memory.
    output : path-like
        A new (or calspike-written) folder for a SpikeFinder folder (``N.{split}.spikes.csv``
        per dataset); a ``.csv`` path for one SpikeFinder CSV; a ``.nwb`` path for an NWB
        input (the input plus a processing module "calspike" with the inferred spikes); a
        ``.zarr`` path (for a .npy, .zarr or HDF5 input) or a ``.npy`` path otherwise (for
        suite2p: one row per ROI of F.npy, NaN for ROIs not inferred).
    method : {"model", "oasis"}
        "model": the spike-rate model, expected spikes per frame; "oasis": `deconvolve`,
        spike amplitude per frame in the trace's units, AR order `p`.
    rate : float, optional
        Frame rate in Hz, for inputs that do not store one (SpikeFinder files: 100 Hz).
    model : path-like, optional
        A rate-model checkpoint (``calspike train-rate``); the shipped default when None.
    device : str
        "auto", "cpu", "cuda" or "cuda:i", for the model.
    p : {1, 2}
        AR order for ``method="oasis"``.
    threads : int
        C++ threads; 0 uses all cores.
    chunk_neurons : int
        Most neurons in memory at once; fewer for long traces (about 256 MiB of working
        memory per chunk).
    neuropil : float
        Suite2p input only: the neuropil coefficient (`read_suite2p`).
    baseline : {"running-percentile", "none"}
        Suite2p input only: the dF/F baseline (`read_suite2p`).
    cells_only : bool
        Suite2p input only: keep the ROIs marked as cells (`read_suite2p`).
    series : str, optional
        NWB input only: the RoiResponseSeries to read (default: DfOverF's, else
        Fluorescence's).
    scheduler : str, optional
        Run the chunks on the Dask cluster at this address; for .npy, .zarr and HDF5 inputs.
        Same results.
    workers : int, optional
        Run the chunks on a local Dask cluster of this many processes; for .npy, .zarr and
        HDF5 inputs. Same results.
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of pathlib.Path
        The prediction files written. A folder also gets one ``calspike-infer.json``, a
        file ``FILE.json``, written last, with the settings, per-neuron noise levels and
        SHA-256 digests of the files.

    Raises
    ------
    ValueError
        For a bad setting (naming it).
    UsageError
        (A ValueError) Before any data is read, when `output` is unusable: an input, a
        folder or file calspike did not write, or of the wrong type for the input; or
        `scheduler`/`workers` for an input that cannot be read in chunks.
    FileNotFoundError
        When `source` does not exist.
    DataError
        For malformed input files.

    Examples
    --------
    >>> import numpy as np
    >>> import calspike
    >>> traces = calspike.simulate(neurons=2, frames=3_000, rate=30.0, seed=0).calcium
    >>> np.save("traces.npy", traces)
    >>> written = calspike.infer("traces.npy", "spikes.npy", rate=30.0)
    >>> np.load("spikes.npy").shape
    (2, 3000)
    """
    from calspike import config

    rate = config.check(
        {
            "method": method,
            "rate": rate,
            "p": p,
            "threads": threads,
            "device": device,
            "chunk_neurons": chunk_neurons,
            "neuropil": neuropil,
            "baseline": baseline,
        }
    )["rate"]
    source, output = Path(source), Path(output)
    plane = is_suite2p_plane(source)
    layout = check_outputs(source, output, suite2p=plane)
    if (scheduler is not None or workers is not None) and not (
        is_chunked_source(source) and layout != "nwb"
    ):
        raise UsageError("--scheduler/--workers need a .npy, .zarr or HDF5 input")
    budget.check_cluster(scheduler, workers)
    estimator = Estimator(method, model, device, p, threads, chunk_neurons, progress)
    estimator.cluster = (
        (scheduler, workers) if scheduler is not None or workers is not None else None
    )
    from calspike._version import __version__

    record: dict[str, Any] = {
        "calspike": __version__,
        "method": method,
        "source": str(source),
        **estimator.settings(),
    }
    if layout == "nwb":
        from calspike.spikes.nwb_inference import infer_nwb

        summary, digest = infer_nwb(source, output, rate, estimator, series)
        record.update(recordings=[summary], files={output.name: digest})
        write_text(sidecar_path(output, layout), json.dumps(record, indent=2, allow_nan=True))
        return [output]
    if layout in (
        "npy",
        "csv",
        "zarr",
    ):  # one file (or zarr folder), then its sidecar, written last
        if layout in ("npy", "zarr"):
            summary, digest = _infer_array(
                source,
                output,
                rate,
                estimator,
                plane,
                {"neuropil": neuropil, "baseline": baseline, "cells_only": cells_only},
                layout,
            )
        else:
            recording = load_recordings(source, rate, gaps=True)[0]
            spikes, summary = _run(estimator, recording, output.name)
            write_spikefinder_csv(output, spikes, recording.lengths)
            digest = file_digest(output)
        record.update(recordings=[summary], files={output.name: digest})
        write_text(sidecar_path(output, layout), json.dumps(record, indent=2, allow_nan=True))
        return [output]
    recordings = load_recordings(source, rate, gaps=True)
    with atomic_folder(output, "output folder", {"kind": "predictions"}) as folder:
        summaries, files = [], {}
        for recording in recordings:
            name = f"{recording.name}.spikes.csv"
            spikes, summary = _run(estimator, recording, name)
            write_spikefinder_csv(folder / name, spikes, recording.lengths)
            summaries.append(summary)
            files[name] = file_digest(folder / name)
        record.update(recordings=summaries, files=files)
        (folder / SIDECAR).write_text(json.dumps(record, indent=2, allow_nan=True))
    return [output / name for name in files]


def _run(
    estimator: Estimator, recording: Recording, output_name: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Spikes of one whole recording and its sidecar summary."""
    start = time.perf_counter()
    _warn_empty(recording, 0)
    spikes, details = estimator(recording)
    summary = {
        "name": recording.name,
        "output": output_name,
        "neurons": recording.neurons,
        "frames": recording.frames,
        "rate_hz": recording.rate,
        "seconds": round(time.perf_counter() - start, 4),
        "dropped_frames": dropped_frames(recording),
        **details,
    }
    return spikes, summary


def _infer_array(
    source: Path,
    output: Path,
    rate: float | None,
    estimator: Estimator,
    plane: bool,
    suite2p: dict[str, Any],
    layout: str = "npy",
) -> tuple[dict[str, Any], str]:
    """Infer an array or suite2p input into a .npy (or a .zarr array), chunk by chunk.

    Written to a temporary file (folder); returns the sidecar summary and the SHA-256 of the
    values written.
    """
    with contextlib.ExitStack() as open_files:  # the input reader is closed however this ends
        return _infer_array_into(
            source, output, rate, estimator, plane, suite2p, open_files, layout
        )


@contextlib.contextmanager
def _array_writer(
    output: Path, layout: str, shape: tuple[int, int]
) -> Iterator[NpyWriter | ZarrWriter]:
    """A block writer into a temporary .npy file or zarr folder, put in `output`'s place only when whole."""
    if layout == "zarr":
        with atomic_folder(output, "output zarr array", {"kind": "predictions"}) as folder:
            yield ZarrWriter(
                folder, shape, attributes={"unit": "spikes per frame"}
            )  # the rate: once known
        return
    with atomic_path(output) as temporary:
        writer = NpyWriter(temporary, shape)
        try:
            yield writer
        finally:
            writer.close()


def _infer_array_into(
    source: Path,
    output: Path,
    rate: float | None,
    estimator: Estimator,
    plane: bool,
    suite2p: dict[str, Any],
    open_files: contextlib.ExitStack,
    layout: str,
) -> tuple[dict[str, Any], str]:
    start = time.perf_counter()
    rois: np.ndarray | None = None
    if plane:
        read = read_suite2p(
            source,
            rate,
            neuropil=suite2p["neuropil"],
            baseline=suite2p["baseline"],
            cells_only=suite2p["cells_only"],
        )
        chunks, shape, name = (
            _recording_chunks(read.recording, estimator),
            (read.total_rois, read.recording.frames),
            read.recording.name,
        )
        rois = read.rois
    elif is_chunked_source(source):
        reader = open_rows(source)
        open_files.callback(reader.close)
        rate = rate if rate is not None else reader.rate
        if rate is None:
            raise ValueError(
                f"{source}: rate (Hz) must be given for this input; it does not store one"
            )
        chunks, shape, name = (
            _npy_chunks(reader, rate, estimator),
            reader.shape,
            Path(str(source)).stem,
        )
    else:
        recording = load_recordings(source, rate, gaps=True)[0]
        chunks, shape, name = (
            _recording_chunks(recording, estimator),
            recording.calcium.shape,
            recording.name,
        )
    details: dict[str, list[Any]] = {}
    neurons_seen, dropped, rate_used = 0, 0, float("nan")
    with _array_writer(output, layout, (int(shape[0]), int(shape[1]))) as writer:
        for chunk, spikes, found in estimates(chunks, estimator, open_files, rate):
            _warn_empty(chunk, neurons_seen)
            if rois is not None:  # suite2p: rows of F.npy, NaN for the ROIs not inferred
                mine = rois[neurons_seen : neurons_seen + chunk.neurons]
                block = np.full(
                    (int(mine[-1]) + 1 - writer.written, shape[1]), np.nan, dtype=np.float32
                )
                block[mine - writer.written] = spikes
                spikes = block
            writer.write(spikes)
            neurons_seen += chunk.neurons
            dropped += dropped_frames(chunk)
            rate_used = chunk.rate
            for key, values in found.items():
                details.setdefault(key, []).extend(values)
        if writer.written < shape[0]:  # suite2p: trailing ROIs not inferred
            writer.write(np.full((shape[0] - writer.written, shape[1]), np.nan, dtype=np.float32))
        if isinstance(writer, ZarrWriter):
            writer.annotate(
                rate=rate
            )  # a zarr output comes only from a chunked input, whose rate is known
        writer.finish()
    summary: dict[str, Any] = {
        "name": name,
        "output": output.name,
        "neurons": int(shape[0]),
        "frames": int(shape[1]),
        "rate_hz": rate_used,
        "seconds": round(time.perf_counter() - start, 4),
        "dropped_frames": dropped,
        **details,
    }
    if rois is not None:
        summary.update(
            {
                "rois": rois.tolist(),
                "total_rois": int(shape[0]),
                "neuropil": suite2p["neuropil"],
                "baseline": suite2p["baseline"],
            }
        )
    return summary, writer.sha256


def _neurons_per_chunk(estimator: Estimator, frames: int, rate: float) -> int:
    """Neurons that fit WORKING_BYTES at this length (upsampling to the model's input rate costs more)."""
    input_rate = estimator.model.input_rate if estimator.method == "model" else rate
    return budget.neurons_per_chunk(
        frames, rate, input_rate, estimator.chunk_neurons, WORKING_BYTES
    )


def _recording_chunks(recording: Recording, estimator: Estimator) -> Iterator[Recording]:
    step = _neurons_per_chunk(estimator, recording.frames, recording.rate)
    for start in range(0, recording.neurons, step):
        stop = min(start + step, recording.neurons)
        yield Recording(
            recording.calcium[start:stop],
            recording.rate,
            lengths=recording.lengths[start:stop],  # type: ignore[index]
            name=recording.name,
            gaps=True,
        )


def _npy_chunks(reader: Rows, rate: float, estimator: Estimator) -> Iterator[Recording]:
    step = _neurons_per_chunk(estimator, reader.shape[1], rate)
    for start in range(0, reader.shape[0], step):
        stop = min(start + step, reader.shape[0])
        try:
            chunk = Recording(reader.rows(start, stop), rate, name=reader.path.stem, gaps=True)
        except ValueError as error:
            raise type(error)(f"{reader.path} (neurons {start}..{stop - 1}): {error}") from None
        yield chunk


def _warn_empty(recording: Recording, offset: int) -> None:
    """EmptyNeuronWarning naming the neurons (input rows) with no finite frame."""
    assert recording.lengths is not None
    empty = [
        not np.isfinite(recording.calcium[row, : int(n)]).any()
        for row, n in enumerate(recording.lengths)
    ]
    warn_empty_neurons(np.array(empty, dtype=bool), recording.name, offset, stacklevel=4)
