"""What the models learned: PCA of latent means, a linear probe (SVM) and its decoded directions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from calspike.tutorial.scores import accuracy, balanced_accuracy, confusion_matrix, roc_auc


@dataclass(frozen=True)
class LatentPCA:
    """PCA of latent means.

    components (k, latent), explained_variance_ratio (k,), projected (N, k).
    """

    components: np.ndarray
    explained_variance_ratio: np.ndarray
    projected: np.ndarray


def latent_pca(latent: np.ndarray, components: int = 10, seed: int = 0) -> LatentPCA:
    """Principal components of latent means (N, latent); at most min(N, latent) components."""
    latent = _check_matrix("latent", latent)
    k = min(components, latent.shape[0], latent.shape[1])
    if k < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    pca = PCA(n_components=k, random_state=seed)
    projected = pca.fit_transform(latent)
    return LatentPCA(pca.components_, pca.explained_variance_ratio_, projected)


@dataclass(frozen=True)
class LinearProbe:
    """A linear SVM separating spike from no-spike windows by their latent means.

    direction : unit vector (latent,) in latent space along which the SVM's score grows
        (its weight vector in standardised coordinates, mapped back to latent units).
    centre : the mean latent vector of the training windows.
    train balanced accuracy; test accuracy, balanced accuracy, ROC AUC and confusion matrix
    (`scores.confusion_matrix`: rows predicted, columns true) of the probe.
    """

    direction: np.ndarray
    centre: np.ndarray
    scale: float
    train_balanced_accuracy: float
    test_accuracy: float
    test_balanced_accuracy: float
    test_roc_auc: float
    test_confusion: np.ndarray


def linear_probe(
    train_latent: np.ndarray,
    train_labels: np.ndarray,
    test_latent: np.ndarray,
    test_labels: np.ndarray,
    *,
    c: float = 0.1,
    seed: int = 0,
) -> LinearProbe:
    """Fit a linear SVM (standardised inputs, balanced class weights) on train, score it on test.

    Train and test should hold different neurons, so the score says what the latent
    space carries about spikes, not about individual neurons.
    """
    train_latent, test_latent = (
        _check_matrix("train_latent", train_latent),
        _check_matrix("test_latent", test_latent),
    )
    if train_latent.shape[1] != test_latent.shape[1]:
        raise ValueError(
            "train and test latents differ in width: "
            f"{train_latent.shape[1]} and {test_latent.shape[1]}"
        )
    train_labels, test_labels = np.asarray(train_labels, bool), np.asarray(test_labels, bool)
    if train_labels.all() or not train_labels.any():
        raise ValueError("train_labels must hold both spike and no-spike windows")
    model = make_pipeline(
        StandardScaler(), LinearSVC(C=c, class_weight="balanced", random_state=seed, dual="auto")
    )
    model.fit(train_latent, train_labels)
    scaler, svm = model[0], model[1]
    # The SVM's weight vector lives in standardised coordinates; a step along it, mapped
    # back, moves each latent dimension in proportion to its spread. (The score's gradient,
    # coef / scale, would instead be dominated by collapsed dimensions the decoder ignores.)
    weights = svm.coef_[0] * scaler.scale_
    norm = float(np.linalg.norm(weights))
    direction = weights / norm if norm > 0 else weights
    spread = float(np.std(train_latent @ direction)) if norm > 0 else 0.0
    return LinearProbe(
        direction=direction,
        centre=train_latent.mean(axis=0),
        scale=spread,
        train_balanced_accuracy=balanced_accuracy(train_labels, model.predict(train_latent)),
        test_accuracy=accuracy(test_labels, model.predict(test_latent)),
        test_balanced_accuracy=balanced_accuracy(test_labels, model.predict(test_latent)),
        test_roc_auc=roc_auc(test_labels, model.decision_function(test_latent)),
        test_confusion=confusion_matrix(test_labels, model.predict(test_latent)),
    )


def probe_latents(probe: LinearProbe, steps: float = 3.0) -> np.ndarray:
    """Three latent vectors (3, latent) along the probe's direction.

    The centre + and - `steps` spreads along the direction, and the centre itself.

    Decoded, the first is the most spike-like trace the VAE generates along the
    SVM's weight vector, the second the least, the third the mean latent vector's.
    """
    offset = steps * max(probe.scale, 1e-6) * probe.direction
    return np.stack([probe.centre + offset, probe.centre - offset, probe.centre]).astype(np.float32)


def _check_matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array
