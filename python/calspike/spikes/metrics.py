"""SpikeFinder's per-neuron metrics: how well predicted spikes match the ground truth.

Pearson r of counts in 40 ms bins (SpikeFinder's official score), Spearman r, ROC AUC and the
Poisson information gain, on (neurons, frames) arrays at 100 Hz unless told; NaN frames on
either side are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calspike.config import check_rate
from calspike.data.recording import check_numeric_dtype

SPIKEFINDER_BINS = 4  # 100 Hz summed in groups of 4: 25 Hz


def _unit_scaled(values: np.ndarray) -> np.ndarray:
    """`values` scaled by a power of two to a largest magnitude in [0.5, 1).

    So sums of squares cannot overflow. A power of two scales exactly: equal sums stay equal
    (ranks and ties are kept).
    """
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if not (largest > 0 and np.isfinite(largest)):
        return values
    scaled: np.ndarray = np.ldexp(values, -np.frexp(largest)[1])
    return scaled


def _paired_bins(
    truth: np.ndarray, prediction: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frames where both are defined, summed in consecutive groups of `bins`.

    A partial last group is dropped.
    """
    truth = np.asarray(truth, dtype=np.float64).ravel()
    prediction = np.asarray(prediction, dtype=np.float64).ravel()
    if truth.shape != prediction.shape:
        raise ValueError(
            "truth and prediction must have the same length, got "
            f"{truth.size} and {prediction.size}"
        )
    keep = ~(np.isnan(truth) | np.isnan(prediction))
    # Every score here ignores the prediction's scale: scaling it first keeps bin sums finite.
    truth, prediction = truth[keep], _unit_scaled(prediction[keep])
    usable = truth.size // bins * bins
    return (
        truth[:usable].reshape(-1, bins).sum(axis=1),
        prediction[:usable].reshape(-1, bins).sum(axis=1),
    )


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    # r does not change with scale; scaling first keeps 1e300-sized predictions finite.
    x, y = _unit_scaled(x), _unit_scaled(y)
    x, y = _unit_scaled(x - x.mean()), _unit_scaled(y - y.mean())
    norm = np.sqrt(np.dot(x, x)) * np.sqrt(np.dot(y, y))
    return (
        float(np.dot(x, y) / norm) if norm > 0 else 0.0
    )  # a constant prediction carries no information


def spikefinder_correlation(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS
) -> float:
    """SpikeFinder's official score of a neuron: Pearson r of counts summed over `bins` frames.

    Frames where either side is NaN are dropped first. A constant prediction scores 0; fewer
    than two bins give NaN.
    """
    return _pearson(*_paired_bins(truth, prediction, bins))


def spearman_correlation(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS
) -> float:
    """Rank correlation (average ranks for ties) of the counts binned as for the official score."""
    x, y = _paired_bins(truth, prediction, bins)
    return _pearson(pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy())


def spikefinder_auc(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS
) -> float:
    """ROC AUC separating bins with spikes from bins without by the binned prediction.

    NaN when every bin is of one class.
    """
    x, y = _paired_bins(truth, prediction, bins)
    return _roc_auc(x > 0, y)


def poisson_information_gain(
    truth: np.ndarray,
    prediction: np.ndarray,
    rate: float = 100.0,
    bins: int = SPIKEFINDER_BINS,
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
    predicted = _unit_scaled(
        np.maximum(predicted, 0.0)
    )  # only its shape matters: it is rescaled below
    mean = counts.mean()
    scaled = (
        predicted * (mean / predicted.mean()) if predicted.sum() > 0 else np.full_like(counts, mean)
    )
    expected = (1 - floor) * scaled + floor * mean
    gain_nats = np.sum(counts * np.log(expected / mean) - (expected - mean))
    seconds = counts.size * bins / rate
    return float(gain_nats / np.log(2) / seconds)


def score_neurons(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS, rate: float = 100.0
) -> dict[str, np.ndarray]:
    """Per-neuron correlation, spearman, auc and info_gain (bits/s; `rate` in Hz).

    Of (neurons, frames) arrays (NaN padding allowed).
    """
    truth, prediction = np.atleast_2d(truth), np.atleast_2d(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(
            f"truth {truth.shape} and prediction {prediction.shape} must have the same shape"
        )
    if truth.ndim != 2:
        raise ValueError(f"truth and prediction must be (neurons, frames), got shape {truth.shape}")
    check_rate(rate, "rate")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1 (frames per bin), got {bins!r}")
    for name, values in (("truth", truth), ("prediction", prediction)):
        check_numeric_dtype(values.dtype, name)
        bad = np.isinf(values) | ((values < 0) if name == "truth" else False)
        if bad.any():
            row, frame = (int(v) for v in np.argwhere(bad)[0])
            kind = "infinite" if np.isinf(values[row, frame]) else "a negative spike count"
            raise ValueError(f"{name} is {kind} at neuron {row}, frame {frame}")
    scores = {
        name: np.array([function(t, p, bins) for t, p in zip(truth, prediction, strict=True)])
        for name, function in (
            ("correlation", spikefinder_correlation),
            ("spearman", spearman_correlation),
            ("auc", spikefinder_auc),
        )
    }
    scores["info_gain"] = np.array(
        [poisson_information_gain(t, p, rate, bins) for t, p in zip(truth, prediction, strict=True)]
    )
    scored = (np.isfinite(truth) & np.isfinite(prediction)).sum(axis=1)
    if truth.size and scored.max() < 2 * bins:  # every score above is NaN: say why
        raise ValueError(
            f"bins={bins} leaves nothing to score: no neuron has two bins of {bins} frames "
            f"where truth and prediction are both defined (the most: {int(scored.max())})"
        )
    return scores


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (ties counted half); NaN when a class is empty."""
    from sklearn.metrics import roc_auc_score

    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))
