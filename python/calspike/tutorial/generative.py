"""What the calcium VAEs generate: traces drawn per class by the label-conditioned VAE, the
rise after the centre frame that tells the classes apart, traversals of the latent space,
and the tutorial's own SVM and weight-vector decoding (for `calspike run --tutorial`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from calspike.models import CalciumVAE
from calspike.tutorial.scores import accuracy, balanced_accuracy, confusion_matrix, roc_auc
from calspike.windows import Windows


def centred(windows: Windows) -> Windows:
    """The windows, each minus its own mean: their shape, in their units.

    The conditional VAE models these. Per-neuron normalisation leaves each window at its own
    level, and levels vary far more than the rise a spike adds; modelled whole, the level takes
    up the latent space and the decoder has little use for the label. (Windows z-scored one by
    one, as the tutorial's are, are centred already.)
    """
    values = windows.windows - windows.windows.mean(axis=1, keepdims=True, dtype=np.float64)
    return Windows(np.ascontiguousarray(values, dtype=np.float32), windows.did_spike, windows.neuron, windows.frame,
                   windows.neuron_names, windows.skipped, windows.params)


def rise(windows: np.ndarray, len_pre: int) -> np.ndarray:
    """Per window (N,): the mean of the frames from the centre frame on minus the mean of the
    frames before it, in the windows' units. Calcium rises after a spike, so spike windows
    have a larger rise than no-spike windows."""
    values = np.asarray(windows, dtype=np.float64)
    if values.ndim != 2 or not 0 < len_pre < values.shape[1]:
        raise ValueError(f"windows must be (N, L) with 0 < len_pre < L, got shape {values.shape}, len_pre {len_pre}")
    rises: np.ndarray = values[:, len_pre:].mean(axis=1) - values[:, :len_pre].mean(axis=1)
    return rises


def generate_by_class(vae: CalciumVAE, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(spike traces, no-spike traces), each (count, L): the same `count` prior draws decoded
    with the label "spike" and with "no spike", so the two differ by the label alone."""
    if not vae.conditional:
        raise ValueError("generate_by_class needs a conditional CalciumVAE")
    was_training = vae.training
    vae.eval()
    try:
        z = torch.randn(count, vae.latent, generator=torch.Generator().manual_seed(seed))
        spike = vae.sample(z, did_spike=True).float().cpu().numpy()
        no_spike = vae.sample(z, did_spike=False).float().cpu().numpy()
    finally:
        vae.train(was_training)
    return spike, no_spike


def compare_rises(generated_spike: np.ndarray, generated_no_spike: np.ndarray, real: np.ndarray,
                  real_labels: np.ndarray, len_pre: int) -> dict[str, Any]:
    """The mean rise of generated and real windows per class, and whether the generated spike
    traces rise as real spike windows do: within one standard deviation of the real spike
    windows' mean rise, and above the midpoint between the real classes' mean rises."""
    labels = np.asarray(real_labels, bool)
    if labels.all() or not labels.any():
        raise ValueError("the real windows must hold both spike and no-spike windows")
    real_rise = rise(real, len_pre)
    summary: dict[str, Any] = {
        "generated_spike_rise": float(rise(generated_spike, len_pre).mean()),
        "generated_no_spike_rise": float(rise(generated_no_spike, len_pre).mean()),
        "real_spike_rise": float(real_rise[labels].mean()),
        "real_spike_rise_sd": float(real_rise[labels].std()),
        "real_no_spike_rise": float(real_rise[~labels].mean()),
        "real_no_spike_rise_sd": float(real_rise[~labels].std()),
    }
    midpoint = 0.5 * (summary["real_spike_rise"] + summary["real_no_spike_rise"])
    summary["spike_within_real_spread"] = bool(
        abs(summary["generated_spike_rise"] - summary["real_spike_rise"]) <= summary["real_spike_rise_sd"])
    summary["spike_above_no_spike"] = bool(summary["generated_spike_rise"] > midpoint
                                           and summary["generated_spike_rise"] > summary["generated_no_spike_rise"])
    return summary


@dataclass(frozen=True)
class Traversal:
    """Latent vectors along the first principal component of latent means, and their decoded traces.

    steps : offsets along the component in standard deviations of the means' projection (S,).
    traces : decoded traces (S, L); for a conditional VAE, a dict "spike"/"no spike" of them.
    explained : the fraction of the means' variance on that component.
    """

    steps: np.ndarray
    traces: dict[str, np.ndarray]
    explained: float


def traverse(vae: CalciumVAE, means: np.ndarray, steps: np.ndarray | None = None) -> Traversal:
    """Decode the latent means' centre moved along their first principal component."""
    from sklearn.decomposition import PCA

    values = np.asarray(means, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"means must be (N >= 2, latent), got shape {values.shape}")
    offsets = np.linspace(-2.0, 2.0, 5) if steps is None else np.asarray(steps, dtype=np.float64)
    pca = PCA(n_components=1).fit(values)
    spread = float(np.sqrt(pca.explained_variance_[0]))
    points = values.mean(axis=0) + offsets[:, None] * spread * pca.components_[0]
    z = torch.as_tensor(points, dtype=torch.float32)
    was_training = vae.training
    vae.eval()
    try:
        if vae.conditional:
            traces = {name: vae.sample(z, did_spike=label).float().cpu().numpy()
                      for name, label in (("spike", True), ("no spike", False))}
        else:
            traces = {"": vae.sample(z).float().cpu().numpy()}
    finally:
        vae.train(was_training)
    return Traversal(offsets, traces, float(pca.explained_variance_ratio_[0]))


@dataclass(frozen=True)
class TutorialSVM:
    """The tutorial's SVM: SVC(kernel="linear") on raw latent vectors, and its weight vector decoded.

    confusion_fitted : on the windows it was fitted on (where the tutorial scored it).
    confusion_held_out, accuracy_held_out, balanced_accuracy_held_out, roc_auc_held_out : on
        held-out neurons (the AUC of its decision function).
    decoded : the decoder fed coef_ and -coef_ (2, L), as the tutorial printed (None for a
        conditional VAE, whose decoder also needs a label).
    """

    confusion_fitted: np.ndarray
    balanced_accuracy_fitted: float
    confusion_held_out: np.ndarray
    accuracy_held_out: float
    balanced_accuracy_held_out: float
    roc_auc_held_out: float
    decoded: np.ndarray | None


def tutorial_svm(vae: CalciumVAE, fitted_latent: np.ndarray, fitted_labels: np.ndarray,
                 held_out_latent: np.ndarray, held_out_labels: np.ndarray) -> TutorialSVM:
    """Fit the tutorial's linear SVC, score it on its own windows and on held-out ones, decode coef_."""
    from sklearn.svm import SVC

    svc = SVC(kernel="linear").fit(fitted_latent, fitted_labels)
    fitted_guess, held_guess = svc.predict(fitted_latent), svc.predict(held_out_latent)
    decoded = None
    if not vae.conditional:
        weights = torch.as_tensor(np.concatenate([svc.coef_, -svc.coef_]), dtype=torch.float32)
        was_training = vae.training
        vae.eval()
        try:
            decoded = vae.sample(weights).float().cpu().numpy()
        finally:
            vae.train(was_training)
    return TutorialSVM(confusion_matrix(fitted_labels, fitted_guess), balanced_accuracy(fitted_labels, fitted_guess),
                       confusion_matrix(held_out_labels, held_guess), accuracy(held_out_labels, held_guess),
                       balanced_accuracy(held_out_labels, held_guess),
                       roc_auc(held_out_labels, svc.decision_function(held_out_latent)), decoded)
