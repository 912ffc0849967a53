"""Feature stacks: raw, delta (a real temporal difference), quad, delta_quad."""

from __future__ import annotations

import numpy as np
import pytest

import calspike
from calspike.feature_stacks import parse_features


def test_channels_match_their_definitions():
    x = np.random.default_rng(0).standard_normal((50, 20)).astype(np.float32)
    stack = calspike.features(x)
    delta = np.concatenate([np.zeros((50, 1), np.float32), np.diff(x, axis=1)], axis=1)
    assert np.array_equal(stack[..., 0], x)
    assert np.array_equal(stack[..., 1], delta)
    assert np.array_equal(stack[..., 2], x * x)
    assert np.array_equal(stack[..., 3], delta * delta)


def test_kinds_choose_channels_in_order_and_accept_windows(small_recording):
    windows = calspike.partition(small_recording)
    stack = calspike.features(windows, ["quad", "raw"])
    assert stack.shape == (len(windows), 20, 2)
    assert np.array_equal(stack[..., 1], windows.windows)
    single = calspike.features(windows, "delta")
    assert single.shape == (len(windows), 20, 1)


def test_delta_is_not_the_tutorials_first_sample_subtraction():
    x = np.array([[1.0, 3.0, 6.0, 10.0]], dtype=np.float32)
    assert calspike.features(x, ["delta"])[0, :, 0].tolist() == [0.0, 2.0, 3.0, 4.0]


def test_non_float32_or_strided_input_is_converted_once():
    x = np.arange(40, dtype=np.float64).reshape(4, 10)
    assert np.array_equal(
        calspike.features(x[:, ::2], ["raw"])[..., 0], x[:, ::2].astype(np.float32)
    )


def test_empty_input_and_bad_arguments():
    assert calspike.features(np.zeros((0, 20), np.float32)).shape == (0, 20, 4)
    with pytest.raises(ValueError, match="2-D"):
        calspike.features(np.zeros(20, np.float32))
    with pytest.raises(ValueError, match="unknown feature 'square'"):
        calspike.features(np.zeros((2, 20), np.float32), ["square"])
    with pytest.raises(ValueError, match="at least one"):
        calspike.features(np.zeros((2, 20), np.float32), [])
    with pytest.raises(ValueError, match="at least one frame"):
        calspike.features(np.zeros((2, 0), np.float32))


def test_aligned_windows_cut_the_same_frames_from_other_traces():
    recordings = [calspike.simulate(3, 400, seed=1), calspike.simulate(2, 300, seed=2)]
    windows = calspike.partition(recordings, len_pre=5, len_post=7, skip=3, normalize="none")
    other = [
        np.arange(r.lengths[i], dtype=np.float64) * (10 * k + i)
        for k, r in enumerate(recordings)
        for i in range(r.neurons)
    ]
    chosen = windows.subset(np.random.default_rng(0).permutation(len(windows))[:100])
    cut = calspike.aligned_windows(chosen, other)
    assert cut.shape == (100, 12) and cut.dtype == np.float32
    for k in range(len(chosen)):
        n, i = chosen.neuron[k], chosen.frame[k]
        assert np.array_equal(cut[k], other[n][i - 5 : i + 7].astype(np.float32))
    # cutting the calcium itself gives back the raw windows
    calcium = [r.calcium[i, : r.lengths[i]] for r in recordings for i in range(r.neurons)]
    assert np.array_equal(calspike.aligned_windows(windows, calcium), windows.windows)


def test_aligned_windows_name_the_neuron_at_fault():
    recording = calspike.simulate(2, 200, seed=0)
    windows = calspike.partition(recording)
    good = np.zeros((2, 200))
    with pytest.raises(ValueError, match="one row per neuron"):
        calspike.aligned_windows(windows, good[:1])
    with pytest.raises(ValueError, match=r"traces\[1\].*150 frames"):
        calspike.aligned_windows(windows, [good[0], good[1, :150]])
    holed = good.copy()
    holed[1, 100] = np.nan
    with pytest.raises(ValueError, match=r"traces\[1\].*NaN"):
        calspike.aligned_windows(windows, holed)
    with pytest.raises(ValueError, match=r"\(neurons, frames\)"):
        calspike.aligned_windows(windows, np.zeros(200))
    with pytest.raises(ValueError, match=r"traces\[0\].*numeric"):
        calspike.aligned_windows(windows, np.full((2, 200), "x"))


def test_tutorial_delta_is_the_tutorials_delta_feature():
    # DeltaFeature: x minus concatenate([zeros_like(x[:, 1:]), x[:, :1]]) along time
    x = np.random.default_rng(3).normal(size=(5, 20)).astype(np.float32)
    shifted = np.concatenate([np.zeros_like(x[:, 1:]), x[:, :1]], axis=1)
    stack = calspike.features(x, ["raw", "tutorial_delta", "quad"])
    assert np.array_equal(stack[:, :, 1], x - shifted)
    assert np.array_equal(stack[:, :-1, 1], x[:, :-1])  # not a temporal difference
    with pytest.raises(ValueError, match="--tutorial` only"):
        parse_features("raw,tutorial_delta")
    assert parse_features("raw,tutorial_delta,quad", tutorial=True) == [
        "raw",
        "tutorial_delta",
        "quad",
    ]
