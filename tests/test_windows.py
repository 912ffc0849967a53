"""partition, window_view, balanced sampling and the window cache."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import robust_reference, tutorial_windows

import calspike
from calspike import windows as windows_module


def test_real_spikefinder_matches_tutorial_bit_for_bit(real_recordings, spikefinder_dir):
    result = calspike.partition(real_recordings)
    assert len(result) == 49_242  # the count the tutorial's parameters give on datasets 4, 5, 6
    offset = 0
    for recording in real_recordings:
        # the reference runs on the CSV's own float64 values, as the tutorial did
        number = recording.name.split(".")[0]
        calcium = pd.read_csv(spikefinder_dir / f"{number}.train.calcium.csv").to_numpy().T
        spikes = pd.read_csv(spikefinder_dir / f"{number}.train.spikes.csv").to_numpy().T
        ref_w, ref_y, ref_n, ref_f = tutorial_windows(calcium, spikes)
        mine = calspike.partition(np.ascontiguousarray(calcium), np.ascontiguousarray(spikes))
        assert np.array_equal(mine.windows, ref_w)
        assert np.array_equal(mine.did_spike, ref_y)
        assert np.array_equal(mine.neuron, ref_n)
        assert np.array_equal(mine.frame, ref_f)
        # the float32 Recording gives the tutorial's loop on those float32 values exactly
        ref32 = tutorial_windows(recording.calcium.astype(np.float64), recording.spikes)
        part = slice(offset, offset + len(ref32[0]))
        assert np.array_equal(result.windows[part], ref32[0])
        assert np.array_equal(result.did_spike[part], ref32[1])
        assert np.array_equal(result.frame[part], ref32[3])
        offset += len(ref32[0])
    assert offset == len(result)
    assert result.neuron_names[0] == "4.train/0"


def test_window_semantics_by_hand():
    calcium = np.arange(30, dtype=np.float64)[None, :]
    spikes = np.zeros((1, 30))
    spikes[0, 13] = 1  # covered by windows whose i - 2 <= 13 <= i + 1, i.e. i in 12..15
    result = calspike.partition(
        calcium, spikes, len_pre=3, len_post=2, skip=1, spike_n=2, normalize="none"
    )
    assert result.frame.tolist() == list(range(3, 28))
    assert np.array_equal(result.windows[0], [0, 1, 2, 3, 4])
    assert np.array_equal(result.windows[-1], [24, 25, 26, 27, 28])
    assert result.frame[result.did_spike].tolist() == [12, 13, 14, 15]


def test_normalize_neuron_uses_median_and_mad_of_the_whole_trace(small_recording):
    result = calspike.partition(small_recording, normalize="neuron", skip=7)
    for n in range(small_recording.neurons):
        expected = robust_reference(small_recording.trace(n))
        rows = result.neuron == n
        starts = result.frame[rows] - 10
        for window, start in zip(result.windows[rows], starts, strict=True):
            assert np.array_equal(window, expected[start : start + 20])


def test_normalize_neuron_falls_back_when_mad_is_zero():
    trace = np.zeros((1, 100), dtype=np.float32)
    trace[0, ::10] = 5.0  # more than half the trace is 0: MAD = 0
    result = calspike.partition(trace, normalize="neuron", skip=1)
    expected = robust_reference(trace[0])
    assert np.isfinite(result.windows).all()
    np.testing.assert_allclose(result.windows[0], expected[:20], rtol=1e-6)
    constant = calspike.partition(np.ones((1, 50)), normalize="neuron")
    assert np.array_equal(constant.windows, np.zeros_like(constant.windows))


def test_normalize_none_keeps_values(small_recording):
    result = calspike.partition(small_recording, normalize="none", skip=3)
    k = 5
    n, i = result.neuron[k], result.frame[k]
    assert np.array_equal(result.windows[k], small_recording.calcium[n, i - 10 : i + 10])


def test_fortran_order_and_float64_give_the_same_windows(small_recording):
    c_order = calspike.partition(small_recording.calcium, small_recording.spikes)
    f_order = calspike.partition(
        np.asfortranarray(small_recording.calcium), np.asfortranarray(small_recording.spikes)
    )
    as64 = calspike.partition(
        small_recording.calcium.astype(np.float64), small_recording.spikes.astype(np.float64)
    )
    for other in (f_order, as64):
        assert np.array_equal(c_order.windows, other.windows)
        assert np.array_equal(c_order.did_spike, other.did_spike)


def test_integer_spikes_and_no_spikes(small_recording):
    counts = small_recording.spikes.astype(np.int64)
    with_ints = calspike.partition(small_recording.calcium, counts)
    assert np.array_equal(with_ints.did_spike, calspike.partition(small_recording).did_spike)
    unlabelled = calspike.partition(small_recording.calcium)
    assert unlabelled.did_spike is None and np.isnan(unlabelled.spike_fraction)


def test_threads_do_not_change_the_result(small_recording):
    one = calspike.partition(small_recording, skip=1, threads=1)
    two = calspike.partition(small_recording, skip=1, threads=2)
    assert np.array_equal(one.windows, two.windows) and np.array_equal(one.neuron, two.neuron)


def test_several_recordings_are_stacked_with_names():
    a = calspike.simulate(2, 500, seed=1, name="a")
    b = calspike.simulate(3, 800, seed=2, name="b")
    both = calspike.partition([a, b])
    assert both.neuron_names == ("a/0", "a/1", "b/0", "b/1", "b/2")
    separate = [calspike.partition(a), calspike.partition(b)]
    assert np.array_equal(both.windows, np.concatenate([s.windows for s in separate]))
    assert np.array_equal(both.neuron, np.concatenate([separate[0].neuron, separate[1].neuron + 2]))


def test_short_neurons_are_skipped_and_reported():
    calcium = np.full((3, 50), np.nan)
    calcium[0, :50] = np.arange(50)
    calcium[1, :20] = 1.0  # exactly len_pre + len_post frames: range(10, 10) is empty
    calcium[2, :21] = 1.0  # one window
    result = calspike.partition(calcium)
    assert result.skipped.tolist() == [1]
    assert np.bincount(result.neuron, minlength=3).tolist() == [3, 0, 1]
    empty = calspike.partition(np.ones((2, 5)))
    assert len(empty) == 0 and empty.windows.shape == (0, 20) and empty.skipped.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"len_pre": 0}, "len_pre"),
        ({"len_post": -1}, "len_post"),
        ({"skip": 0}, "skip"),
        ({"spike_n": 0}, "spike_n"),
        ({"spike_n": 11}, "spike_n"),
        ({"len_pre": 3, "spike_n": 4}, "spike_n"),
        ({"normalize": "zscore"}, "normalize"),
        ({"len_pre": 2.5}, "len_pre"),
        ({"threads": -1}, "threads"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        calspike.partition(np.zeros((2, 100)), **kwargs)


@pytest.mark.parametrize(
    ("calcium", "spikes", "message"),
    [
        (np.zeros(100), None, "2-D"),
        (np.zeros((2, 3, 4)), None, "2-D"),
        (np.array([["a", "b"]]), None, "numeric"),
        (np.zeros((2, 100)), np.zeros((3, 100)), "shape"),
        (np.zeros((2, 100)), np.zeros(100), "2-D"),
    ],
)
def test_bad_arrays_raise_value_error(calcium, spikes, message):
    with pytest.raises(ValueError, match=message):
        calspike.partition(calcium, spikes)


def test_nan_or_inf_inside_a_trace_names_neuron_and_frame():
    calcium = np.zeros((3, 100), dtype=np.float32)
    calcium[2, 40] = np.nan
    with pytest.raises(ValueError, match="neuron 2, frame 40"):
        calspike.partition(calcium)
    calcium[2, 40] = np.inf
    with pytest.raises(ValueError, match="infinite at neuron 2, frame 40"):
        calspike.partition(calcium)
    spikes = np.zeros((3, 100))
    spikes[1, 7] = -1
    with pytest.raises(ValueError, match="negative at neuron 1, frame 7"):
        calspike.partition(np.zeros((3, 100)), spikes)


def test_window_view_is_a_read_only_view_without_allocation(small_recording):
    view = calspike.window_view(small_recording.calcium, len_pre=10, len_post=10, skip=10)
    assert np.shares_memory(view, small_recording.calcium)
    assert not view.flags.writeable
    raw = calspike.partition(small_recording, normalize="none")
    per_neuron = view.shape[1]
    assert np.array_equal(view.reshape(-1, 20), raw.windows)  # equal lengths: same windows
    assert per_neuron == len(raw) // small_recording.neurons
    fortran = np.asfortranarray(small_recording.calcium)
    assert np.array_equal(calspike.window_view(fortran), view)
    with pytest.raises(ValueError, match="skip"):
        calspike.window_view(small_recording.calcium, skip=0)


def test_balanced_indices_are_balanced_seeded_and_without_replacement():
    labels = np.zeros(1000, dtype=bool)
    labels[::10] = True  # 100 spike windows
    index = calspike.balanced_indices(labels, seed=3)
    assert index.size == 200 and labels[index].sum() == 100
    assert np.unique(index).size == 200
    assert np.array_equal(index, calspike.balanced_indices(labels, seed=3))
    assert not np.array_equal(index, calspike.balanced_indices(labels, seed=4))
    more = calspike.balanced_indices(labels, per_class=150, seed=0)
    assert labels[more].sum() == 150 and (~labels[more]).sum() == 150
    assert np.unique(more[~labels[more]]).size == 150  # no-spike class still without replacement
    with pytest.raises(ValueError, match="no windows"):
        calspike.balanced_indices(np.zeros(10, dtype=bool))
    with pytest.raises(ValueError, match="bool"):
        calspike.balanced_indices(np.zeros(10))


def test_balance_returns_matching_subset(small_recording):
    windows = calspike.partition(small_recording, skip=2)
    balanced = calspike.balance(windows, seed=1)
    assert balanced.did_spike.mean() == 0.5
    k = 3
    n, i = balanced.neuron[k], balanced.frame[k]
    source = np.flatnonzero((windows.neuron == n) & (windows.frame == i))[0]
    assert np.array_equal(balanced.windows[k], windows.windows[source])


def _tiny_spikefinder(folder, seed=0):
    recording = calspike.simulate(3, 400, seed=seed)
    calspike.write_spikefinder_csv(folder / "1.train.calcium.csv", recording.calcium)
    calspike.write_spikefinder_csv(folder / "1.train.spikes.csv", recording.spikes)
    return recording


def test_cache_is_reused_rebuilt_when_stale_and_never_trusts_corruption(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    _tiny_spikefinder(data)
    first = calspike.cached_partition(data, cache=cache, skip=5)
    files = list((cache / "windows").glob("*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = calspike.cached_partition(data, cache=cache, skip=5)
    assert files[0].stat().st_mtime_ns == stamp and np.array_equal(first.windows, again.windows)
    assert again.neuron_names == first.neuron_names and again.params == first.params

    other = calspike.cached_partition(data, cache=cache, skip=6)  # new parameters, new key
    assert len(list((cache / "windows").glob("*.npz"))) == 2 and len(other) != len(first)

    files[0].write_bytes(files[0].read_bytes()[:200])  # truncated cache file
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = calspike.cached_partition(data, cache=cache, skip=5)
    assert np.array_equal(rebuilt.windows, first.windows)

    shutil.copy(files[0], tmp_path / "saved.npz")
    _tiny_spikefinder(data, seed=1)  # the input changed: its hash changes the key
    changed = calspike.cached_partition(data, cache=cache, skip=5)
    assert not np.array_equal(changed.windows, first.windows)

    impostor = files[0]  # a file with the right name but another key inside
    np.savez(impostor, key=np.array("something else"))
    _tiny_spikefinder(data)
    with pytest.warns(UserWarning, match="another key"):
        restored = calspike.cached_partition(data, cache=cache, skip=5)
    assert np.array_equal(restored.windows, first.windows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calspike.cached_partition(data, cache=cache, skip=5)  # healthy again: no warning
    leftovers = [p for p in (cache / "windows").iterdir() if p.suffix != ".npz"]
    assert leftovers == []


def test_cache_rejects_unknown_settings(tmp_path):
    with pytest.raises(ValueError, match="unknown window settings"):
        calspike.cached_partition(tmp_path, cache=tmp_path, stride=3)
    with pytest.raises(FileNotFoundError):
        calspike.cached_partition(tmp_path, cache=tmp_path)


def test_windows_repr_and_params(small_recording):
    result = calspike.partition(small_recording, skip=4)
    assert "count=" in repr(result)
    assert json.loads(json.dumps(result.params))["skip"] == 4
    assert windows_module.WINDOW_SETTINGS == ("len_pre", "len_post", "skip", "spike_n", "normalize")
