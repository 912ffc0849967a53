"""Feature stacks: raw, delta (a real temporal difference), quad, delta_quad."""

from __future__ import annotations

import numpy as np
import pytest

import calspike


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
    assert np.array_equal(calspike.features(x[:, ::2], ["raw"])[..., 0], x[:, ::2].astype(np.float32))


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
