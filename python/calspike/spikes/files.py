"""Spike inference from files: read recordings, infer spikes for every frame, write them back.

The output keeps the input's layout (SpikeFinder CSV for CSV input, .npy otherwise) and a
JSON sidecar records the method, its settings, the model, per-neuron noise levels and the
SHA-256 of every file written (`calspike.spikes.outputs`). Arrays and suite2p planes are
inferred chunk by chunk (`array_inference`), NWB files into a copy (`nwb_inference`); the
method is one of `calspike.spikes.registry`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike._io import (
    UsageError,
    atomic_folder,
    atomic_path,
    before_replacing,
    file_digest,
    write_text,
)
from calspike.data import Recording, load_recordings, write_spikefinder_csv
from calspike.data.chunked import is_chunked_source
from calspike.data.suite2p import NEUROPIL_COEFFICIENT, is_suite2p_plane
from calspike.spikes import budget
from calspike.spikes.chunks import Tally, estimate, warn_empty
from calspike.spikes.method import MethodSettings, SpikeMethod
from calspike.spikes.outputs import SIDECAR, check_outputs, sidecar_path, sidecar_text
from calspike.spikes.registry import build_method
from calspike.spikes.runner import Cluster


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
    if series is not None and layout != "nwb":
        raise UsageError(f"series names a series of an NWB input; {source} is not one")
    cluster = None if scheduler is None and workers is None else Cluster(scheduler, workers)
    if cluster is not None and not (is_chunked_source(source) and layout != "nwb"):
        raise UsageError("--scheduler/--workers need a .npy, .zarr or HDF5 input")
    budget.check_cluster(scheduler, workers)
    settings = MethodSettings(
        model=None if model is None else Path(model),
        device=device,
        p=p,
        threads=threads,
        chunk_neurons=chunk_neurons,
        progress=progress,
    )
    spike_method = build_method(method, settings)
    from calspike._version import __version__

    record: dict[str, Any] = {
        "calspike": __version__,
        "method": method,
        "source": str(source),
        **spike_method.recorded_settings(),  # the model is read here, before any work
    }
    if layout == "folder":
        return _infer_folder(source, output, rate, spike_method, record)
    sidecar = sidecar_path(output, layout)
    with _pending(sidecar, output, record):
        if layout == "nwb":
            from calspike.spikes.nwb_inference import infer_nwb

            summary, digest = infer_nwb(source, output, rate, spike_method, series)
        elif layout in ("npy", "zarr"):
            from calspike.spikes.array_inference import infer_array

            summary, digest = infer_array(
                source,
                output,
                rate,
                spike_method,
                suite2p={"neuropil": neuropil, "baseline": baseline, "cells_only": cells_only}
                if plane
                else None,
                layout=layout,
                cluster=cluster,
            )
        else:  # one SpikeFinder CSV
            recording = load_recordings(source, rate, gaps=True)[0]
            spikes, summary = _whole(spike_method, recording, output.name)
            write_spikefinder_csv(output, spikes, recording.lengths)
            digest = file_digest(output)
    record.update(recordings=[summary], files={output.name: digest})
    write_text(sidecar, sidecar_text(record))
    return [output]


@contextlib.contextmanager
def _pending(sidecar: Path, output: Path, record: dict[str, Any]) -> Iterator[None]:
    """A sidecar marked pending while `output` is written.

    So the output never stands without a calspike sidecar beside it: a run killed after the
    output took its place leaves the pending one, which `score` refuses and the next `infer`
    replaces. It lists the digests the output may have then (the previous output's, and the
    new one's once whole, before its rename), so a file put there since is not replaced. On
    an error (the writers rename last, so the output is as it was) the previous sidecar is
    put back.
    """
    previous = sidecar.read_bytes() if sidecar.is_file() else None
    # the output there was calspike's (`check_outputs`): a killed run may leave it, or the new
    accepted = [file_digest(output)] if output.is_file() else []
    pending = {**record, "pending": "an infer run that did not finish"}
    write_text(sidecar, sidecar_text({**pending, "files": {output.name: accepted}}))

    def whole(temporary: Path) -> None:  # the new output, before its rename
        listed = [*accepted, file_digest(temporary)]
        write_text(sidecar, sidecar_text({**pending, "files": {output.name: listed}}))

    try:
        with before_replacing(output, whole):
            yield
    except BaseException:
        if previous is None:
            sidecar.unlink(missing_ok=True)
        else:
            with atomic_path(sidecar) as temporary:
                temporary.write_bytes(previous)
        raise


def _infer_folder(
    source: Path, output: Path, rate: float | None, method: SpikeMethod, record: dict[str, Any]
) -> list[Path]:
    """A SpikeFinder folder into a new folder: N.{split}.spikes.csv each, the sidecar last."""
    recordings = load_recordings(source, rate, gaps=True)
    with atomic_folder(output, "output folder", {"kind": "predictions"}) as folder:
        summaries, files = [], {}
        for recording in recordings:
            name = f"{recording.name}.spikes.csv"
            spikes, summary = _whole(method, recording, name)
            write_spikefinder_csv(folder / name, spikes, recording.lengths)
            summaries.append(summary)
            files[name] = file_digest(folder / name)
        record.update(recordings=summaries, files=files)
        (folder / SIDECAR).write_text(sidecar_text(record))
    return [output / name for name in files]


def _whole(
    method: SpikeMethod, recording: Recording, output_name: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Spikes of one whole recording (one chunk) and its sidecar summary."""
    tally = Tally()
    warn_empty(recording, 0)
    spikes, details = estimate(method, recording)
    tally.add(recording, details)
    return spikes, tally.summary(recording.name, output_name, recording.neurons, recording.frames)
