"""Property tests: calspike's partition equals the tutorial's loop on generated recordings."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import robust_reference, tutorial_windows
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calspike


@st.composite
def recordings(draw):
    neurons = draw(st.integers(1, 4))
    frames = draw(st.integers(1, 60))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    values = draw(
        hnp.arrays(
            dtype, (neurons, frames), elements=st.floats(-1e4, 1e4, width=32, allow_nan=False)
        )
    )
    if draw(st.booleans()):  # constant stretches make zero-variance windows
        values[:, : frames // 2] = values[:, :1]
    spikes = draw(
        hnp.arrays(
            np.float64, (neurons, frames), elements=st.sampled_from([0.0, 0.0, 0.0, 1.0, 2.0])
        )
    )
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
    return (
        values,
        spikes,
        lengths,
        {"len_pre": len_pre, "len_post": len_post, "skip": skip, "spike_n": spike_n},
    )


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
    too_short = [
        n for n, length in enumerate(lengths) if length <= params["len_pre"] + params["len_post"]
    ]
    assert result.skipped.tolist() == too_short


@settings(max_examples=150, deadline=None)
@given(recordings())
@example(  # a MAD near float32's least normal: some values are beyond float32, inf in both
    case=(
        np.array([[0.0, 0.0, 0.0, 1.1754944e-38, 3.0, 3.0]], dtype=np.float32),
        np.zeros((1, 6)),
        [6],
        {"len_pre": 1, "len_post": 1, "skip": 1, "spike_n": 1},
    )
)
def test_neuron_and_raw_normalisation_equal_numpy(case):
    calcium, spikes, lengths, params = case
    robust = calspike.partition(calcium, spikes, normalize="neuron", **params)
    raw = calspike.partition(calcium, spikes, normalize="none", **params)
    length = params["len_pre"] + params["len_post"]
    for k in range(len(robust)):
        n, start = robust.neuron[k], robust.frame[k] - params["len_pre"]
        trace = calcium[n, : lengths[n]]
        np.testing.assert_allclose(
            robust.windows[k], robust_reference(trace)[start : start + length], rtol=1e-6, atol=1e-6
        )
        assert np.array_equal(raw.windows[k], trace[start : start + length].astype(np.float32))


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(0, 20), st.integers(1, 30)),
        elements=st.floats(-1e3, 1e3, width=32),
    )
)
def test_features_equal_numpy(x):
    stack = calspike.features(x)
    delta = np.zeros_like(x)
    delta[:, 1:] = x[:, 1:] - x[:, :-1]
    assert np.array_equal(stack, np.stack([x, delta, x * x, delta * delta], axis=-1))


@st.composite
def twenty_frame_cases(draw):
    """Inputs for the dedicated 20-frame kernel: len_pre + len_post = 20.

    Every remainder of count % 16 can be drawn.
    """
    len_pre = draw(st.integers(1, 19))
    neurons = draw(st.integers(1, 3))
    frames = draw(st.integers(21, 200))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e5]))
    values = draw(
        hnp.arrays(
            dtype, (neurons, frames), elements=st.floats(-1e3, 1e3, width=32, allow_nan=False)
        )
    )
    values = (values * scale).astype(dtype)
    if draw(st.booleans()):
        values[:, 5:30] = values[:, 5:6]  # zero-variance windows
    if draw(st.booleans()):
        values = np.asfortranarray(values)
    return values, {
        "len_pre": len_pre,
        "len_post": 20 - len_pre,
        "skip": draw(st.integers(1, 7)),
        "spike_n": 1,
    }


@settings(max_examples=300, deadline=None)
@given(twenty_frame_cases())
def test_twenty_frame_kernel_equals_the_tutorial_loop(case):
    calcium, params = case
    expected = tutorial_windows(calcium, None, **params)
    assert np.array_equal(calspike.partition(calcium, **params).windows, expected[0])


# Windows (found by steering one z-score onto a float32 rounding boundary) where
# float32(deviation * (1 / denominator)) differs from NumPy's float32(deviation / denominator).
# The 20-frame kernel multiplies by the reciprocal and must notice these and divide.
RECIPROCAL_TRAPS = [
    [
        1.5139237768686616e-07,
        1.345875425675514e-07,
        7.813114017994788e-08,
        2.644556307013067e-08,
        -3.139228149780152e-08,
        1.4580206855879204e-07,
        1.9602583192074113e-07,
        1.8016348724004402e-07,
        1.315103766584294e-07,
        3.5738041116167414e-08,
        -1.2083186339818835e-07,
        -4.4541331263487473e-10,
        6.564749359997827e-08,
        -1.2883614655618606e-07,
        3.951220607378166e-08,
        4.298636954269086e-08,
        6.960427249419744e-08,
        -1.1841179684228583e-07,
        -6.617025729698355e-08,
        -4.3643524775714385e-08,
    ],
    [
        1.7393676777205648e-07,
        -4.959106715885409e-08,
        3.2896959174552834e-08,
        -2.5857251582991332e-08,
        1.5834726972651115e-07,
        1.320360835709252e-07,
        6.33352550214299e-08,
        -2.2035096280255912e-07,
        5.2028968295032566e-09,
        6.836861123954338e-08,
        1.0039614607431455e-07,
        -6.179069738677405e-08,
        1.8220111544441042e-07,
        -1.320430818632683e-07,
        -6.615279459744384e-08,
        9.350498809153565e-08,
        4.905460820145282e-09,
        2.002392354081258e-07,
        1.8851917089971104e-08,
        -6.331940175997854e-08,
    ],
    [
        -1.4267737562456452e-07,
        -1.3504509106942267e-08,
        -7.69514589077534e-08,
        -1.4227416740390747e-07,
        2.5845277375058043e-08,
        -5.6854941639344703e-08,
        -1.0298043696278995e-07,
        -1.0430010108116858e-07,
        2.684170618848347e-08,
        3.5867192535294245e-08,
        1.3224573819498146e-07,
        -1.391466760009827e-09,
        1.0418396900300593e-07,
        1.402264733655943e-07,
        1.1501655597736125e-07,
        -2.3653037492103453e-07,
        1.228683637613394e-07,
        3.396199856963737e-08,
        4.237713247130573e-08,
        3.7122739308511826e-08,
    ],
]


@pytest.mark.parametrize("offset", [0, 37, 81, 84])  # in a block of 16, of 4, and the scalar tail
@pytest.mark.parametrize("trap", range(len(RECIPROCAL_TRAPS)))
def test_twenty_frame_kernel_rounds_like_numpy_where_a_reciprocal_would_not(trap, offset):
    window = np.array(RECIPROCAL_TRAPS[trap])
    deviation = window - np.mean(window)
    denominator = np.std(window) + 1e-7
    shortcut = (deviation * (1.0 / denominator)).astype(np.float32)
    assert not np.array_equal(
        shortcut, (deviation / denominator).astype(np.float32)
    )  # still a trap

    trace = np.random.default_rng(offset).standard_normal(105) * 1e-7  # 85 windows at skip=1
    trace[offset : offset + 20] = window
    params = {"len_pre": 10, "len_post": 10, "skip": 1, "spike_n": 1}
    expected = tutorial_windows(trace[None, :], None, **params)[0]
    got = calspike.partition(trace[None, :], **params).windows
    assert np.array_equal(got[offset], (deviation / denominator).astype(np.float32))
    assert np.array_equal(got, expected)
