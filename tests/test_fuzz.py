"""A bounded fuzz of the public API: any input gives a result or a ValueError/TypeError naming
what is wrong; never a crash, another exception, a hang or a silent NaN from finite input.

Hypothesis draws arrays of any dtype and scale (NaN, inf, huge, tiny, complex, strings, empty),
frame rates and integer settings across and beyond their ranges.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calspike
from calspike.data.recording import EmptyNeuronWarning
from calspike.preprocess import fill_gaps, rebin_counts, resample
from calspike.spikes.rate import FrameRateWarning, NoiseWarning, infer_spike_rates
from calspike.spikes.score import score_neurons

ALLOWED = (ValueError, TypeError)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, 3.5e38, -3.5e38, 1e-45, 5e-324]),
)
_dtypes = st.sampled_from(
    [
        np.float32,
        np.float64,
        np.int16,
        np.int64,
        np.uint8,
        np.bool_,
        np.complex64,
        np.dtype("U3"),
        np.dtype(object),
        np.float16,
    ]
)
_numbers = st.one_of(
    st.integers(-(2**70), 2**70), _floats, st.none(), st.text(max_size=3), st.booleans()
)
# valid counts stay small (2 cores); 32768 and 65536 once killed or crashed the process
_threads = st.sampled_from([-1, 0, 1, 2, 3, 1025, 32768, 65536, 2**31 - 1])
_rates = st.one_of(
    st.floats(0.1, 10_000.0), st.sampled_from([0.1, 7.5, 30.0, 100.0, 10_000.0]), _numbers
)


@st.composite
def _arrays(draw: st.DrawFn) -> np.ndarray:
    """Mostly (neurons, frames) float traces, sometimes any shape, dtype or scale."""
    shape = draw(
        st.one_of(
            st.tuples(st.integers(1, 4), st.integers(1, 300)),
            hnp.array_shapes(min_dims=0, max_dims=3, max_side=30),
        )
    )
    dtype = draw(st.one_of(st.just(np.float64), st.just(np.float32), _dtypes))
    if np.dtype(dtype).kind in "US":
        return np.full(shape, "1", dtype=dtype)
    if np.dtype(dtype) == np.dtype(object):
        return np.full(shape, None, dtype=object)
    values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape)
    scale = draw(st.sampled_from([1.0, 1e-30, 1e30, 1e300, 1e-300]))
    with np.errstate(all="ignore"):
        array = (values * scale).astype(dtype)
    if np.dtype(dtype).kind == "f" and array.size and draw(st.booleans()):
        flat = array.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return array


def _call(function, *args, **kwargs):
    """Call and return the result, or None for an allowed, explanatory error."""
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # any warning but the named ones below (overflow, casts) is a defect
        warnings.simplefilter("ignore", EmptyNeuronWarning)  # all-NaN rows are legal and named
        warnings.simplefilter("ignore", NoiseWarning)  # unfamiliar noise levels are legal and named
        warnings.simplefilter(
            "ignore", FrameRateWarning
        )  # so are frame rates the model was not trained on
        try:
            return function(*args, **kwargs)
        except ALLOWED as error:
            assert str(error), f"{type(error).__name__} without a message"
            return None


def _finite_in_float32(array: np.ndarray) -> bool:
    return (
        array.dtype.kind in "fiub"
        and array.ndim == 2
        and array.size > 0
        and bool(np.all(np.isfinite(array.astype(np.float64))))
        and float(np.max(np.abs(array.astype(np.float64)), initial=0)) < 3e38
    )


@FUZZ
@given(
    _arrays(),
    _rates,
    _numbers,
    st.integers(-3, 40),
    st.integers(-3, 40),
    st.integers(-3, 40),
    _threads,
)
def test_windowing_and_features(array, rate, other, len_pre, len_post, skip, threads):
    windows = _call(
        calspike.partition,
        array,
        len_pre=len_pre,
        len_post=len_post,
        skip=skip,
        spike_n=1,
        threads=threads,
    )
    if windows is not None and len(windows):
        stack = _call(calspike.features, windows, ["raw", "delta", "quad"], threads=threads)
        assert stack is None or stack.shape[:2] == windows.windows.shape
        if _finite_in_float32(array):
            assert np.isfinite(windows.windows).all()
    _call(calspike.window_view, array, len_pre=len_pre, len_post=len_post, skip=skip)
    _call(calspike.Recording, array, rate)


@FUZZ
@given(_arrays(), _rates, _rates, _threads)
def test_resampling_and_gap_filling(array, rate_in, rate_out, threads):
    out = _call(resample, array, rate_in, rate_out, threads=threads)
    if out is not None and _finite_in_float32(array):
        assert np.isfinite(out[0][:, : int(out[1].min())]).all()
    if out is not None:
        _call(rebin_counts, array, rate_in, rate_out, out[1], threads=threads)
    _call(fill_gaps, array)


@FUZZ
@given(_arrays(), _rates, st.sampled_from([1, 2]), _numbers, _threads)
def test_deconvolution(array, rate, p, s_min, threads):
    result = _call(
        calspike.deconvolve,
        array,
        p=p,
        rate=rate,
        s_min=s_min if s_min is not None else 0.0,
        threads=threads,
    )
    if result is not None and _finite_in_float32(array) and array.shape[1] > 2:
        assert np.isfinite(result.spikes).all()


@pytest.fixture(scope="module")
def rate_model():
    from calspike.spikes.rate import load_rate_model

    return load_rate_model()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(array=_arrays(), rate=_rates, chunk=st.integers(-1, 5))
def test_spike_rate_inference(rate_model, array, rate, chunk):
    model, metadata = rate_model
    spikes = _call(
        infer_spike_rates, array, rate, model=model, metadata=metadata, chunk_neurons=chunk
    )
    if spikes is not None and _finite_in_float32(array):
        assert np.isfinite(spikes[0]).all()


@FUZZ
@given(_arrays(), _arrays(), _rates)
def test_scoring(truth, prediction, rate):
    if truth.dtype.kind not in "fiub" or prediction.dtype.kind not in "fiub":
        return  # score reads files; their dtypes are checked by the readers
    _call(score_neurons, truth, prediction, rate=rate)
