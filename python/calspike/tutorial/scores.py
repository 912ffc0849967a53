"""Scores of window classifiers: accuracy, balanced accuracy, ROC AUC, confusion matrix.

The confusion matrix is the tutorial's.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _labels_and_predictions(
    labels: np.ndarray, predicted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(labels).ravel().astype(bool)
    guess = np.asarray(predicted).ravel().astype(bool)
    if truth.shape != guess.shape:
        raise ValueError(
            f"labels and predictions must have the same length, got {truth.size} and {guess.size}"
        )
    if truth.size == 0:
        raise ValueError("no windows to score")
    return truth, guess


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of windows whose predicted class (bool) equals the label."""
    truth, guess = _labels_and_predictions(labels, predicted)
    return float(np.mean(truth == guess))


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the accuracy on spike windows and on no-spike windows (0.5 is chance).

    NaN if a class is absent.
    """
    truth, guess = _labels_and_predictions(labels, predicted)
    if truth.all() or not truth.any():
        return float("nan")
    return float(0.5 * (guess[truth].mean() + (~guess[~truth]).mean()))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for bool `labels` (scikit-learn's; ties counted half).

    NaN when either class is empty; ValueError for NaN scores.
    """
    truth = np.asarray(labels).ravel().astype(bool)
    values = np.asarray(scores, dtype=np.float64).ravel()
    if truth.shape != values.shape:
        raise ValueError(
            f"labels and scores must have the same length, got {truth.size} and {values.size}"
        )
    if np.isnan(values).any():
        raise ValueError("scores hold NaN")
    if truth.all() or not truth.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, values))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The tutorial's confusion matrix: fractions of all windows, float64 (2, 2).

    Rows: predicted spike, predicted no spike; columns: spike, no spike. So [0, 0] is
    the fraction of true positives and [0, 1] of false positives; the entries sum to 1.
    """
    truth, guess = _labels_and_predictions(labels, predicted)
    counts = np.array(
        [
            [np.sum(guess & truth), np.sum(guess & ~truth)],
            [np.sum(~guess & truth), np.sum(~guess & ~truth)],
        ],
        dtype=np.float64,
    )
    return counts / truth.size


def classification_scores(
    labels: np.ndarray, probability: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Scores of spike probabilities (N,) against bool labels (N,).

    windows, accuracy, balanced_accuracy, roc_auc and confusion (as nested lists).
    """
    predicted = np.asarray(probability) > threshold
    return {
        "windows": int(np.asarray(labels).size),
        "accuracy": accuracy(labels, predicted),
        "balanced_accuracy": balanced_accuracy(labels, predicted),
        "roc_auc": roc_auc(labels, probability),
        "confusion": confusion_matrix(labels, predicted).tolist(),
    }
