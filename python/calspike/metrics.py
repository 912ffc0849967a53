"""Scores of spike predictions against ground truth, per neuron (the SpikeFinder way)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPIKEFINDER_BINS = 4  # 100 Hz summed in groups of 4: 25 Hz


def _paired_bins(truth: np.ndarray, prediction: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames where both are defined, summed in consecutive groups of `bins` (a partial last group dropped)."""
    truth = np.asarray(truth, dtype=np.float64).ravel()
    prediction = np.asarray(prediction, dtype=np.float64).ravel()
    if truth.shape != prediction.shape:
        raise ValueError(f"truth and prediction must have the same length, got {truth.size} and {prediction.size}")
    keep = ~(np.isnan(truth) | np.isnan(prediction))
    truth, prediction = truth[keep], prediction[keep]
    usable = truth.size // bins * bins
    return (truth[:usable].reshape(-1, bins).sum(axis=1), prediction[:usable].reshape(-1, bins).sum(axis=1))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    norm = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.dot(x, y) / norm) if norm > 0 else 0.0  # a constant prediction carries no information


def spikefinder_correlation(truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS) -> float:
    """SpikeFinder's official score for one neuron: Pearson r of spike counts summed over `bins` frames.

    Frames where either side is NaN are dropped first. A constant prediction scores 0; fewer
    than two bins give NaN.
    """
    return _pearson(*_paired_bins(truth, prediction, bins))


def spearman_correlation(truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS) -> float:
    """Rank correlation (average ranks for ties) of the binned counts, as `spikefinder_correlation`."""
    x, y = _paired_bins(truth, prediction, bins)
    return _pearson(pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy())


def roc_auc(truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS) -> float:
    """Area under the ROC curve separating bins with spikes from bins without, by the prediction.

    NaN when either class is empty.
    """
    x, y = _paired_bins(truth, prediction, bins)
    positive = x > 0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(y).rank().to_numpy()  # Mann-Whitney U with average ranks for ties
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def score_neurons(truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS) -> dict[str, np.ndarray]:
    """Per-neuron correlation, spearman and auc for (neurons, frames) arrays (NaN padding allowed)."""
    truth, prediction = np.atleast_2d(truth), np.atleast_2d(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} must have the same shape")
    return {
        name: np.array([function(t, p, bins) for t, p in zip(truth, prediction)])
        for name, function in (("correlation", spikefinder_correlation), ("spearman", spearman_correlation),
                               ("auc", roc_auc))
    }
