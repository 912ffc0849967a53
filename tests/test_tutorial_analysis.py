"""Latent-space analysis: PCA, the linear SVM probe and its decoded directions."""

import numpy as np
import pytest

from calspike.tutorial.analysis import latent_pca, linear_probe, probe_latents


def _latents(count, seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(count) < 0.5
    latent = rng.standard_normal((count, 8))
    latent[:, 3] += 2.5 * labels  # the class lives along dimension 3
    return latent, labels


def test_probe_finds_the_class_direction_and_scores_held_out_data():
    train, train_labels = _latents(600, 0)
    test, test_labels = _latents(400, 1)
    probe = linear_probe(train, train_labels, test, test_labels)
    assert abs(probe.direction[3]) > 0.9 and probe.direction[3] > 0  # points towards spikes
    assert probe.test_balanced_accuracy > 0.85 and probe.test_roc_auc > 0.9
    plus, minus, centre = probe_latents(probe)
    assert plus[3] > centre[3] > minus[3] and np.array_equal(
        centre, probe.centre.astype(np.float32)
    )
    rng = np.random.default_rng(2)  # labels unrelated to the latents: chance on held-out data
    chance = linear_probe(train, rng.random(600) < 0.5, test, rng.random(400) < 0.5)
    assert abs(chance.test_balanced_accuracy - 0.5) < 0.1


def test_pca_of_latents():
    latent, _ = _latents(300, 3)
    latent[:, 0] *= 10  # one dominant direction
    pca = latent_pca(latent, 10)
    assert pca.projected.shape == (300, 8) and pca.explained_variance_ratio[0] > 0.8
    assert np.all(np.diff(pca.explained_variance_ratio) <= 1e-12)


def test_bad_inputs_are_named():
    latent, labels = _latents(50, 4)
    with pytest.raises(ValueError, match="train_labels must hold both"):
        linear_probe(latent, np.ones(50, bool), latent, labels)
    with pytest.raises(ValueError, match="test_latent holds NaN"):
        linear_probe(latent, labels, np.full((5, 8), np.nan), labels[:5])
    with pytest.raises(ValueError, match="differ in width"):
        linear_probe(latent, labels, latent[:, :3], labels)
    with pytest.raises(ValueError, match="latent must be a non-empty 2-D array"):
        latent_pca(np.zeros(5))
