"""How a prediction of spikes is scored against ground truth, and the methods without training.

Shared by bench_ground_truth.py and bench_fine_tune.py: the SpikeFinder metric (Pearson r per
neuron in 40 ms bins), the Poisson information gain, the calibration ratio (predicted /
true spikes in the scored bins), the best lag; OASIS and the smoothed derivative; the
indicator family of a recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from calspike.data import Recording
from calspike.preprocess import fill_gaps, rebin_counts, resampled_length
from calspike.spikes.oasis import deconvolve
from calspike.spikes.rate_datasets import dataset_of
from calspike.spikes.score import score_neurons

SCORE_RATE_HZ = 25.0
MIXED_INTERNEURONS = "DS33"  # jGCaMP7f/8f/8m/8s and XCaMP-Gf interneurons in one dataset


def family(recording: Recording) -> str:
    """The indicator family a recording is reported under (jGCaMP8f/m/s are one)."""
    indicator = str(recording.metadata.get("indicator", ""))
    if recording.metadata.get("source") == "SpikeFinder":
        return "SpikeFinder 4-6"
    if recording.metadata.get("dataset") == MIXED_INTERNEURONS:
        return "jGCaMP7/8+XCaMP (PV/SST/VIP)"
    return "jGCaMP8" if indicator.startswith("jGCaMP8") else indicator


def scores_at_25hz(recording: Recording, prediction: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row scores of `prediction` (rows, frames at the recording's rate) in 40 ms bins.

    r (Pearson), info_gain (bits/s), lag_ms and r_best_lag (`best_lag`), and ratio: the
    predicted spikes over the true spikes in the bins both cover (NaN for a row without
    spikes).
    """
    assert recording.lengths is not None and recording.spikes is not None
    lengths = [resampled_length(int(n), recording.rate, SCORE_RATE_HZ) for n in recording.lengths]
    truth = rebin_counts(
        recording.spikes, recording.rate, SCORE_RATE_HZ, lengths, recording.lengths
    )
    predicted = rebin_counts(
        np.where(np.isfinite(prediction), prediction, np.nan).astype(np.float32),
        recording.rate,
        SCORE_RATE_HZ,
        lengths,
        recording.lengths,
    )
    truth = np.where(np.isnan(predicted), np.nan, truth)  # dropped frames count on neither side
    scores = score_neurons(truth, predicted, bins=1, rate=SCORE_RATE_HZ)
    lags = np.array([best_lag(t, q) for t, q in zip(truth, predicted, strict=True)]).reshape(-1, 2)
    true_sum = np.nansum(truth, axis=1)
    ratio = np.where(
        true_sum > 0, np.nansum(predicted, axis=1) / np.where(true_sum > 0, true_sum, 1), np.nan
    )
    return {
        "r": scores["correlation"],
        "info_gain": scores["info_gain"],
        "lag_ms": lags[:, 0],
        "r_best_lag": lags[:, 1],
        "ratio": ratio,
    }


def neuron_row(
    recording: Recording, row: int, scored: dict[str, dict[str, np.ndarray]], **fields: Any
) -> dict[str, Any]:
    """One neuron's entry of a benchmark's JSON: `fields`, its dataset, family and name, and
    each method's r, information gain, best lag, r at that lag and calibration ratio."""
    entry: dict[str, Any] = {
        **fields,
        "dataset": dataset_of(recording),
        "family": family(recording),
        "neuron": f"{recording.name}/{recording.neuron_name(row)}",
    }
    for method, scores in scored.items():
        entry[method] = float(scores["r"][row])
        for key in ("info_gain", "lag_ms", "r_best_lag", "ratio"):
            entry[f"{method}_{key}"] = float(scores[key][row])
    return entry


def best_lag(truth: np.ndarray, predicted: np.ndarray, most_bins: int = 5) -> tuple[float, float]:
    """The shift of the prediction (ms, 40 ms steps, within +-200) that correlates best.

    Positive when the prediction comes late; and r at that shift: how much of a dataset's
    score its timing costs (a diagnostic; the score is r unshifted).
    """
    keep = np.isfinite(truth) & np.isfinite(predicted)
    t, q = truth[keep], predicted[keep]
    if t.size < 4 * most_bins or t.std() == 0 or q.std() == 0:
        return float("nan"), float("nan")
    shifts = range(-most_bins, most_bins + 1)
    r = [
        np.corrcoef(t[max(0, -k) : t.size - max(0, k)], q[max(0, k) : q.size - max(0, -k)])[0, 1]
        for k in shifts
    ]
    best = int(np.nanargmax(r))
    return float(list(shifts)[best] * 1000 / SCORE_RATE_HZ), float(r[best])


def positive_derivative(recording: Recording, sigma_s: float) -> np.ndarray:
    """The positive part of the derivative of the trace smoothed by a Gaussian of `sigma_s`."""
    filled, dropped = fill_gaps(recording.calcium, recording.lengths)
    smooth = gaussian_filter1d(
        np.nan_to_num(filled.astype(np.float64)),
        sigma_s * recording.rate,
        axis=1,
        order=1,
        mode="nearest",
    )
    out = np.maximum(smooth, 0)
    out[dropped | np.isnan(filled)] = np.nan
    return out


def oasis_spikes(recording: Recording) -> np.ndarray:
    """calspike's OASIS AR(1), parameters estimated per neuron; NaN on dropped frames."""
    filled, dropped = fill_gaps(recording.calcium, recording.lengths)
    spikes = deconvolve(
        Recording(filled, recording.rate, lengths=recording.lengths), p=1
    ).spikes.copy()
    spikes[dropped] = np.nan
    return spikes
