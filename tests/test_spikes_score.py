"""SpikeFinder scores: official correlation, Spearman, ROC AUC."""

from __future__ import annotations

import numpy as np
import pytest

from calspike.spikes.score import (
    score_neurons,
    spearman_correlation,
    spikefinder_auc,
    spikefinder_correlation,
)


def test_official_correlation_sums_four_bins_after_dropping_nan():
    truth = np.array([0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 1, 1, np.nan, 3.0, 0, 0, 1])
    prediction = np.array([0.1, 0.5, 0, 0, 1, 1, 0, 0, 0, 0.2, 0.3, 0.3, 9.0, 0.5, 0, 0, 1])
    keep = ~np.isnan(truth)
    t, p = truth[keep][:16].reshape(4, 4).sum(1), prediction[keep][:16].reshape(4, 4).sum(1)
    assert spikefinder_correlation(truth, prediction) == pytest.approx(np.corrcoef(t, p)[0, 1])


def test_scores_of_perfect_constant_and_reversed_predictions():
    rng = np.random.default_rng(0)
    truth = (rng.random(400) < 0.1).astype(float)
    assert spikefinder_correlation(truth, truth) == pytest.approx(1.0)
    assert spearman_correlation(truth, 2 * truth + 1) == pytest.approx(1.0)
    assert spikefinder_auc(truth, truth) == pytest.approx(1.0)
    assert spikefinder_auc(truth, -truth) == pytest.approx(0.0)
    assert spikefinder_correlation(truth, np.ones(400)) == 0.0  # no information
    assert spikefinder_auc(truth, np.ones(400)) == pytest.approx(0.5)
    assert np.isnan(spikefinder_auc(np.zeros(400), truth))  # no positive bins
    assert np.isnan(spikefinder_correlation(truth[:4], truth[:4]))  # a single bin


def test_score_neurons_and_shape_errors():
    truth = np.zeros((2, 40))
    truth[:, ::7] = 1
    scores = score_neurons(truth, truth + 0.01)
    assert set(scores) == {"correlation", "spearman", "auc", "info_gain"} and scores[
        "correlation"
    ].shape == (2,)
    assert (
        scores["info_gain"] > 0
    ).all()  # a prediction that tracks the spikes carries information
    with pytest.raises(ValueError, match="same shape"):
        score_neurons(truth, truth[:, :30])


def test_window_metrics_match_scikit_learn():
    from sklearn import metrics as reference

    from calspike.tutorial.scores import (
        accuracy,
        balanced_accuracy,
        classification_scores,
        confusion_matrix,
        roc_auc,
    )

    rng = np.random.default_rng(5)
    labels = rng.random(500) < 0.3
    scores = labels * 0.4 + rng.random(500)
    scores[:50] = np.round(scores[:50], 1)  # ties
    predicted = scores > 0.7
    assert accuracy(labels, predicted) == pytest.approx(reference.accuracy_score(labels, predicted))
    assert balanced_accuracy(labels, predicted) == pytest.approx(
        reference.balanced_accuracy_score(labels, predicted)
    )
    assert roc_auc(labels, scores) == pytest.approx(reference.roc_auc_score(labels, scores))
    matrix = confusion_matrix(labels, predicted)
    # the tutorial's layout: rows predicted spike / no spike, columns spike / no spike, fractions
    # of all
    tn, fp, fn, tp = reference.confusion_matrix(labels, predicted).ravel() / labels.size
    assert np.allclose(matrix, [[tp, fp], [fn, tn]]) and matrix.sum() == pytest.approx(1.0)
    summary = classification_scores(labels, scores, threshold=0.7)
    assert summary["balanced_accuracy"] == balanced_accuracy(labels, predicted)
    assert summary["confusion"] == matrix.tolist() and summary["windows"] == 500
    assert np.isnan(balanced_accuracy(np.ones(4, bool), np.ones(4, bool)))
    assert np.isnan(roc_auc(np.zeros(4, bool), np.arange(4.0)))
    with pytest.raises(ValueError, match="same length"):
        accuracy(labels, predicted[:3])
    with pytest.raises(ValueError, match="scores hold NaN"):
        roc_auc(labels, np.full(500, np.nan))
