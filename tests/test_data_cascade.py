"""Reading CASCADE ground truth: small .mat files written here, and the real folder when set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

scipy_io = pytest.importorskip("scipy.io")

import calspike
from calspike.data import DataError, load_recordings
from calspike.data.cascade import dataset_metadata, read_ground_truth


def segment(frames: int, rate: float, spikes_s, start_s: float = 0.0, calcium=None) -> dict:
    times = start_s + np.arange(frames) / rate
    values = np.sin(np.arange(frames) / 7.0).astype(np.float32) if calcium is None else calcium
    return {"fluo_time": times[None, :], "fluo_mean": np.asarray(values, np.float32)[None, :],
            "events_AP": np.round(np.asarray(spikes_s, float) * 1e4).astype(np.int32).reshape(-1, 1)}


def write_neuron(path: Path, segments: list[dict]) -> Path:
    cells = np.empty((1, len(segments)), dtype=object)
    for k, s in enumerate(segments):
        cells[0, k] = s
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy_io.savemat(path, {"CAttached": cells})
    return path


def test_spikes_are_binned_to_the_nearest_frame_and_outside_spikes_counted(tmp_path):
    folder = tmp_path / "DS99-GCaMP8m-m-V1"
    # 100 Hz, frames at 0.00 .. 0.99 s; spikes at 0.004 (frame 0), 0.006 (frame 1), 0.5 twice
    # (frame 50), and two outside the window (before -0.005 s and after 0.995 s)
    write_neuron(folder / "CAttached_cellA_mini.mat", [segment(100, 100.0, [0.004, 0.006, 0.5, 0.5, -0.02, 1.2])])
    [recording] = read_ground_truth(folder)
    assert recording.rate == pytest.approx(100.0)
    assert recording.neuron_names == ("cellA/seg1",)
    counts = recording.spikes[0]
    assert counts[0] == 1 and counts[1] == 1 and counts[50] == 2 and counts.sum() == 4
    assert recording.metadata["spikes_outside_imaging"] == 2
    assert recording.metadata["dataset"] == "DS99" and recording.metadata["indicator"] == "jGCaMP8m"
    assert recording.metadata["species"] == "mouse" and recording.metadata["neuropil_corrected"] is False


def test_segments_are_kept_apart_or_joined_with_a_nan_gap_and_grouped_by_rate(tmp_path):
    folder = tmp_path / "DS98-GCaMP6f-zf-OB-neuropil-corrected"
    write_neuron(folder / "CAttached_n1_mini.mat", [segment(300, 30.0, [1.0]), segment(200, 30.0, [2.0, 3.0]),
                                                     segment(500, 60.0, [4.0])])
    write_neuron(folder / "CAttached_n2_mini.mat", [segment(250, 30.0, [])])
    separate = read_ground_truth(folder)
    assert [r.name for r in separate] == ["DS98@30Hz", "DS98@60Hz"]
    slow, fast = separate
    assert slow.neuron_names == ("n1/seg1", "n1/seg2", "n2/seg1")
    assert slow.lengths.tolist() == [300, 200, 250] and fast.lengths.tolist() == [500]
    assert slow.metadata["species"] == "zebrafish" and slow.metadata["neuropil_corrected"] is True
    joined = read_ground_truth(folder, segments="joined", gap_s=2.0)[0]
    assert joined.neuron_names == ("n1", "n2")
    assert joined.lengths.tolist() == [300 + 60 + 200, 250]
    row = joined.calcium[0]
    assert np.isnan(row[300:360]).all() and np.isfinite(row[:300]).all() and np.isfinite(row[360:560]).all()
    assert joined.spikes[0].sum() == 3 and joined.spikes[0, 300:360].sum() == 0
    assert joined.gaps


def test_frames_without_time_are_cut_at_the_ends_and_kept_as_dropped_frames_inside(tmp_path):
    data = segment(100, 50.0, [0.01, 1.0, 1.9])
    data["fluo_time"][0, :5] = np.nan  # leading frames without a time: cut, their spike is outside
    data["fluo_mean"][0, :5] = np.nan
    data["fluo_time"][0, 40:45] = np.nan  # inside: times interpolated, calcium NaN
    data["fluo_mean"][0, 40:45] = np.nan
    path = write_neuron(tmp_path / "CAttached_x.mat", [data])
    [recording] = read_ground_truth(path)
    assert recording.lengths.tolist() == [95] and recording.gaps
    assert np.isnan(recording.calcium[0, 35:40]).all() and recording.spikes[0].sum() == 2
    assert recording.metadata["spikes_outside_imaging"] == 1
    assert recording.metadata["dataset"] == tmp_path.name  # a folder name that is not DSxx-...: kept whole


@pytest.mark.parametrize(("build", "message"), [
    (lambda d: d.__setitem__("events_AP", np.array([[1.0], [np.nan]])), "NaN"),
    (lambda d: d.pop("fluo_time"), "no field fluo_time"),
    (lambda d: d["fluo_time"].__setitem__((0, 10), 0.0), "does not increase"),
    (lambda d: d.__setitem__("fluo_mean", np.zeros((1, 50), np.float32)), "fluo_mean 50"),
])
def test_malformed_segments_name_the_file_and_segment(tmp_path, build, message):
    bad = segment(100, 30.0, [1.0])
    build(bad)
    path = write_neuron(tmp_path / "CAttached_bad_mini.mat", [segment(100, 30.0, [1.0]), bad])
    with pytest.raises(DataError, match="CAttached_bad_mini.mat, segment 2") as error:
        read_ground_truth(path)
    assert message in str(error.value)


def test_files_that_are_not_ground_truth_are_data_errors(tmp_path):
    not_mat = tmp_path / "CAttached_text.mat"
    not_mat.write_text("hello")
    with pytest.raises(DataError, match="CAttached_text.mat: not a readable MATLAB"):
        read_ground_truth(not_mat)
    v73 = tmp_path / "v73" / "CAttached_v73.mat"  # MATLAB v7.3: HDF5 inside, which loadmat does not read
    v73.parent.mkdir()
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116, b" ")
    v73.write_bytes(header + b"\x00" * 8 + b"\x00\x02IM" + b"\x00" * 512)
    with pytest.raises(DataError, match="CAttached_v73.mat: a MATLAB v7.3"):
        read_ground_truth(v73)
    other = tmp_path / "other" / "CAttached_other.mat"
    other.parent.mkdir()
    scipy_io.savemat(other, {"something": np.zeros(3)})
    with pytest.raises(DataError, match="no variable CAttached"):
        read_ground_truth(other)
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="x.csv: not a MATLAB .mat file"):
        read_ground_truth(tmp_path / "x.csv")
    with pytest.raises(DataError, match="no CAttached_"):
        read_ground_truth(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_load_recordings_and_the_package_face_read_ground_truth(tmp_path):
    folder = tmp_path / "gt" / "DS97-GCaMP6s-m-V1"
    write_neuron(folder / "CAttached_a_mini.mat", [segment(400, 60.0, [1.0, 2.0])])
    for source in (tmp_path / "gt", folder, folder / "CAttached_a_mini.mat"):
        [recording] = load_recordings(source)
        assert recording.spikes.sum() == 2 and recording.metadata["indicator"] == "GCaMP6s"
    assert calspike.read_ground_truth is read_ground_truth
    assert dataset_metadata("DS31-GCaMP8m-m-V1")["indicator"] == "jGCaMP8m"


def test_the_real_ground_truth_reads_whole(cascade_dir):
    recordings = read_ground_truth(cascade_dir)
    datasets = {r.metadata["dataset"] for r in recordings}
    assert len(datasets) == 13
    hours = sum(r.lengths.sum() / r.rate for r in recordings) / 3600
    assert 29.0 < hours < 29.9  # the README's 1,766 minutes
    inside = sum(r.spikes.sum() for r in recordings)
    outside = sum(r.metadata["spikes_outside_imaging"] for r in recordings)
    assert inside + outside == 97_380  # every spike accounted for
    assert 0.01 < outside / (inside + outside) < 0.03  # "about 2 %"
    neurons = {(r.metadata["dataset"], n.split("/")[0]) for r in recordings for n in r.neuron_names}
    assert len(neurons) == 212
    assert {r.metadata["indicator"] for r in recordings} == {"GCaMP6f", "GCaMP6s", "jGCaMP7f", "jGCaMP8f",
                                                            "jGCaMP8m", "jGCaMP8s"}
