"""OASIS AR(1) deconvolution: exact against a generic solver, against oasis-deconv, robust."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

import calspike
from calspike import _core
from calspike.data.recording import EmptyNeuronWarning


def convex_reference(y, g, lam):
    """min 1/2|y - c|^2 + lam sum(s), s = Gc >= 0 (s_0 = c_0), by NNLS on s with c = K s."""
    n = y.size
    lag = np.subtract.outer(np.arange(n), np.arange(n))
    kernel = np.where(lag >= 0, g ** np.clip(lag, 0, None), 0.0)
    weights = np.full(n, 1 - g)
    weights[-1] = 1.0  # lam * sum(s) = lam * weights . c
    spikes, _ = nnls(kernel, y - lam * weights, maxiter=50 * n)
    return kernel @ spikes


def solve(y, g, lam, s_min=0.0):
    c, s, _ = _core.oasis(
        y[None, :], [y.size], np.zeros(1), np.array([[g]]), np.array([lam]), s_min=s_min, threads=1
    )
    return c[0].astype(np.float64), s[0].astype(np.float64)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    g=st.sampled_from([0.0, 0.3, 0.8, 0.95, 0.999]),
    lam=st.sampled_from([0.0, 0.1, 1.0]),
    offset=st.sampled_from([-1.0, 0.0, 0.5]),
    seed=st.integers(0, 10_000),
)
def test_equals_a_generic_convex_solver(n, g, lam, offset, seed):
    rng = np.random.default_rng(seed)
    spikes = (rng.random(n) < 0.15) * rng.uniform(0.5, 2, n)
    y = np.convolve(spikes, g ** np.arange(n))[:n] + 0.3 * rng.standard_normal(n) + offset
    c, s = solve(y, g, lam)
    reference = convex_reference(y, g, lam)
    scale = max(1.0, np.abs(reference).max())
    assert np.abs(c - reference).max() <= 1e-6 * scale
    assert np.all(s >= -1e-6 * scale) and s[0] == 0
    np.testing.assert_allclose(s[1:], c[1:] - g * c[:-1], atol=1e-6 * scale)


def test_recovers_known_spikes_from_simulated_traces():
    recording = calspike.simulate(6, 20_000, indicator="GCaMP6f", snr=8, seed=1)
    result = calspike.deconvolve(recording)

    def per_25hz(x):
        return x[:, : x.shape[1] // 4 * 4].reshape(x.shape[0], -1, 4).sum(-1)

    correlations = [
        np.corrcoef(a, b)[0, 1]
        for a, b in zip(per_25hz(result.spikes), per_25hz(recording.spikes), strict=True)
    ]
    assert np.min(correlations) > 0.6, correlations
    tau = result.tau_s  # GCaMP6f decays with about 0.35 s
    assert np.all((tau > 0.15) & (tau < 0.6)), tau


def test_noise_constrained_lambda_makes_the_residual_match_the_noise():
    recording = calspike.simulate(4, 5_000, indicator="GCaMP6s", snr=4, seed=2)
    sn = np.full(4, 0.12)
    result = calspike.deconvolve(recording, sn=sn)
    y = recording.calcium.astype(np.float64) - result.baseline[:, None]
    rss = np.sum((y - result.calcium) ** 2, axis=1)
    target = sn**2 * recording.frames
    positive = result.lam > 0
    assert positive.any()
    np.testing.assert_allclose(rss[positive], target[positive], rtol=2e-3)
    assert np.all(rss[~positive] >= target[~positive] * (1 - 1e-3))
    fixed = calspike.deconvolve(recording, g=result.g, baseline=result.baseline, lam=result.lam)
    np.testing.assert_allclose(fixed.calcium, result.calcium, atol=1e-4)


def test_parameter_estimates_match_oasis_definitions():
    oasis = pytest.importorskip("oasis.functions")
    recording = calspike.simulate(3, 8_000, seed=4)
    result = calspike.deconvolve(recording)
    for n in range(3):
        y = recording.calcium[n].astype(np.float64)
        g, sn = oasis.estimate_parameters(y, p=1, fudge_factor=0.98)
        assert result.sn[n] == pytest.approx(sn, rel=1e-9)
        assert result.g[n, 0] == pytest.approx(g[0], rel=1e-9)
        assert result.baseline[n] == pytest.approx(np.percentile(y, 15), rel=1e-12)


def test_equals_oasis_deconv_on_real_traces(real_recordings):
    methods = pytest.importorskip("oasis.oasis_methods")
    for recording in real_recordings:
        result = calspike.deconvolve(recording)
        fixed = calspike.deconvolve(
            recording, g=result.g, baseline=result.baseline, lam=0.5 * result.lam + 0.01
        )
        for n in range(recording.neurons):
            length = recording.lengths[n]
            y = recording.calcium[n, :length].astype(np.float64) - result.baseline[n]
            c, _, _, _, lam = methods.constrained_oasisAR1(y, result.g[n, 0], result.sn[n])
            scale = np.abs(c).max()
            assert np.abs(result.calcium[n, :length] - c).max() <= 1e-5 * scale, (recording.name, n)
            assert result.lam[n] == pytest.approx(lam, rel=1e-6, abs=1e-9)
            c_fixed, _ = methods.oasisAR1(y, result.g[n, 0], lam=fixed.lam[n])
            assert np.abs(fixed.calcium[n, :length] - c_fixed).max() <= 1e-5 * np.abs(c_fixed).max()


def test_minimal_spike_size_is_respected():
    recording = calspike.simulate(2, 3_000, seed=5)
    result = calspike.deconvolve(recording, lam=0.0, s_min=0.2)
    spikes = result.spikes[:, 1:]
    assert np.all((spikes == 0) | (spikes >= 0.2 * (1 - 1e-6)))
    assert np.count_nonzero(spikes) < np.count_nonzero(
        calspike.deconvolve(recording, lam=0.0).spikes[:, 1:]
    )


def test_edge_cases_give_defined_results():
    calcium = np.full((6, 50), np.nan, dtype=np.float32)
    calcium[0] = 1.0  # constant
    calcium[1, :1] = 2.0  # one frame
    calcium[2, :3] = [0.0, 5.0, 1.0]  # very short
    calcium[3] = -np.linspace(0, 3, 50)  # negative dF/F
    calcium[4, :20] = 1e30 * np.sin(np.arange(20))  # huge amplitudes
    with pytest.warns(EmptyNeuronWarning, match=r"\(5\) hold no finite frame"):
        result = calspike.deconvolve(calcium, rate=30.0)  # row 5 stays all-NaN: no frames
    lengths = [50, 1, 3, 50, 20, 0]
    for n, length in enumerate(lengths):
        assert (
            np.isfinite(result.calcium[n, :length]).all()
            and np.isnan(result.calcium[n, length:]).all()
        )
        assert np.all(result.spikes[n, :length] >= 0)
    assert np.isnan(result.g[5]).all() and np.isnan(result.lam[5])
    below = calspike.deconvolve(calcium[3:4], baseline=0.0)  # entirely below its baseline
    assert np.all(below.calcium == 0) and np.all(below.spikes == 0)
    for g in (0.0, 0.9999):
        fixed = calspike.deconvolve(calcium[:5], g=g, lam=0.1)
        assert np.isfinite(fixed.calcium[0]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 3}, "p must"),
        ({"p": 2, "s_min": 0.1}, "exact=False"),
        ({"g": 1.0}, "g must"),
        ({"p": 2, "g": (1.9, -0.95)}, "real, distinct roots"),
        ({"g": -0.1}, "g must"),
        ({"lam": -1.0}, "lam must"),
        ({"s_min": -1.0}, "s_min"),
        ({"sn": -1.0}, "sn must"),
        ({"g": [0.5, 0.5]}, "one set per neuron"),
        ({"baseline_percentile": 120}, "baseline_percentile"),
        ({"fudge": 0}, "fudge"),
        ({"threads": -2}, "threads"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        calspike.deconvolve(np.ones((3, 100)), **kwargs)


def test_nan_inside_a_trace_is_an_error_and_outputs_are_zero_copy():
    calcium = np.ones((2, 100))
    calcium[1, 50] = np.nan
    with pytest.raises(ValueError, match="neuron 1, frame 50"):
        calspike.deconvolve(calcium)
    result = calspike.deconvolve(calspike.simulate(2, 500, seed=0))
    assert type(result.calcium.base).__name__ == "PyCapsule" and result.calcium.dtype == np.float32
    assert type(result.spikes.base).__name__ == "PyCapsule"


def test_threads_do_not_change_the_result():
    recording = calspike.simulate(8, 4_000, seed=6)
    one, two = calspike.deconvolve(recording, threads=1), calspike.deconvolve(recording, threads=2)
    assert np.array_equal(one.calcium, two.calcium) and np.array_equal(one.lam, two.lam)


# --- AR(2) ----------------------------------------------------------------------------------------


def convex_reference_ar2(y, g1, g2, lam):
    """min 1/2|y - c|^2 + lam sum(s), s_t = c_t - g1 c_(t-1) - g2 c_(t-2) >= 0 (zero history),
    by NNLS."""
    n = y.size
    root = np.sqrt(g1 * g1 + 4 * g2)
    d, r = (g1 + root) / 2, (g1 - root) / 2
    h = (d ** np.arange(1, n + 1) - r ** np.arange(1, n + 1)) / (d - r)
    lag = np.subtract.outer(np.arange(n), np.arange(n))
    kernel = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)
    weights = np.full(n, 1 - g1 - g2)  # lam * sum(s) = lam * (G^T 1) . c
    if n >= 2:
        weights[-2] = 1 - g1
    weights[-1] = 1.0
    spikes, _ = nnls(kernel, y - lam * weights, maxiter=100 * n)
    return kernel @ spikes


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 60),
    roots=st.sampled_from([(0.9, 0.5), (0.97, 0.3), (0.8, -0.2), (0.6, 0.1)]),
    lam=st.sampled_from([0.0, 0.1, 1.0]),
    offset=st.sampled_from([-0.5, 0.0, 0.3]),
    seed=st.integers(0, 10_000),
)
def test_exact_ar2_equals_a_generic_convex_solver(n, roots, lam, offset, seed):
    d, r = roots
    g1, g2 = d + r, -d * r
    rng = np.random.default_rng(seed)
    response = (d ** np.arange(1, n + 1) - r ** np.arange(1, n + 1)) / (d - r)
    y = np.convolve((rng.random(n) < 0.15) * rng.uniform(0.5, 2, n), response)[:n]
    y += 0.3 * rng.standard_normal(n) + offset
    c, s, _ = _core.oasis(
        y[None, :], [n], np.zeros(1), np.array([[g1, g2]]), np.array([lam]), exact=True, threads=1
    )
    reference = convex_reference_ar2(y, g1, g2, lam)
    scale = max(1.0, np.abs(reference).max())
    assert np.abs(c[0] - reference).max() <= 1e-6 * scale
    assert np.all(s[0] >= 0)


def test_ar2_equals_oasis_deconv_on_real_traces(real_recordings):
    methods = pytest.importorskip("oasis.oasis_methods")
    for recording in real_recordings:
        estimate = calspike.deconvolve(recording, p=2)
        fixed = calspike.deconvolve(
            recording, p=2, g=estimate.g, baseline=estimate.baseline, lam=0.3, exact=False
        )
        for n in range(recording.neurons):
            length = recording.lengths[n]
            y = recording.calcium[n, :length].astype(np.float64) - estimate.baseline[n]
            c, _ = methods.oasisAR2(y, estimate.g[n, 0], estimate.g[n, 1], lam=0.3)
            assert np.abs(fixed.calcium[n, :length] - c).max() <= 1e-5 * np.abs(c).max(), (
                recording.name,
                n,
            )


def test_ar2_recovers_spikes_and_meets_the_noise_constraint():
    recording = calspike.simulate(5, 20_000, indicator="GCaMP6s", snr=8, seed=3)
    result = calspike.deconvolve(recording, p=2)
    assert result.g.shape == (5, 2)

    def per_25hz(x):
        return x[:, : x.shape[1] // 4 * 4].reshape(x.shape[0], -1, 4).sum(-1)

    def correlations(spikes):
        return [
            np.corrcoef(a, b)[0, 1]
            for a, b in zip(per_25hz(spikes), per_25hz(recording.spikes), strict=True)
        ]

    ar2, ar1 = correlations(result.spikes), correlations(calspike.deconvolve(recording, p=1).spikes)
    assert np.min(ar2) > 0.4 and np.mean(ar2) > np.mean(ar1) + 0.05, (
        ar2,
        ar1,
    )  # GCaMP6s rises slowly
    y = recording.calcium.astype(np.float64) - result.baseline[:, None]
    rss = np.sum((y - result.calcium) ** 2, axis=1)
    target = result.sn**2 * recording.frames
    constrained = result.lam > 0
    np.testing.assert_allclose(rss[constrained], target[constrained], rtol=2e-3)
    assert np.all(rss >= target * (1 - 2e-3))
    s = result.spikes.astype(np.float64)
    assert np.all(s >= -1e-6 * np.abs(s).max()) and np.all(s[:, :2] == 0)


def test_ar2_given_coefficients_and_edge_cases():
    calcium = np.full((4, 40), np.nan, dtype=np.float32)
    calcium[0] = 1.0
    calcium[1, :2] = [0.5, 1.0]
    response = (
        0.8 ** np.arange(1, 31) - 0.7 ** np.arange(1, 31)
    ) / 0.1  # AR(2) with roots 0.8, 0.7
    calcium[2] = np.r_[np.zeros(10), response]
    with pytest.warns(EmptyNeuronWarning, match=r"\(3\)"):
        result = calspike.deconvolve(calcium, p=2, g=(1.5, -0.56), baseline=0.0, lam=0.0)
    for n, length in enumerate([40, 2, 40, 0]):
        assert (
            np.isfinite(result.calcium[n, :length]).all()
            and np.isnan(result.calcium[n, length:]).all()
        )
    assert result.spikes[2, 10] == pytest.approx(1.0, rel=1e-5)  # the one event, recovered exactly
    assert np.abs(np.delete(result.spikes[2], 10)).max() < 1e-5
    with pytest.raises(ValueError, match="pair"):
        calspike.deconvolve(calcium, p=2, g=0.9)


@pytest.mark.parametrize("roots", [(0.9999, 0.5), (0.99999, 0.0), (0.5, 0.0), (0.3, -0.29)])
@pytest.mark.parametrize("exact", [True, False])
def test_ar2_roots_at_their_limits_give_defined_results(roots, exact):
    d, r = roots
    recording = calspike.simulate(2, 5_000, seed=2)
    result = calspike.deconvolve(recording, p=2, g=(d + r, -d * r), exact=exact)
    assert np.isfinite(result.calcium).all() and np.all(result.spikes >= -1e-6)
