"""Reading CASCADE ground truth: small .mat files written here, and the real folder when set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import calspike
from calspike.data import DataError, load_recordings
from calspike.data.cascade import dataset_metadata, read_ground_truth

scipy_io = pytest.importorskip("scipy.io")


def segment(frames: int, rate: float, spikes_s, start_s: float = 0.0, calcium=None) -> dict:
    times = start_s + np.arange(frames) / rate
    values = np.sin(np.arange(frames) / 7.0).astype(np.float32) if calcium is None else calcium
    return {
        "fluo_time": times[None, :],
        "fluo_mean": np.asarray(values, np.float32)[None, :],
        "events_AP": np.round(np.asarray(spikes_s, float) * 1e4).astype(np.int32).reshape(-1, 1),
    }


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
    write_neuron(
        folder / "CAttached_cellA_mini.mat",
        [segment(100, 100.0, [0.004, 0.006, 0.5, 0.5, -0.02, 1.2])],
    )
    [recording] = read_ground_truth(folder)
    assert recording.rate == pytest.approx(100.0)
    assert recording.neuron_names == ("cellA/seg1",)
    counts = recording.spikes[0]
    assert counts[0] == 1 and counts[1] == 1 and counts[50] == 2 and counts.sum() == 4
    assert recording.metadata["spikes_outside_imaging"] == 2
    assert recording.metadata["dataset"] == "DS99" and recording.metadata["indicator"] == "jGCaMP8m"
    assert (
        recording.metadata["species"] == "mouse"
        and recording.metadata["neuropil_corrected"] is False
    )


def test_segments_are_kept_apart_or_joined_with_a_nan_gap_and_grouped_by_rate(tmp_path):
    folder = tmp_path / "DS98-GCaMP6f-zf-OB-neuropil-corrected"
    write_neuron(
        folder / "CAttached_n1_mini.mat",
        [segment(300, 30.0, [1.0]), segment(200, 30.0, [2.0, 3.0]), segment(500, 60.0, [4.0])],
    )
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
    assert (
        np.isnan(row[300:360]).all()
        and np.isfinite(row[:300]).all()
        and np.isfinite(row[360:560]).all()
    )
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
    assert (
        recording.metadata["dataset"] == tmp_path.name
    )  # a folder name that is not DSxx-...: kept whole


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda d: d.__setitem__("events_AP", np.array([[1.0], [np.inf]])), "infinite spike times"),
        (lambda d: d.pop("fluo_time"), "no field fluo_time"),
        (lambda d: d["fluo_time"].__setitem__((0, 10), 0.0), "does not increase"),
        (lambda d: d.__setitem__("fluo_mean", np.zeros((1, 50), np.float32)), "fluo_mean only 50"),
        (lambda d: d["fluo_time"].__setitem__((0, 10), np.inf), "infinite values"),
    ],
)
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
    v73 = (
        tmp_path / "v73" / "CAttached_v73.mat"
    )  # MATLAB v7.3: HDF5 inside, which loadmat does not read
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
    with pytest.raises(DataError, match="no CASCADE neuron files"):
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


def test_every_mini_file_is_a_neuron_whatever_its_prefix(tmp_path):
    folder = tmp_path / "DS24-GCaMP6f-m-PV-V1"
    write_neuron(folder / "CAttachedPVVitro05_Cell01_mini.mat", [segment(300, 27.0, [1.0])])
    write_neuron(folder / "CAttached_b_mini.mat", [segment(300, 27.0, [2.0])])
    write_neuron(folder / "other_mini.mat", [segment(300, 27.0, [3.0])])
    (folder / "notes.txt").write_text("not a neuron")
    [recording] = read_ground_truth(tmp_path)
    assert recording.neuron_names == ("PVVitro05_Cell01/seg1", "b/seg1", "other/seg1")
    meta = recording.metadata
    assert (meta["dataset"], meta["indicator"], meta["area"]) == ("DS24", "GCaMP6f", "PV-V1")
    assert load_recordings(tmp_path)[0].neurons == 3  # the folder is recognised as ground truth


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("DS02-OGB1-2-m-V1", ("DS02", "OGB-1", "mouse", "V1")),
        ("DS18-R-CaMP-m-CA3", ("DS18", "R-CaMP1.07", "mouse", "CA3")),
        (
            "DS40-GCaMP6s-spinal-cord-excitatory",
            ("DS40", "GCaMP6s", "unknown", "spinal-cord-excitatory"),
        ),
        ("DS13-GCaMP6s-m-V1-neuropil-corrected", ("DS13", "GCaMP6s", "mouse", "V1")),
        ("DS05--m-V1", ("DS05", "unknown", "mouse", "V1")),  # a missing indicator: no empty names
        ("DS09-GCaMP6f--V1-", ("DS09", "GCaMP6f", "unknown", "V1")),
    ],
)
def test_dataset_folder_names_with_hyphens_in_their_parts(folder, expected):
    meta = dataset_metadata(folder)
    assert (meta["dataset"], meta["indicator"], meta["species"], meta["area"]) == expected


def test_fluo_mean_longer_than_fluo_time_is_cut_to_it_and_counted(tmp_path):
    long = segment(100, 8.0, [1.0, 5.0])
    long["fluo_mean"] = np.arange(180, dtype=np.float32)[None, :]  # 80 values past the last time
    [recording] = read_ground_truth(
        write_neuron(tmp_path / "DS04-OGB1-zf-pDp" / "CAttached_a_mini.mat", [long])
    )
    assert recording.lengths.tolist() == [100] and recording.calcium[0, 99] == 99
    assert recording.metadata["fluo_mean_values_cut"] == 80 and recording.spikes.sum() == 2


def test_nan_spike_times_are_dropped_counted_and_named_in_a_warning(tmp_path):
    data = segment(200, 60.0, [0.5, 1.0, 2.0])
    data["events_AP"] = np.array([[5000.0], [np.nan], [10000.0], [np.nan], [20000.0]])
    path = write_neuron(
        tmp_path / "DS15-GCaMP6s-m-V1" / "CAttached_c_mini.mat", [segment(100, 60.0, []), data]
    )
    with pytest.warns(
        calspike.DataWarning,
        match=r"CAttached_c_mini.mat: dropped 2 NaN spike time\(s\) .*segment 2\)",
    ) as said:
        [recording] = read_ground_truth(path)
    assert said[0].filename == __file__  # the warning points at the caller
    assert recording.spikes.sum() == 3 and recording.metadata["nan_spike_times_dropped"] == 2


def test_segments_without_imaging_are_passed_over_and_counted(tmp_path):
    ephys = segment(100, 30.0, [1.0])
    ephys["fluo_time"], ephys["fluo_mean"] = np.zeros((1, 0)), np.zeros((1, 0), np.float32)
    unimaged = segment(100, 30.0, [1.0], calcium=np.full(100, np.nan, np.float32))
    folder = tmp_path / "DS40-GCaMP6s-spinal-cord-excitatory"
    write_neuron(folder / "CAttached_d_mini.mat", [ephys, segment(90, 30.0, [1.0]), unimaged])
    [recording] = read_ground_truth(folder)
    assert recording.neuron_names == ("d/seg1",) and recording.lengths.tolist() == [90]
    assert recording.metadata["dataset_segments_without_imaging"] == 2
    write_neuron(tmp_path / "only_ephys" / "CAttached_e_mini.mat", [ephys])
    with pytest.raises(
        DataError, match="only_ephys: no segment of CAttached_e_mini.mat holds imaging"
    ):
        read_ground_truth(tmp_path / "only_ephys")


def test_a_repeated_last_frame_time_is_cut_and_counted(tmp_path):
    data = segment(100, 27.0, [1.0])
    data["fluo_time"][0, -1] = data["fluo_time"][0, -2]  # DS24-DS27's last frame repeats its time
    [recording] = read_ground_truth(write_neuron(tmp_path / "CAttached_f_mini.mat", [data]))
    assert (
        recording.lengths.tolist() == [99]
        and recording.metadata["end_frames_with_repeated_time_cut"] == 1
    )


def test_times_that_go_back_anywhere_but_a_repeated_last_frame_are_data_errors(tmp_path):
    back = segment(100, 27.0, [1.0])
    back["fluo_time"][0, -1] = 0.5  # the clock goes back at the end: not a repeat
    with pytest.raises(DataError, match="fluo_time does not increase at frame 100 of the segment"):
        read_ground_truth(write_neuron(tmp_path / "a" / "CAttached_a_mini.mat", [back]))
    gap = segment(100, 27.0, [1.0])
    gap["fluo_time"][0, 5:10] = np.nan
    gap["fluo_time"][0, 20] = gap["fluo_time"][0, 19]  # frame 21, counted from 1
    with pytest.raises(DataError, match="does not increase at frame 21 of"):
        read_ground_truth(write_neuron(tmp_path / "b" / "CAttached_b_mini.mat", [gap]))


def test_a_struct_array_is_read_whole_and_odd_shapes_are_errors(tmp_path):
    parts = [segment(100, 30.0, [1.0]), segment(120, 30.0, [2.0, 3.0]), segment(80, 30.0, [])]
    structs = np.empty(
        (1, 3), dtype=[("fluo_time", object), ("fluo_mean", object), ("events_AP", object)]
    )
    for k, part in enumerate(parts):
        structs[0, k] = (part["fluo_time"], part["fluo_mean"], part["events_AP"])
    path = tmp_path / "s" / "CAttached_s_mini.mat"
    path.parent.mkdir()
    scipy_io.savemat(path, {"CAttached": structs})
    [recording] = read_ground_truth(path)
    assert recording.lengths.tolist() == [100, 120, 80] and recording.spikes.sum() == 3
    wide = segment(100, 30.0, [1.0])
    wide["fluo_mean"] = np.zeros((2, 100), np.float32)
    with pytest.raises(
        DataError, match=r"segment 1: fluo_mean must be a vector, got shape \(2, 100\)"
    ):
        read_ground_truth(write_neuron(tmp_path / "w" / "CAttached_w_mini.mat", [wide]))


def test_two_files_of_one_neuron_are_a_data_error(tmp_path):
    folder = tmp_path / "DS01-OGB1-m-V1"
    write_neuron(folder / "CAttached_a_mini.mat", [segment(100, 30.0, [1.0])])
    write_neuron(folder / "a_mini.mat", [segment(100, 30.0, [1.0])])
    with pytest.raises(DataError, match="CAttached_a_mini.mat, a_mini.mat all name neuron 'a'"):
        read_ground_truth(folder)


def test_segments_of_one_neuron_at_slow_and_fast_rates(tmp_path):
    folder = tmp_path / "DS41-GCaMP6s-spinal-cord-inhibitory"
    write_neuron(
        folder / "CAttached_g_mini.mat",
        [segment(50, 2.5, [3.0, 10.0]), segment(5000, 500.0, [1.0])],
    )
    slow, fast = read_ground_truth(folder)
    assert (slow.rate, fast.rate) == (pytest.approx(2.5), pytest.approx(500.0))
    assert slow.name == "DS41@2.5Hz" and slow.spikes.sum() == 2 and fast.spikes.sum() == 1


def _readme_table(cascade_dir: Path) -> dict[str, tuple[int, int]]:
    """(neurons, spikes) of each dataset folder, from the collection's README table."""
    table = {}
    for line in (cascade_dir / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| DS") and len(cells) >= 6:
            table[cells[0]] = (int(cells[3]), int(cells[5].replace(",", "")))
    return table


def test_the_real_ground_truth_reads_whole(cascade_dir):
    with pytest.warns(calspike.DataWarning, match="NaN spike time"):  # DS15's, named
        recordings = read_ground_truth(cascade_dir)
    table = _readme_table(cascade_dir)
    assert len(table) == 33
    neurons: dict[str, set[str]] = {}
    spikes: dict[str, float] = {}
    for r in recordings:
        folder = r.metadata["folder"]
        neurons.setdefault(folder, set()).update(n.split("/")[0] for n in r.neuron_names)
        spikes[folder] = (
            spikes.get(folder, 0)
            + r.spikes.sum()
            + r.metadata["spikes_outside_imaging"]
            + r.metadata["nan_spike_times_dropped"]
        )  # the README counts every entry
    assert {folder: len(names) for folder, names in neurons.items()} == {
        f: n for f, (n, _) in table.items()
    }
    assert spikes == {f: s for f, (_, s) in table.items()}
    hours = sum(r.lengths.sum() / r.rate for r in recordings) / 3600
    assert 58.6 < hours < 58.9  # the README's 3,527 minutes
    outside = sum(r.metadata["spikes_outside_imaging"] for r in recordings)
    assert 0.005 < outside / sum(spikes.values()) < 0.03  # "about 2 %"
    assert sum(r.metadata["fluo_mean_values_cut"] for r in recordings) > 0  # DS04, DS05
    rates = [r.rate for r in recordings]
    assert min(rates) < 3 and max(rates) > 450  # 2.5 Hz to 500 Hz
    assert {r.metadata["indicator"] for r in recordings} == {
        "OGB-1",
        "Cal-520",
        "GCaMP6f",
        "GCaMP6s",
        "jGCaMP7f",
        "jGCaMP8f",
        "jGCaMP8m",
        "jGCaMP8s",
        "R-CaMP1.07",
        "jRCaMP1a",
        "jRGECO1a",
        "XCaMP-Gf",
        "jGCaMP7f/8f/8m/8s, XCaMP-Gf",
    }  # the last: DS33's interneurons
