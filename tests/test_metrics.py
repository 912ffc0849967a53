"""SpikeFinder scores: official correlation, Spearman, ROC AUC."""

from __future__ import annotations

import numpy as np
import pytest

from calspike.metrics import (
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
    assert set(scores) == {"correlation", "spearman", "auc"} and scores["correlation"].shape == (2,)
    with pytest.raises(ValueError, match="same shape"):
        score_neurons(truth, truth[:, :30])
