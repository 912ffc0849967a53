"""Recording, the SpikeFinder reader and writer, plain array files, the simulator."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import calspike
from calspike import DataError, Recording

# --- Recording ---------------------------------------------------------------------------------


def test_recording_converts_once_validates_and_is_read_only():
    calcium = np.random.default_rng(0).standard_normal((3, 100))
    calcium[1, 60:] = np.nan
    recording = Recording(calcium, 30)
    assert recording.calcium.dtype == np.float32 and recording.calcium.flags.c_contiguous
    assert recording.lengths.tolist() == [100, 60, 100]
    assert recording.rate == 30.0 and isinstance(recording.rate, float)
    with pytest.raises(ValueError, match="read-only"):
        recording.calcium[0, 0] = 1
    with pytest.raises(AttributeError):
        recording.rate = 10  # type: ignore[misc]
    assert recording.trace(1).shape == (60,)
    assert recording.duration_s == pytest.approx(100 / 30)
    assert "neurons=3" in repr(recording)


def test_recording_shares_float32_c_arrays_without_copy():
    calcium = np.zeros((2, 10), dtype=np.float32)
    recording = Recording(calcium, 10)
    assert np.shares_memory(recording.calcium, calcium)
    assert calcium.flags.writeable  # the caller's own array is untouched


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calcium": np.zeros(10)}, "2-D"),
        ({"calcium": np.zeros((0, 10))}, "at least one"),
        ({"calcium": np.array([["x"]])}, "numeric"),
        ({"rate": 0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": "100"}, "rate"),
        ({"spikes": np.zeros((2, 9))}, "shape"),
        ({"spikes": -np.ones((2, 10))}, "negative at neuron 0, frame 0"),
        ({"lengths": [10]}, "lengths"),
        ({"lengths": [10, 11]}, "lengths"),
        ({"name": 3}, "name"),
    ],
)
def test_recording_rejects_bad_input(kwargs, message):
    arguments = {"calcium": np.zeros((2, 10)), "rate": 100.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        Recording(**arguments)


def test_recording_rejects_nan_inside_a_trace_but_not_in_its_tail():
    calcium = np.zeros((2, 10))
    calcium[1, 3] = np.nan
    with pytest.raises(DataError, match="NaN or infinite at neuron 1, frame 3"):
        Recording(calcium, 10)
    assert Recording(calcium, 10, lengths=[10, 3]).lengths.tolist() == [10, 3]
    spikes = np.zeros((2, 10))
    spikes[0, 9] = np.inf
    with pytest.raises(DataError, match="spikes is NaN or infinite at neuron 0, frame 9"):
        Recording(np.zeros((2, 10)), 10, spikes=spikes)


# --- SpikeFinder files -------------------------------------------------------------------------


def test_real_spikefinder_files_read_as_documented(real_recordings):
    shapes = [(r.name, r.neurons, r.frames) for r in real_recordings]
    assert shapes == [("4.train", 6, 27_763), ("5.train", 9, 16_919), ("6.train", 9, 23_998)]
    dataset6 = real_recordings[2]
    assert dataset6.lengths.min() == 5_998 and dataset6.lengths.max() == 23_998
    assert all(r.rate == 100.0 for r in real_recordings)
    means = [
        float(np.nanmean(np.where(np.arange(r.frames) < r.lengths[:, None], r.spikes, np.nan)))
        for r in real_recordings
    ]
    assert means == pytest.approx([0.046, 0.058, 0.016], abs=0.002)  # the data README's table


def test_write_then_read_round_trips_with_nan_padding(tmp_path):
    values = np.random.default_rng(0).standard_normal((3, 50))
    lengths = np.array([50, 20, 35])
    path = calspike.write_spikefinder_csv(tmp_path / "1.test.calcium.csv", values, lengths)
    text = path.read_text().splitlines()
    assert text[0] == "0,1,2" and text[25].split(",")[1] == ""
    (back,) = calspike.read_spikefinder(tmp_path, split="test")
    assert back.spikes is None and back.lengths.tolist() == lengths.tolist()
    for n, length in enumerate(lengths):
        np.testing.assert_array_equal(
            back.calcium[n, :length], values[n, :length].astype(np.float32)
        )
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["1.test.calcium.csv"]  # no temporary left


def test_writer_leaves_no_half_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "1.train.calcium.csv"
    calspike.write_spikefinder_csv(target, np.ones((2, 5)))
    before = target.read_bytes()

    def broken(self, path, **kwargs):
        with open(path, "w") as stream:
            stream.write("0,1\n1.0,")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        calspike.write_spikefinder_csv(target, np.zeros((2, 5)))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("calcium", "message"),
    [
        ("", "the file is empty"),
        ("0,1\n", "no data rows"),
        ("0,1\n1,2\n3,4,5\n", "line 3: rows have different numbers of cells"),
        ("0,1\n1,2\n3\n", "line 3: 1 cell where the first line has 2"),
        ("0,1,2\n1,2,\n3,4\n", "line 3: 2 cells where the first line has 3"),
        ("0,1\n1,2\n3,abc\n", "line 3, column '1': 'abc' is not a number"),
        ("0,1\n1,2\n,4\n5,6\n", "line 3, column '0': empty or NaN cell inside the trace"),
        ("a,b\n1,2\n", "line 1, column 1: header 'a' is not a neuron number"),
        ("0,1\n1,inf\n", "line 2, column '1': infinite value"),
    ],
)
def test_malformed_csv_names_file_line_and_column(tmp_path, calcium, message):
    _write(tmp_path, "1.train.calcium.csv", calcium)
    _write(tmp_path, "1.train.spikes.csv", "0,1\n0,0\n0,0\n0,0\n")
    with pytest.raises(DataError, match=message) as caught:
        calspike.read_spikefinder(tmp_path)
    assert "1.train.calcium.csv" in str(caught.value)


def test_missing_and_mismatched_spike_files(tmp_path):
    _write(tmp_path, "2.train.calcium.csv", "0,1\n1,2\n3,4\n")
    with pytest.raises(FileNotFoundError, match="2.train.spikes.csv"):
        calspike.read_spikefinder(tmp_path)
    _write(tmp_path, "2.train.spikes.csv", "0\n0\n0\n")
    with pytest.raises(DataError, match="1 neurons x 2 frames"):
        calspike.read_spikefinder(tmp_path)
    _write(tmp_path, "2.train.spikes.csv", "0,1\n0,0\n0,\n")
    with pytest.raises(DataError, match="2.train.spikes.csv: line 3, column 1"):
        calspike.read_spikefinder(tmp_path)
    _write(tmp_path, "2.train.spikes.csv", "0,1\n0,0\n0,-1\n")
    with pytest.raises(DataError, match="negative at neuron 1, frame 1"):
        calspike.read_spikefinder(tmp_path)
    with pytest.raises(FileNotFoundError, match="no N.test.calcium.csv"):
        calspike.read_spikefinder(tmp_path, split="test")
    with pytest.raises(FileNotFoundError, match="folder not found"):
        calspike.read_spikefinder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="7.train.calcium.csv"):
        calspike.read_spikefinder(tmp_path, datasets=[7])


# --- plain arrays --------------------------------------------------------------------------------


def test_npy_npz_and_headerless_csv(tmp_path):
    calcium = np.random.default_rng(1).standard_normal((2, 40)).astype(np.float32)
    spikes = (np.random.default_rng(2).random((2, 40)) < 0.1).astype(np.float32)
    np.save(tmp_path / "c.npy", calcium)
    from_npy = calspike.read_array(tmp_path / "c.npy", rate=30)
    assert (
        np.array_equal(from_npy.calcium, calcium) and from_npy.rate == 30 and from_npy.name == "c"
    )

    np.savez(tmp_path / "c.npz", calcium=calcium, spikes=spikes, rate=15.0)
    from_npz = calspike.read_array(tmp_path / "c.npz")
    assert from_npz.rate == 15.0 and np.array_equal(from_npz.spikes, spikes)

    np.savetxt(tmp_path / "c.csv", calcium, delimiter=",")
    from_csv = calspike.read_array(tmp_path / "c.csv", rate=30)
    np.testing.assert_allclose(from_csv.calcium, calcium, rtol=1e-6)
    assert calspike.load_recordings(tmp_path / "c.npz")[0].rate == 15.0


def test_array_file_errors(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((2, 5)))
    with pytest.raises(ValueError, match="rate"):
        calspike.read_array(tmp_path / "c.npy")
    np.savez(tmp_path / "other.npz", traces=np.zeros((2, 5)))
    with pytest.raises(DataError, match="no 'calcium' array"):
        calspike.read_array(tmp_path / "other.npz", rate=10)
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="broken.npy"):
        calspike.read_array(tmp_path / "broken.npy", rate=10)
    (tmp_path / "bad.csv").write_text("1,2,3\n4,x,6\n")
    with pytest.raises(DataError, match="bad.csv: line 2, column 2: 'x' is not a number"):
        calspike.read_array(tmp_path / "bad.csv", rate=10)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        calspike.read_array(tmp_path / "empty.csv", rate=10)
    (tmp_path / "c.h5").write_text("")
    with pytest.raises(ValueError, match="unsupported file type"):
        calspike.read_array(tmp_path / "c.h5", rate=10)
    with pytest.raises(FileNotFoundError):
        calspike.read_array(tmp_path / "missing.npy", rate=10)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="objects.npy"):
        calspike.read_array(tmp_path / "objects.npy", rate=10)


# --- simulator ------------------------------------------------------------------------------------


def test_simulate_is_seeded_and_shaped():
    a = calspike.simulate(5, 4_000, rate=30, indicator="GCaMP6f", seed=11)
    b = calspike.simulate(5, 4_000, rate=30, indicator="GCaMP6f", seed=11)
    c = calspike.simulate(5, 4_000, rate=30, indicator="GCaMP6f", seed=12)
    assert np.array_equal(a.calcium, b.calcium) and np.array_equal(a.spikes, b.spikes)
    assert not np.array_equal(a.calcium, c.calcium)
    assert a.calcium.shape == (5, 4_000) and a.rate == 30 and a.spikes.dtype == np.float32
    assert np.isfinite(a.calcium).all() and (a.spikes >= 0).all()


@pytest.mark.parametrize("indicator", sorted(calspike.data.INDICATORS))
def test_simulated_calcium_follows_spikes_with_the_indicators_kinetics(indicator):
    recording = calspike.simulate(20, 30_000, rate=100, indicator=indicator, snr=8, seed=3)
    kinetics = calspike.data.INDICATORS[indicator]
    rates_hz = recording.spikes.mean(axis=1) * recording.rate
    assert 0.5 < np.median(rates_hz) < 8  # cortical firing rates
    # spike-triggered average: rises after the spike and decays with the indicator's time constant
    sta = []
    for n in range(recording.neurons):
        trace, times = recording.calcium[n], np.flatnonzero(recording.spikes[n])
        times = times[(times > 50) & (times < trace.size - 400)]
        sta.append(
            np.mean([trace[t - 50 : t + 400] - trace[t - 50 : t].mean() for t in times], axis=0)
        )
    sta = np.mean(sta, axis=0)
    assert sta[50:].max() > 0.5 * kinetics.amplitude  # a visible response
    assert abs(sta[:45].mean()) < 0.3 * sta.max()  # little before the spike
    peak = 50 + int(np.argmax(sta[50:]))
    after = sta[peak:] - sta[-50:].mean()
    decay_frames = int(np.argmax(after < after[0] / np.e))
    assert 0.3 * kinetics.decay_s * 100 < decay_frames < 4 * kinetics.decay_s * 100


def test_simulated_noise_sets_the_snr():
    quiet = calspike.simulate(5, 5_000, snr=50, seed=0)
    noisy = calspike.simulate(5, 5_000, snr=2, seed=0)

    def noise(r):
        return np.median(np.abs(np.diff(r.calcium, axis=1)))

    assert noise(noisy) > 5 * noise(quiet)


def test_default_recordings_resemble_the_real_data(real_recordings):
    simulated = calspike.default_recordings(seed=0)
    assert [r.frames for r in simulated] == [r.frames for r in real_recordings[:2]] + [24_000]
    assert simulated[2].lengths.min() < 24_000  # ragged traces, like dataset 6

    def stats(recordings):
        out = []
        for r in recordings:
            for n in range(r.neurons):
                x = r.trace(n)
                out.append(
                    (
                        np.median(np.abs(np.diff(x))),
                        np.percentile(x, 99) - np.percentile(x, 1),
                        r.spikes[n, : r.lengths[n]].mean(),
                    )
                )
        return np.median(np.array(out), axis=0)

    real, sim = stats(real_recordings), stats(simulated)
    ratio = sim / real
    assert np.all((ratio > 0.5) & (ratio < 2)), (
        f"simulated/real (noise, range, spikes per bin): {ratio}"
    )


def test_noise_correlation_and_amplitude_options():
    def lag1(recording):
        noise = recording.calcium - calspike.simulate(3, 20_000, snr=1e9, seed=5).calcium
        return np.mean([np.corrcoef(row[:-1], row[1:])[0, 1] for row in noise])

    white = calspike.simulate(3, 20_000, snr=2, seed=5)
    smooth = calspike.simulate(3, 20_000, snr=2, noise_correlation_s=0.05, seed=5)
    assert abs(lag1(white)) < 0.05 and lag1(smooth) > 0.7  # exp(-1/5) = 0.82 at 100 Hz
    assert np.std(smooth.calcium - white.calcium) > 0  # same spikes, different noise
    assert np.array_equal(smooth.spikes, white.spikes)
    big = calspike.simulate(3, 20_000, snr=1e9, amplitude=1.0, seed=5)
    small = calspike.simulate(3, 20_000, snr=1e9, amplitude=0.1, seed=5)
    assert np.ptp(big.calcium) > 5 * np.ptp(small.calcium)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"neurons": 0}, "neurons"),
        ({"amplitude": -1}, "amplitude"),
        ({"noise_correlation_s": -0.1}, "noise_correlation_s"),
        ({"frames": 2.5}, "frames"),
        ({"rate": -1}, "rate"),
        ({"indicator": "GCaMP9"}, "indicator"),
        ({"snr": 0}, "snr"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        calspike.simulate(**kwargs)


def test_importing_calspike_writes_nothing(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("CALSPIKE_CACHE_DIR", None)
    subprocess.run(
        [sys.executable, "-c", "import calspike, calspike.cli"], check=True, env=env, cwd=tmp_path
    )
    assert list(tmp_path.iterdir()) == []


def test_load_recordings_dispatches_on_the_source(tmp_path):
    recording = calspike.simulate(2, 300, seed=0)
    calspike.write_spikefinder_csv(tmp_path / "3.train.calcium.csv", recording.calcium)
    calspike.write_spikefinder_csv(tmp_path / "3.train.spikes.csv", recording.spikes)
    (folder,) = calspike.load_recordings(tmp_path)
    (single,) = calspike.load_recordings(tmp_path / "3.train.calcium.csv", rate=60)
    assert folder.name == "3.train" and folder.rate == 100.0 and single.rate == 60.0
    np.save(tmp_path / "x.npy", recording.calcium)
    assert calspike.load_recordings(tmp_path / "x.npy", rate=30)[0].rate == 30.0
