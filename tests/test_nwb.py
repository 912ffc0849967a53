"""NWB in and out: traces read from an ophys RoiResponseSeries, spikes written to a new file
that is the input plus a processing module; bad NWB input named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import calspike
from calspike.cli import main

pynwb = pytest.importorskip("pynwb")


def write_session(
    path: Path,
    calcium: np.ndarray,
    rate: float | None = 30.0,
    *,
    interface: str = "DfOverF",
    name: str = "dff",
    timestamps: np.ndarray | None = None,
    counts: np.ndarray | None = None,
    ophys: bool = True,
) -> Path:
    """A small NWB file with (neurons, frames) traces as an ophys RoiResponseSeries.

    Built with pynwb.
    """
    from pynwb.ophys import (
        DfOverF,
        Fluorescence,
        ImageSegmentation,
        OpticalChannel,
        RoiResponseSeries,
    )

    nwbfile = pynwb.NWBFile(
        session_description="simulated session",
        identifier="calspike-test",
        session_start_time=datetime(2026, 1, 1, tzinfo=UTC),
        subject=pynwb.file.Subject(subject_id="m1", species="Mus musculus", sex="F", age="P90D"),
    )
    if ophys:
        device = nwbfile.create_device(name="microscope")
        channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)
        plane = nwbfile.create_imaging_plane(
            name="plane",
            optical_channel=channel,
            description="L2/3",
            device=device,
            excitation_lambda=920.0,
            indicator="GCaMP6s",
            location="V1",
            imaging_rate=rate or 30.0,
        )
        segmentation = ImageSegmentation()
        rois = segmentation.create_plane_segmentation(
            description="rois", imaging_plane=plane, name="cells"
        )
        for k in range(calcium.shape[0]):
            rois.add_roi(id=100 + k, pixel_mask=[(k, k, 1.0)])
        module = nwbfile.create_processing_module("ophys", "optical physiology")
        module.add(segmentation)
        region = rois.create_roi_table_region(
            description="all ROIs", region=list(range(calcium.shape[0]))
        )
        timing = {"rate": rate} if timestamps is None else {"timestamps": timestamps}
        series = RoiResponseSeries(
            name=name, data=calcium.T.copy(), rois=region, unit="dF/F", **timing
        )
        container = (DfOverF if interface == "DfOverF" else Fluorescence)()
        module.add(
            container
        )  # in the file before the series joins it, so its ROI table shares an ancestor
        container.add_roi_response_series(series)
        if counts is not None:
            module.add(
                pynwb.TimeSeries(name="spike_counts", data=counts.T.copy(), unit="spikes", **timing)
            )
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@pytest.fixture()
def session(tmp_path) -> tuple[Path, calspike.Recording]:
    recording = calspike.simulate(5, 1500, 30.0, seed=3)
    return write_session(
        tmp_path / "session.nwb", recording.calcium, counts=recording.spikes
    ), recording


def test_read_nwb_gives_the_traces_rate_rois_and_ground_truth(session):
    path, simulated = session
    recording = calspike.read_nwb(path)[0]
    assert np.array_equal(recording.calcium, simulated.calcium) and recording.rate == 30.0
    assert np.array_equal(recording.spikes, simulated.spikes)
    assert recording.neuron_names == tuple(str(100 + k) for k in range(5))
    assert (
        recording.metadata["nwb_series"] == "dff"
        and recording.metadata["nwb_identifier"] == "calspike-test"
    )
    assert calspike.load_recordings(path)[0].calcium.shape == (5, 1500)


def test_rate_from_regular_timestamps(tmp_path):
    calcium = calspike.simulate(2, 400, 20.0, seed=1).calcium
    path = write_session(
        tmp_path / "t.nwb",
        calcium,
        None,
        timestamps=10.0 + np.arange(400) / 20.0,
        interface="Fluorescence",
        name="F",
    )
    assert calspike.read_nwb(path)[0].rate == pytest.approx(20.0)


@pytest.mark.parametrize("method", ["model", "oasis"])
def test_infer_round_trip_writes_the_input_plus_spikes(session, tmp_path, method):
    path, simulated = session
    before = path.read_bytes()
    out = tmp_path / "out.nwb"
    assert main(["infer", str(path), "-o", str(out), "--method", method, "--no-progress"]) == 0
    assert path.read_bytes() == before  # the input is never modified
    np.save(tmp_path / "same.npy", simulated.calcium)  # the same traces as a plain array
    calspike.infer(tmp_path / "same.npy", tmp_path / "same_out.npy", method=method, rate=30.0)
    reference = np.load(tmp_path / "same_out.npy")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        series = nwbfile.processing["calspike"]["inferred_spikes"]
        spikes = np.asarray(series.data[:]).T
        assert series.rate == 30.0 and series.unit == "spikes per frame"
        assert list(series.rois.table.id[:]) == [100 + k for k in range(5)]
        assert np.allclose(spikes, reference, equal_nan=True)
        comments = json.loads(series.comments)
        assert comments["method"] == method and len(comments["noise_level"]) == 5
        assert np.array_equal(
            np.asarray(nwbfile.processing["ophys"]["DfOverF"]["dff"].data[:]).T, simulated.calcium
        )
    sidecar = json.loads((tmp_path / "out.nwb.json").read_text())
    assert sidecar["recordings"][0]["series"] == "dff" and "out.nwb" in sidecar["files"]


def test_the_output_passes_nwbinspector_without_critical_findings(session, tmp_path):
    inspector = pytest.importorskip("nwbinspector")
    path, _ = session

    def critical(file: Path) -> list[str]:
        return [
            f"{m.location}: {m.message}"
            for m in inspector.inspect_nwbfile(nwbfile_path=str(file))
            if m.importance.name in ("CRITICAL", "PYNWB_VALIDATION", "ERROR")
        ]

    assert critical(path) == []  # the input is clean, so anything found would be calspike's
    out = tmp_path / "out.nwb"
    assert main(["infer", str(path), "-o", str(out), "--method", "oasis"]) == 0
    assert critical(out) == []


def test_series_is_chosen_by_name(tmp_path, capsys):
    calcium = calspike.simulate(3, 600, 30.0, seed=2).calcium
    path = write_session(tmp_path / "f.nwb", calcium, interface="Fluorescence", name="raw_F")
    assert calspike.read_nwb(path, series="raw_F")[0].metadata["nwb_series"] == "raw_F"
    assert main(["infer", str(path), "-o", str(tmp_path / "o.nwb"), "--series", "nope"]) == 1
    assert "no RoiResponseSeries named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_ophys", "no 'ophys' processing module"),
        ("irregular", "irregular timestamps"),
        ("not_nwb", "not a readable NWB file"),
    ],
)
def test_bad_nwb_input_is_named(tmp_path, case, message):
    calcium = calspike.simulate(2, 300, 30.0, seed=4).calcium
    path = tmp_path / f"{case}.nwb"
    if case == "no_ophys":
        write_session(path, calcium, ophys=False)
    elif case == "irregular":
        times = np.cumsum(np.random.default_rng(0).uniform(0.01, 0.05, 300))
        write_session(path, calcium, None, timestamps=times)
    else:
        path.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(calspike.DataError, match=message) as error:
        calspike.read_nwb(path)
    assert str(path) in str(error.value)


def test_output_must_be_nwb_and_never_the_input(session, tmp_path):
    path, _ = session
    with pytest.raises(SystemExit) as code:
        main(["infer", str(path), "-o", str(tmp_path / "out.npy")])
    assert code.value.code == 2
    with pytest.raises(SystemExit) as code:
        main(["infer", str(path), "-o", str(path)])
    assert code.value.code == 2


def test_train_rate_reads_ground_truth_from_nwb(session, tmp_path):
    path, _ = session
    assert (
        main(
            [
                "train-rate",
                str(path),
                "-o",
                str(tmp_path / "m.pt"),
                "--epochs",
                "1",
                "--validation",
                "0",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (tmp_path / "m.pt").is_file()
