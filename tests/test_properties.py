"""Property tests: calspike's partition equals the tutorial's loop on generated recordings."""

from __future__ import annotations

import numpy as np
from conftest import robust_reference, tutorial_windows
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calspike


@st.composite
def recordings(draw):
    neurons = draw(st.integers(1, 4))
    frames = draw(st.integers(1, 60))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    values = draw(
        hnp.arrays(dtype, (neurons, frames), elements=st.floats(-1e4, 1e4, width=32, allow_nan=False))
    )
    if draw(st.booleans()):  # constant stretches make zero-variance windows
        values[:, : frames // 2] = values[:, :1]
    spikes = draw(hnp.arrays(np.float64, (neurons, frames), elements=st.sampled_from([0.0, 0.0, 0.0, 1.0, 2.0])))
    lengths = [draw(st.integers(0, frames)) for _ in range(neurons)]
    for n, length in enumerate(lengths):
        values[n, length:] = np.nan
        spikes[n, length:] = np.nan
    if draw(st.booleans()):
        values, spikes = np.asfortranarray(values), np.asfortranarray(spikes)
    len_pre = draw(st.integers(1, 8))
    len_post = draw(st.integers(1, 8))
    spike_n = draw(st.integers(1, min(len_pre, len_post)))
    skip = draw(st.integers(1, 12))
    return values, spikes, lengths, {"len_pre": len_pre, "len_post": len_post, "skip": skip, "spike_n": spike_n}


@settings(max_examples=300, deadline=None)
@given(recordings())
def test_partition_equals_the_tutorial_loop(case):
    calcium, spikes, lengths, params = case
    expected = tutorial_windows(calcium, spikes, **params)
    result = calspike.partition(calcium, spikes, **params)
    assert np.array_equal(result.windows, expected[0])
    assert np.array_equal(result.did_spike, expected[1])
    assert np.array_equal(result.neuron, expected[2])
    assert np.array_equal(result.frame, expected[3])
    too_short = [n for n, length in enumerate(lengths) if length <= params["len_pre"] + params["len_post"]]
    assert result.skipped.tolist() == too_short


@settings(max_examples=150, deadline=None)
@given(recordings())
def test_neuron_and_raw_normalisation_equal_numpy(case):
    calcium, spikes, lengths, params = case
    robust = calspike.partition(calcium, spikes, normalize="neuron", **params)
    raw = calspike.partition(calcium, spikes, normalize="none", **params)
    length = params["len_pre"] + params["len_post"]
    for k in range(len(robust)):
        n, start = robust.neuron[k], robust.frame[k] - params["len_pre"]
        trace = calcium[n, : lengths[n]]
        np.testing.assert_allclose(robust.windows[k], robust_reference(trace)[start : start + length], rtol=1e-6, atol=1e-6)
        assert np.array_equal(raw.windows[k], trace[start : start + length].astype(np.float32))


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(0, 20), st.integers(1, 30)), elements=st.floats(-1e3, 1e3, width=32)))
def test_features_equal_numpy(x):
    stack = calspike.features(x)
    delta = np.zeros_like(x)
    delta[:, 1:] = x[:, 1:] - x[:, :-1]
    assert np.array_equal(stack, np.stack([x, delta, x * x, delta * delta], axis=-1))


@st.composite
def twenty_frame_cases(draw):
    """Inputs for the dedicated 20-frame kernel: len_pre + len_post = 20, every remainder of count % 16."""
    len_pre = draw(st.integers(1, 19))
    neurons = draw(st.integers(1, 3))
    frames = draw(st.integers(21, 200))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e5]))
    values = draw(hnp.arrays(dtype, (neurons, frames), elements=st.floats(-1e3, 1e3, width=32, allow_nan=False)))
    values = (values * scale).astype(dtype)
    if draw(st.booleans()):
        values[:, 5:30] = values[:, 5:6]  # zero-variance windows
    if draw(st.booleans()):
        values = np.asfortranarray(values)
    return values, {"len_pre": len_pre, "len_post": 20 - len_pre, "skip": draw(st.integers(1, 7)), "spike_n": 1}


@settings(max_examples=300, deadline=None)
@given(twenty_frame_cases())
def test_twenty_frame_kernel_equals_the_tutorial_loop(case):
    calcium, params = case
    expected = tutorial_windows(calcium, None, **params)
    assert np.array_equal(calspike.partition(calcium, **params).windows, expected[0])
