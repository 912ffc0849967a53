"""Scores: window classification (accuracy, balanced accuracy, ROC AUC, the tutorial's
confusion matrix) and spike predictions against ground truth, per neuron (the SpikeFinder way)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from calspike.config import check_rate
from calspike.data.recording import check_numeric_dtype

SPIKEFINDER_BINS = 4  # 100 Hz summed in groups of 4: 25 Hz


def _paired_bins(truth: np.ndarray, prediction: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames where both are defined, summed in consecutive groups of `bins` (a partial last group dropped)."""
    truth = np.asarray(truth, dtype=np.float64).ravel()
    prediction = np.asarray(prediction, dtype=np.float64).ravel()
    if truth.shape != prediction.shape:
        raise ValueError(f"truth and prediction must have the same length, got {truth.size} and {prediction.size}")
    keep = ~(np.isnan(truth) | np.isnan(prediction))
    # Every score here ignores the prediction's scale: scaling it first keeps bin sums finite.
    truth, prediction = truth[keep], _unit_scaled(prediction[keep])
    usable = truth.size // bins * bins
    return (truth[:usable].reshape(-1, bins).sum(axis=1), prediction[:usable].reshape(-1, bins).sum(axis=1))


def _unit_scaled(values: np.ndarray) -> np.ndarray:
    """`values` scaled by a power of two to a largest magnitude in [0.5, 1), so sums of squares cannot
    overflow. A power of two scales exactly: equal sums stay equal (ranks and ties are kept)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if not (largest > 0 and np.isfinite(largest)):
        return values
    scaled: np.ndarray = np.ldexp(values, -np.frexp(largest)[1])
    return scaled


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    # r does not change with scale; scaling first keeps 1e300-sized predictions finite.
    x, y = _unit_scaled(x), _unit_scaled(y)
    x, y = _unit_scaled(x - x.mean()), _unit_scaled(y - y.mean())
    norm = np.sqrt(np.dot(x, x)) * np.sqrt(np.dot(y, y))
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


def spikefinder_auc(truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS) -> float:
    """ROC AUC separating bins with spikes from bins without, by the binned prediction (NaN: one class)."""
    x, y = _paired_bins(truth, prediction, bins)
    return roc_auc(x > 0, y)


def poisson_information_gain(
    truth: np.ndarray, prediction: np.ndarray, rate: float = 100.0, bins: int = SPIKEFINDER_BINS,
    floor: float = 0.01,
) -> float:
    """Information the prediction carries about the spike counts, in bits per second.

    On the counts binned as `spikefinder_correlation` does: the Poisson log-likelihood of the
    true counts under the predicted rate minus that under a constant rate (the true mean),
    per second of recording (`rate` is the frames' rate in Hz). Predictions are in arbitrary
    units, so they are scaled to the true mean count (the maximum-likelihood gain) and mixed
    with `floor` x the constant rate, so that a zero prediction where a spike fell costs a
    finite penalty. 0: no better than a constant rate; negative: worse. NaN without spikes.
    """
    counts, predicted = _paired_bins(truth, prediction, bins)
    if counts.size == 0 or counts.sum() <= 0:
        return float("nan")
    predicted = _unit_scaled(np.maximum(predicted, 0.0))  # only its shape matters: it is rescaled below
    mean = counts.mean()
    scaled = predicted * (mean / predicted.mean()) if predicted.sum() > 0 else np.full_like(counts, mean)
    expected = (1 - floor) * scaled + floor * mean
    gain_nats = np.sum(counts * np.log(expected / mean) - (expected - mean))
    seconds = counts.size * bins / rate
    return float(gain_nats / np.log(2) / seconds)


def score_neurons(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS, rate: float = 100.0
) -> dict[str, np.ndarray]:
    """Per-neuron correlation, spearman, auc and info_gain (bits/s; `rate` in Hz) for (neurons, frames)
    arrays (NaN padding allowed)."""
    truth, prediction = np.atleast_2d(truth), np.atleast_2d(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} must have the same shape")
    if truth.ndim != 2:
        raise ValueError(f"truth and prediction must be (neurons, frames), got shape {truth.shape}")
    check_rate(rate, "rate")
    for name, values in (("truth", truth), ("prediction", prediction)):
        check_numeric_dtype(values.dtype, name)
        bad = np.isinf(values) | ((values < 0) if name == "truth" else False)
        if bad.any():
            row, frame = (int(v) for v in np.argwhere(bad)[0])
            kind = "infinite" if np.isinf(values[row, frame]) else "a negative spike count"
            raise ValueError(f"{name} is {kind} at neuron {row}, frame {frame}")
    scores = {
        name: np.array([function(t, p, bins) for t, p in zip(truth, prediction)])
        for name, function in (("correlation", spikefinder_correlation), ("spearman", spearman_correlation),
                               ("auc", spikefinder_auc))
    }
    scores["info_gain"] = np.array([poisson_information_gain(t, p, rate, bins) for t, p in zip(truth, prediction)])
    return scores


def _labels_and_predictions(labels: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(labels).ravel().astype(bool)
    guess = np.asarray(predicted).ravel().astype(bool)
    if truth.shape != guess.shape:
        raise ValueError(f"labels and predictions must have the same length, got {truth.size} and {guess.size}")
    if truth.size == 0:
        raise ValueError("no windows to score")
    return truth, guess


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of windows whose predicted class (bool) equals the label."""
    truth, guess = _labels_and_predictions(labels, predicted)
    return float(np.mean(truth == guess))


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the accuracy on spike windows and on no-spike windows (0.5 is chance); NaN if a class is absent."""
    truth, guess = _labels_and_predictions(labels, predicted)
    if truth.all() or not truth.any():
        return float("nan")
    return float(0.5 * (guess[truth].mean() + (~guess[~truth]).mean()))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for bool `labels` (Mann-Whitney U, ties counted half).

    NaN when either class is empty; ValueError for NaN scores.
    """
    truth = np.asarray(labels).ravel().astype(bool)
    values = np.asarray(scores, dtype=np.float64).ravel()
    if truth.shape != values.shape:
        raise ValueError(f"labels and scores must have the same length, got {truth.size} and {values.size}")
    if np.isnan(values).any():
        raise ValueError("scores hold NaN")
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(values).rank().to_numpy()
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The tutorial's confusion matrix: fractions of all windows, float64 (2, 2).

    Rows: predicted spike, predicted no spike; columns: spike, no spike. So [0, 0] is
    the fraction of true positives and [0, 1] of false positives; the entries sum to 1.
    """
    truth, guess = _labels_and_predictions(labels, predicted)
    counts = np.array([[np.sum(guess & truth), np.sum(guess & ~truth)],
                       [np.sum(~guess & truth), np.sum(~guess & ~truth)]], dtype=np.float64)
    return counts / truth.size


def classification_scores(labels: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """accuracy, balanced_accuracy, roc_auc and confusion (as nested lists) of spike probabilities."""
    predicted = np.asarray(probability) > threshold
    return {
        "windows": int(np.asarray(labels).size),
        "accuracy": accuracy(labels, predicted),
        "balanced_accuracy": balanced_accuracy(labels, predicted),
        "roc_auc": roc_auc(labels, probability),
        "confusion": confusion_matrix(labels, predicted).tolist(),
    }
