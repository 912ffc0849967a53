"""OASIS deconvolution (Friedrich, Zhou & Paninski 2017): the classical fast baseline, in C++."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calspike import _core, config
from calspike.data.recording import Recording, warn_empty_neurons


@dataclass(frozen=True, eq=False, repr=False)
class Deconvolution:
    """Result of `deconvolve`.

    Neurons without a valid frame have NaN everywhere.

    Attributes
    ----------
    calcium : ndarray, shape (neurons, frames), float32
        Denoised calcium c, baseline removed; NaN in padding.
    spikes : ndarray, shape (neurons, frames), float32
        s_t = c_t - g c_(t-1) >= 0, spike amplitude per frame in the calcium's units (0
        inside quiet stretches and at frame 0); NaN in padding.
    baseline : ndarray, shape (neurons,), float64
        The baseline b subtracted from the trace.
    g : ndarray, shape (neurons, p), float64
        AR coefficients, c_t = g[0] c_(t-1) (+ g[1] c_(t-2)) + s_t.
    sn : ndarray, shape (neurons,), float64
        Noise standard deviation (NaN when a fixed `lam` was given and sn was neither
        given nor needed).
    lam : ndarray, shape (neurons,), float64
        The sparsity penalty lambda used.
    rate : float or None
        Frame rate in Hz, or None for arrays given without one.
    """

    calcium: np.ndarray
    spikes: np.ndarray
    baseline: np.ndarray
    g: np.ndarray
    sn: np.ndarray
    lam: np.ndarray
    rate: float | None

    @property
    def tau_s(self) -> np.ndarray:
        """Decay time constant per neuron in seconds, shape (neurons,).

        -1 / (rate * ln d), d the slowest root of the AR model. Raises ValueError when the
        frame rate is not known (an array deconvolved without `rate`).
        """
        if self.rate is None:
            raise ValueError("tau_s needs the frame rate: pass rate= to deconvolve for arrays")
        if self.g.shape[1] == 1:
            decay = self.g[:, 0]
        else:  # the larger root of z^2 = g1 z + g2
            decay = (
                self.g[:, 0] + np.sqrt(np.maximum(self.g[:, 0] ** 2 + 4 * self.g[:, 1], 0))
            ) / 2
        with np.errstate(divide="ignore"):
            return np.asarray(-1.0 / (self.rate * np.log(decay)))

    def __repr__(self) -> str:
        return (
            f"Deconvolution(neurons={self.calcium.shape[0]}, frames={self.calcium.shape[1]}, "
            f"p={self.g.shape[1]}, median lam={np.nanmedian(self.lam):.3g})"
        )


def deconvolve(
    data: Recording | np.ndarray,
    p: int = 1,
    *,
    g: float | np.ndarray | None = None,
    sn: float | np.ndarray | None = None,
    baseline: float | np.ndarray | None = None,
    lam: float | np.ndarray | None = None,
    s_min: float = 0.0,
    exact: bool = True,
    rate: float | None = None,
    baseline_percentile: float = 15.0,
    fudge: float = 0.98,
    threads: int = 0,
) -> Deconvolution:
    """Deconvolve calcium traces into spikes with OASIS (AR(1) or AR(2) calcium dynamics).

    Solves per neuron ``min 1/2 |y - b - c|^2 + lam * sum(s)`` subject to s >= 0, where
    s_t = c_t - g c_(t-1) (p = 1; c_0 >= 0) or s_t = c_t - g1 c_(t-1) - g2 c_(t-2) (p = 2, which
    also models the indicator's rise; zero history). Both are solved exactly: the result
    equals a generic convex solver's. AR(1) uses OASIS's pool algorithm, which is exact;
    AR(2) refines OASIS's greedy AR(2) pools with active-set iterations on the dual (O(n)
    each); `exact=False` keeps the greedy AR(2) result of the reference implementation.
    With s_min > 0 every non-zero s_t (t >= 1) is at least s_min: OASIS's greedy rule for a
    non-convex problem (for p = 2 it needs exact=False).

    Parameters
    ----------
    data : Recording or array_like, shape (neurons, frames) or (frames,)
        The calcium traces; NaN tails of an array are padding.
    p : {1, 2}
        Order of the autoregressive calcium model.
    g : float or array_like, optional
        AR coefficients: for p = 1 a number in [0, 1) or one per neuron, shape (neurons,);
        for p = 2 a pair (g1, g2) or a (neurons, 2) array whose roots are real, distinct
        and in (-1, 1). Estimated from the autocovariance (noise-corrected Yule-Walker,
        roots scaled by `fudge`) when None.
    sn : float or array_like, shape (neurons,), optional
        Noise standard deviation, in the calcium's units; estimated from the power spectral
        density's upper half (0.25..0.5 cycles per frame, Welch) when None.
    baseline : float or array_like, shape (neurons,), optional
        The baseline b, subtracted from the trace; the `baseline_percentile`-th percentile
        of each trace when None.
    lam : float or array_like, shape (neurons,), optional
        Sparsity penalty (>= 0); when None, the noise-constrained variant picks the smallest
        lam with ``|y - b - c|^2 = sn^2 T`` (lam = 0 when the unpenalised fit is already that
        loose).
    s_min : float
        Minimal spike size (>= 0) for frames t >= 1; with the noise-constrained variant
        (lam None) the pools are solved again with the lam it found, as OASIS does.
    exact : bool
        For p = 2, solve the convex problem exactly (True) or keep OASIS's greedy pools.
    rate : float, optional
        Frame rate in Hz for arrays (a Recording carries its own); only used for `tau_s`.
    baseline_percentile : float
        Percentile in [0, 100] of each trace taken as the baseline when `baseline` is None.
    fudge : float
        Factor in [1e-8, 1] that scales the roots of the estimated AR coefficients.
    threads : int
        C++ threads; 0 uses all cores.

    Returns
    -------
    Deconvolution
        Denoised calcium, spikes and the parameters used; its arrays were allocated in C++
        and handed over without a copy.

    Raises
    ------
    ValueError
        For a `p` other than 1 or 2, AR coefficients out of range, negative `sn` or `lam`,
        values of the wrong shape, non-finite or out-of-range `s_min`,
        `baseline_percentile` or `fudge`, or ``s_min > 0`` with ``p=2, exact=True`` (a
        non-convex problem).

    Warns
    -----
    EmptyNeuronWarning
        For neurons without a valid frame (length 0): their outputs are NaN.

    Examples
    --------
    >>> import calspike
    >>> recording = calspike.simulate(neurons=3, frames=2_000, rate=30.0, seed=0)
    >>> result = calspike.deconvolve(recording, p=1)
    >>> result.spikes.shape, result.tau_s.shape
    ((3, 2000), (3,))
    """
    checked = config.check(
        {
            "p": p,
            "threads": threads,
            "s_min": s_min,
            "baseline_percentile": baseline_percentile,
            "fudge": fudge,
        }
    )
    p, threads, s_min = checked["p"], checked["threads"], checked["s_min"]
    baseline_percentile, fudge = checked["baseline_percentile"], checked["fudge"]
    recording = data if isinstance(data, Recording) else _as_recording(data, rate)
    if p == 2 and exact and s_min > 0:
        raise ValueError(
            "s_min > 0 makes the problem non-convex: pass exact=False for AR(2) with s_min"
        )

    neurons = recording.neurons
    lengths = recording.lengths.tolist()
    b_est: np.ndarray | None = None
    sn_est: np.ndarray | None = None
    g_est: np.ndarray | None = None
    if baseline is None or g is None or (lam is None and sn is None):
        b_est, sn_est, g_est = _core.oasis_estimates(
            recording.calcium, lengths, p, float(baseline_percentile), float(fudge), threads
        )
    b = _per_neuron(baseline, neurons, "baseline", b_est)
    g_used = _coefficients(g, neurons, p, g_est)
    empty = np.asarray(lengths) == 0
    # neurons without frames get placeholders the core accepts; their outputs are all NaN
    b_core = np.where(empty, 0.0, b)
    g_core = np.where(empty[:, None], [0.5] if p == 1 else [0.9, -0.2], g_used)
    if lam is None:
        noise = _per_neuron(sn, neurons, "sn", sn_est)
        if np.any(noise[~empty] < 0):
            raise ValueError("sn must be >= 0 for every neuron")
        noise_core = np.where(empty, 0.0, noise)
        calcium, spikes, lam_used = _core.oasis(
            recording.calcium,
            lengths,
            b_core,
            g_core,
            noise_core,
            constrained=True,
            exact=bool(exact),
            threads=threads,
        )
        if s_min > 0:
            # As OASIS does: the noise constraint picks lam, then the pools are solved again
            # with that lam and the minimal spike size.
            lam_core = np.where(empty, 0.0, np.nan_to_num(np.asarray(lam_used, dtype=np.float64)))
            calcium, spikes, _ = _core.oasis(
                recording.calcium,
                lengths,
                b_core,
                g_core,
                lam_core,
                s_min=float(s_min),
                exact=bool(exact),
                threads=threads,
            )
    else:
        noise = _per_neuron(sn, neurons, "sn", np.full(neurons, np.nan))
        lam_used = _per_neuron(lam, neurons, "lam", None)
        if np.any(lam_used < 0):
            raise ValueError("lam must be >= 0 for every neuron")
        calcium, spikes, _ = _core.oasis(
            recording.calcium,
            lengths,
            b_core,
            g_core,
            lam_used,
            s_min=float(s_min),
            exact=bool(exact),
            threads=threads,
        )
    warn_empty_neurons(empty, recording.name)  # after every argument was checked
    nan = np.where(empty, np.nan, 1.0)
    return Deconvolution(
        calcium=calcium,
        spikes=spikes,
        baseline=b * nan,
        g=g_used * nan[:, None],
        sn=noise * nan,
        lam=np.asarray(lam_used, dtype=np.float64) * nan,
        rate=recording.rate if isinstance(data, Recording) else rate,
    )


def _as_recording(data: np.ndarray, rate: float | None) -> Recording:
    array = np.asarray(data)
    if array.ndim == 1:
        array = array[None, :]
    return Recording(array, 1.0 if rate is None else config.check_rate(rate, "rate"), name="array")


def _coefficients(value: object, neurons: int, p: int, default: np.ndarray | None) -> np.ndarray:
    """AR coefficients as a float64 (neurons, p) array: one set for all neurons, or each's own."""
    if value is None:
        if default is None:
            raise ValueError("g is required")
        return np.asarray(default, dtype=np.float64).reshape(neurons, p)
    array = np.asarray(value, dtype=np.float64)
    if array.size == p:  # one set of coefficients for every neuron
        array = np.tile(array.reshape(1, p), (neurons, 1))
    elif array.size == neurons * p:
        array = array.reshape(neurons, p)
    else:
        expected = "a number" if p == 1 else "a pair (g1, g2)"
        raise ValueError(
            f"g must be {expected} or one set per neuron ({neurons}), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("g must be finite")
    if p == 1 and np.any((array < 0) | (array >= 1)):
        raise ValueError("g must lie in [0, 1) for every neuron")
    return array


def _per_neuron(value: object, neurons: int, name: str, default: np.ndarray | None) -> np.ndarray:
    """A float64 (neurons,) array from a scalar, a per-neuron sequence, or the default when None."""
    if value is None:
        if default is None:
            raise ValueError(f"{name} is required")
        return np.asarray(default, dtype=np.float64)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(neurons, float(array))
    if array.shape != (neurons,):
        raise ValueError(
            f"{name} must be a number or one value per neuron ({neurons}), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array
