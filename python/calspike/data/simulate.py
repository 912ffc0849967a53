"""A realistic simulator of calcium imaging with known spikes: calspike's built-in data.

Generative model, per neuron (time in seconds, rates in Hz):
1. Firing: a log-normal mean rate (median 2.5 Hz), modulated by a slow log-normal
   process (Ornstein-Uhlenbeck, tau 2 s) so activity comes in up and down states.
2. Bursts: each event adds 1 + Geometric extra spikes (mean burst 1.6 spikes) with
   gamma-distributed intra-burst intervals (mean 8 ms); spikes are binned per frame.
3. Indicator: calcium = spikes convolved with a double exponential (rise and decay
   time constants of the indicator), peak 1 per spike.
4. Fluorescence: dF/F = A * c / (1 + c / saturation), a saturating nonlinearity with a
   per-neuron single-spike amplitude A around the indicator's typical value.
5. Baseline drift: a slow Ornstein-Uhlenbeck process (tau 30 s) plus an offset.
6. Noise: white Gaussian with standard deviation A / snr (snr: single-spike peak
   amplitude over noise per frame).
Indicator constants are typical values from the literature (Chen et al. 2013, Nature
499:295 for GCaMP6; Grienberger & Konnerth 2012 for OGB-1) and vary between cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calspike.config import check_rate
from calspike.data.recording import Recording


@dataclass(frozen=True)
class Indicator:
    """Kinetics and brightness of a calcium indicator."""

    rise_s: float  # rise time constant, s
    decay_s: float  # decay time constant, s
    amplitude: float  # peak dF/F of one isolated spike, typical cell
    saturation: float  # calcium (in single-spike peaks) at which dF/F is half its linear value


INDICATORS: dict[str, Indicator] = {
    "GCaMP6s": Indicator(rise_s=0.08, decay_s=1.2, amplitude=0.30, saturation=15.0),
    "GCaMP6f": Indicator(rise_s=0.02, decay_s=0.35, amplitude=0.18, saturation=12.0),
    "OGB-1": Indicator(rise_s=0.005, decay_s=0.45, amplitude=0.15, saturation=40.0),
}

_MEDIAN_RATE_HZ = 2.5
_MODULATION_TAU_S = 2.0
_MODULATION_SD = 0.7  # of the log firing rate
_BURST_EXTRA_P = 1 / 1.6  # geometric p: mean burst of 1.6 spikes
_BURST_ISI_S = 0.008
_DRIFT_TAU_S = 30.0
_DRIFT_SD = 0.08  # dF/F
_CHUNK_NEURONS = 64  # bounds the FFT work arrays


def simulate(
    neurons: int = 10,
    frames: int = 20_000,
    rate: float = 100.0,
    indicator: str = "GCaMP6s",
    *,
    snr: float = 5.0,
    amplitude: float | None = None,
    noise_correlation_s: float = 0.0,
    seed: int | np.random.Generator = 0,
    name: str | None = None,
) -> Recording:
    """Simulate calcium traces and their true spikes.

    Parameters
    ----------
    neurons, frames : int
        Output shape (neurons, frames).
    rate : float
        Frame rate in Hz.
    indicator : {"GCaMP6s", "GCaMP6f", "OGB-1"}
        The indicator's kinetics, one of `calspike.data.INDICATORS`.
    snr : float
        Single-spike peak dF/F over the noise standard deviation per frame (> 0).
    amplitude : float, optional
        Typical single-spike peak dF/F (> 0); the indicator's value when None.
    noise_correlation_s : float
        Correlation time of the noise in seconds (0: white). Traces acquired slowly and
        resampled, as SpikeFinder's were, have correlated noise.
    seed : int or numpy.random.Generator
        The same seed gives the same recording.
    name : str, optional
        The recording's name; "simulated {indicator}" when None.

    Returns
    -------
    Recording
        Float32 calcium (dF/F) and float32 spike counts per frame, (neurons, frames).

    Raises
    ------
    ValueError
        For a bad size, rate, indicator, snr, amplitude or noise correlation time.

    Examples
    --------
    >>> import calspike
    >>> recording = calspike.simulate(neurons=3, frames=1_000, rate=30.0, indicator="GCaMP6f")
    >>> recording.calcium.shape, recording.spikes.shape
    ((3, 1000), (3, 1000))
    """
    if isinstance(neurons, bool) or not isinstance(neurons, (int, np.integer)) or neurons < 1:
        raise ValueError(f"neurons must be an integer >= 1, got {neurons!r}")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    check_rate(rate, "rate")
    if indicator not in INDICATORS:
        raise ValueError(f"indicator must be one of {', '.join(INDICATORS)}, got {indicator!r}")
    for label, value, low in (("snr", snr, 0.0), ("amplitude", amplitude, 0.0)):
        if value is not None and not (
            isinstance(value, (int, float, np.integer, np.floating))
            and np.isfinite(value)
            and value > low
        ):
            raise ValueError(f"{label} must be a finite number > 0, got {value!r}")
    if not (
        isinstance(noise_correlation_s, (int, float, np.integer, np.floating))
        and np.isfinite(noise_correlation_s)
        and noise_correlation_s >= 0
    ):
        raise ValueError(
            f"noise_correlation_s must be a finite number >= 0 s, got {noise_correlation_s!r}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    kinetics = INDICATORS[indicator]
    neurons, frames, rate = int(neurons), int(frames), float(rate)

    mean_rate = np.clip(_MEDIAN_RATE_HZ * rng.lognormal(0.0, 0.7, neurons), 0.2, 20.0)
    typical = kinetics.amplitude if amplitude is None else float(amplitude)
    peak = typical * rng.lognormal(0.0, 0.35, neurons)
    decay = kinetics.decay_s * rng.lognormal(0.0, 0.15, neurons)
    offset = rng.normal(0.0, 0.05, neurons)

    spikes = np.empty((neurons, frames), dtype=np.float32)
    calcium = np.empty((neurons, frames), dtype=np.float32)
    for start in range(0, neurons, _CHUNK_NEURONS):
        part = slice(start, min(start + _CHUNK_NEURONS, neurons))
        n = part.stop - part.start
        log_modulation = _ornstein_uhlenbeck(
            rng, n, frames, rate, _MODULATION_TAU_S, _MODULATION_SD
        )
        firing = mean_rate[part, None] * np.exp(log_modulation - _MODULATION_SD**2 / 2)
        counts = _burst_spikes(rng, firing / rate, rate)
        level = _causal_convolve(
            counts, _indicator_kernels(kinetics.rise_s, decay[part], rate, frames)
        )
        dff = peak[part, None] * level / (1.0 + level / kinetics.saturation)
        drift = (
            _ornstein_uhlenbeck(rng, n, frames, rate, _DRIFT_TAU_S, _DRIFT_SD) + offset[part, None]
        )
        noise = _noise(rng, n, frames, noise_correlation_s * rate) * (peak[part, None] / snr)
        calcium[part] = dff + drift + noise
        spikes[part] = counts
    label = name if name is not None else f"simulated {indicator}"
    return Recording(calcium, rate, spikes=spikes, name=label)


def default_recordings(seed: int = 0) -> list[Recording]:
    """Simulate calspike's built-in data: three recordings shaped like SpikeFinder 4, 5 and 6.

    100 Hz; an OGB-1 recording (6 neurons x 27,763 frames), a GCaMP6s one (9 x 16,919)
    and a GCaMP6f one (9 x 24,000) whose traces have different lengths (NaN tails).
    Amplitudes, noise levels and noise correlation are set to resemble those files
    (docs/simulator_vs_real.png compares them).

    Parameters
    ----------
    seed : int
        The same seed gives the same recordings.

    Returns
    -------
    list of Recording
        The three recordings, with calcium (dF/F) and spike counts.
    """
    rng = np.random.default_rng(seed)
    ogb = simulate(
        6,
        27_763,
        100.0,
        "OGB-1",
        snr=1.5,
        amplitude=0.35,
        noise_correlation_s=0.08,
        seed=rng,
        name="sim-OGB-1",
    )
    gcamp6s = simulate(
        9,
        16_919,
        100.0,
        "GCaMP6s",
        snr=8.0,
        amplitude=0.3,
        noise_correlation_s=0.02,
        seed=rng,
        name="sim-GCaMP6s",
    )
    full = simulate(
        9,
        24_000,
        100.0,
        "GCaMP6f",
        snr=5.0,
        amplitude=0.8,
        noise_correlation_s=0.05,
        seed=rng,
        name="sim-GCaMP6f",
    )
    lengths = np.where(rng.random(9) < 0.5, 24_000, rng.integers(6_000, 24_000, 9))
    calcium = np.array(full.calcium)
    spikes = np.array(full.spikes)
    padding = np.arange(24_000) >= lengths[:, None]
    calcium[padding] = np.nan
    spikes[padding] = np.nan
    gcamp6f = Recording(calcium, 100.0, spikes=spikes, name="sim-GCaMP6f")
    return [ogb, gcamp6s, gcamp6f]


def _ornstein_uhlenbeck(
    rng: np.random.Generator, rows: int, frames: int, rate: float, tau_s: float, sd: float
) -> np.ndarray:
    """Stationary OU processes, shape (rows, frames): correlation time tau_s, std sd.

    Exact AR(1) steps on a grid of tau_s / 20, started from the stationary law, then
    linearly interpolated to the frames (the process is smooth at that scale).
    """
    step_s = tau_s / 20.0
    steps = int(np.ceil(frames / rate / step_s)) + 2
    decay = np.exp(-step_s / tau_s)
    innovations = rng.standard_normal((rows, steps)) * (sd * np.sqrt(1.0 - decay**2))
    grid = np.empty((rows, steps))
    grid[:, 0] = rng.standard_normal(rows) * sd
    for k in range(1, steps):
        grid[:, k] = decay * grid[:, k - 1] + innovations[:, k]
    position = np.arange(frames) / rate / step_s
    left = position.astype(np.int64)
    weight = position - left
    return grid[:, left] * (1.0 - weight) + grid[:, left + 1] * weight


def _noise(
    rng: np.random.Generator, rows: int, frames: int, correlation_frames: float
) -> np.ndarray:
    """Gaussian noise of unit variance per frame.

    Exponentially correlated over `correlation_frames` frames (white if <= 0).
    """
    white = rng.standard_normal((rows, frames))
    if correlation_frames <= 0:
        return white
    kernel = np.exp(-np.arange(int(np.ceil(8 * correlation_frames)) + 1) / correlation_frames)
    return _causal_convolve(
        white, np.broadcast_to(kernel / np.sqrt(np.sum(kernel**2)), (rows, kernel.size))
    )


def _burst_spikes(
    rng: np.random.Generator, spikes_per_frame: np.ndarray, rate: float
) -> np.ndarray:
    """Spike counts per frame (rows, frames): Poisson burst onsets, geometric burst sizes."""
    rows, frames = spikes_per_frame.shape
    onsets = rng.poisson(spikes_per_frame * _BURST_EXTRA_P)  # expected spikes / mean burst size
    row, frame = np.nonzero(onsets)
    repeats = onsets[row, frame]
    row, frame = np.repeat(row, repeats), np.repeat(frame, repeats)
    extra = rng.geometric(_BURST_EXTRA_P, row.size) - 1
    burst_row, burst_onset = np.repeat(row, extra), np.repeat(frame, extra)
    # the k-th extra spike of a burst comes k gamma-distributed intervals after its onset
    position = np.arange(extra.sum()) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    delay_frames = rng.gamma(position, _BURST_ISI_S) * rate
    burst_frame = burst_onset + np.floor(delay_frames + rng.random(position.size)).astype(np.int64)
    keep = burst_frame < frames
    flat = np.concatenate([row * frames + frame, burst_row[keep] * frames + burst_frame[keep]])
    return np.bincount(flat, minlength=rows * frames).reshape(rows, frames).astype(np.float64)


def _indicator_kernels(rise_s: float, decay_s: np.ndarray, rate: float, frames: int) -> np.ndarray:
    """Double-exponential responses to one spike, one row per decay constant.

    Each row peaks at 1 and is sampled at frame centres.
    """
    length = int(min(frames, np.ceil(8 * decay_s.max() * rate) + 1))
    t = (np.arange(length) + 0.5) / rate
    kernels = np.exp(-t / decay_s[:, None]) - np.exp(-t / max(rise_s, 1e-6))
    return np.asarray(kernels / kernels.max(axis=1, keepdims=True))


def _causal_convolve(signal: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Causal convolution of each row of signal (rows, frames) with its row of kernels, by FFT."""
    frames = signal.shape[1]
    size = 1 << int(np.ceil(np.log2(frames + kernels.shape[1])))
    spectrum = np.fft.rfft(signal, size, axis=1) * np.fft.rfft(kernels, size, axis=1)
    return np.asarray(np.fft.irfft(spectrum, size, axis=1)[:, :frames])
