"""The SVM steps of `calspike run`: a linear SVM on a VAE's latents, and its direction decoded.

calspike's SVM is a standardised linear probe (`analysis.linear_probe`) trained on the first
training windows; the tutorial's (`--tutorial`) is its SVC on the latent vectors of a fresh
1,000 windows (`generative.tutorial_svm`). Both are scored on the held-out neurons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calspike.models import CalciumVAE
from calspike.training import predict
from calspike.tutorial import analysis, generative, plots, vae_plots, workflows
from calspike.tutorial.analysis import LinearProbe
from calspike.tutorial.classifier_step import ClassifierResult
from calspike.tutorial.context import RunContext, labels
from calspike.tutorial.stacks import FeatureStacks
from calspike.tutorial.vae_steps import CalciumVAEResult

TUTORIAL_SVM = "SVC(kernel='linear') on the latent vectors of 1,000 fresh windows (the tutorial's)"
CALSPIKE_SVM = "LinearSVC(C=0.1) on standardised latent means, balanced classes"


@dataclass(frozen=True)
class LatentSVM:
    """One SVM fitted on a VAE's latents.

    Attributes
    ----------
    scores : dict
        kind, test accuracy, balanced accuracy, ROC AUC and confusion matrix on the held-out
        neurons, and its score on the windows it was fitted on.
    probe : LinearProbe or None
        calspike's probe (None in tutorial mode).
    decoded : ndarray, shape (2, L), or None
        The tutorial SVM's coef_ and -coef_ decoded (None in calspike mode, and for a
        conditional VAE).
    """

    scores: dict[str, Any]
    probe: LinearProbe | None
    decoded: np.ndarray | None


def fit_latent_svm(
    context: RunContext,
    stacks: FeatureStacks,
    vae: CalciumVAE,
    draw_seed: int | None = None,
    centre: bool = False,
) -> LatentSVM:
    """Fit the mode's SVM on a VAE's latent means and score it on the held-out neurons.

    `draw_seed`: instead of the means, one draw per window from q(z|x), seeded. `centre`:
    the VAE models centred windows (the conditional VAE).
    """
    kinds = context.vae_kinds

    def latent(part: str) -> np.ndarray:
        return workflows.latent_means(
            vae,
            stacks.windows(part, centre),
            kinds,
            draw_seed=draw_seed,
            stack=stacks.stack(part, kinds, centre),
        )

    split = stacks.split
    test_latent = latent("test")
    if split.fresh is not None:
        fitted = generative.tutorial_svm(
            vae, latent("fresh"), labels(split.fresh), test_latent, labels(split.test)
        )
        scores = {
            "kind": TUTORIAL_SVM,
            "test_accuracy": fitted.accuracy_held_out,
            "test_balanced_accuracy": fitted.balanced_accuracy_held_out,
            "test_roc_auc": fitted.roc_auc_held_out,
            "confusion": fitted.confusion_held_out.tolist(),
            "fitted_balanced_accuracy": fitted.balanced_accuracy_fitted,
            "fitted_confusion": fitted.confusion_fitted.tolist(),
        }
        return LatentSVM(scores, None, fitted.decoded)
    probe = analysis.linear_probe(
        latent("svm_train"),
        labels(split.svm_train),
        test_latent,
        labels(split.test),
        seed=context.params["seed"],
    )
    scores = {
        "kind": CALSPIKE_SVM,
        "test_accuracy": probe.test_accuracy,
        "test_balanced_accuracy": probe.test_balanced_accuracy,
        "test_roc_auc": probe.test_roc_auc,
        "confusion": probe.test_confusion.tolist(),
        "train_balanced_accuracy": probe.train_balanced_accuracy,
    }
    return LatentSVM(scores, probe, None)


@dataclass(frozen=True)
class SVMResult:
    """What the SVM step leaves for the decoding step and the report.

    Attributes
    ----------
    probe : LinearProbe or None
        calspike's probe on the calcium VAE's latent means (None in tutorial mode).
    tutorial_decoded : ndarray, shape (2, L), or None
        Tutorial mode: the decoder fed its SVC's coef_ and -coef_ (None in calspike mode).
    metrics : dict
        The report's "svm" entry: the SVM on latent means, and its held-out balanced
        accuracy on one draw per window.
    """

    probe: LinearProbe | None
    tutorial_decoded: np.ndarray | None
    metrics: dict[str, Any]


def latent_svm(
    context: RunContext,
    stacks: FeatureStacks,
    vae: CalciumVAEResult,
    classifier: ClassifierResult,
) -> SVMResult:
    """The SVM on the calcium VAE's latent means (and draws), scored on held-out neurons.

    Figure confusion: its confusion matrix beside the classifier's.
    """
    on_means = fit_latent_svm(context, stacks, vae.model)
    # the same SVM on one draw of q(z|x) per window, to compare with the conditional VAE's
    on_draws = fit_latent_svm(context, stacks, vae.model, draw_seed=context.params["seed"])
    scores = {
        **on_means.scores,
        "test_balanced_accuracy_on_draws": on_draws.scores["test_balanced_accuracy"],
    }
    context.figure(
        "confusion",
        plots.confusion(
            {
                "LSTM classifier (balanced accuracy "
                f"{classifier.balanced_accuracy:.3f})": classifier.confusion,
                "SVM on VAE latent means (balanced accuracy "
                f"{scores['test_balanced_accuracy']:.3f})": np.array(scores["confusion"]),
            },
            "held-out neurons; fractions of all windows, rows predicted, columns true",
        ),
    )
    # The tutorial's decoded coef_ is that of the SVC fitted on the draws: the report's
    # figure has always shown that one.
    return SVMResult(on_means.probe, on_draws.decoded, {"svm": scores})


@dataclass(frozen=True)
class Decoding:
    """The traces (K, L) the decoding step decoded.

    calspike's 3 (most spike-like, least, centre) or the tutorial's 2 (coef_, -coef_).
    """

    traces: np.ndarray


def decode_svm_direction(
    context: RunContext, vae: CalciumVAEResult, svm: SVMResult, frame_rate: float
) -> Decoding:
    """Decode latent vectors along the SVM's direction.

    calspike: the mean latent vector moved along the probe's direction and back (figure
    probe_traces); tutorial mode: its SVC's coef_ and -coef_, decoded in the SVM step
    (figure tutorial_decoding). `frame_rate` (Hz): the figures' time axes.
    """
    len_pre = context.params["len_pre"]
    if svm.tutorial_decoded is not None:
        context.figure(
            "tutorial_decoding",
            vae_plots.tutorial_decoding(svm.tutorial_decoded, len_pre, frame_rate),
        )
        return Decoding(svm.tutorial_decoded)
    if svm.probe is None:
        raise ValueError("the SVM step left no direction to decode")
    model = vae.model
    was_training = model.training
    model.eval()
    try:
        decoded = predict(model.decode, analysis.probe_latents(svm.probe))
    finally:
        model.train(was_training)
    context.figure(
        "probe_traces",
        plots.probe_traces(decoded[0], decoded[1], decoded[2], len_pre, frame_rate),
    )
    return Decoding(decoded)
