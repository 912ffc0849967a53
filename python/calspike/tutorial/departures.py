"""What the tutorial printed, and every way calspike's report departs from it, with the reason.

The tutorial is the calcium-imaging deep-learning tutorial this project grew from: a
classifier post (an LSTM on windows of SpikeFinder calcium) and an autoencoder post (a toy
VAE of one-hot digits, a calcium VAE, PCA of its latent vectors, a linear SVM on them, and
the decoder fed the SVM's weight vector). Its repository is named calcium-gan; it announced
a GAN it never built, and calspike has none (see docs/tutorial-report.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The tutorial's printed results. Its confusion matrices were printed with rows labelled
# "predicted spike / predicted no spike" but computed with rows = true class; here they are
# transposed into calspike's orientation (rows predicted, columns true), as labelled.
TUTORIAL_RESULTS: dict[str, Any] = {
    # classifier post: 10,000 balanced windows, 5 epochs; scored on its own training windows
    "classifier_train_accuracy": 0.707,
    "classifier_confusion": [[0.354, 0.144], [0.146, 0.356]],
    "classifier_confusion_as_printed": [[0.354, 0.146], [0.144, 0.356]],
    # autoencoder post
    "toy_vae_accuracy": 0.925,
    "pca_explained_variance": [
        0.222,
        0.148,
        0.086,
        0.064,
        0.052,
        0.040,
        0.019,
        0.016,
        0.011,
        0.009,
    ],
    # linear SVC on the latent vectors of 1,000 fresh windows, scored on those same windows
    "svm_confusion": [[0.407, 0.076], [0.093, 0.424]],
    "svm_confusion_as_printed": [[0.407, 0.093], [0.076, 0.424]],
}


@dataclass(frozen=True)
class Departure:
    """One way the report differs from the tutorial.

    What each does, why, and (where measured) the effect. in_tutorial_mode : what
    `calspike run --tutorial` does about it.
    """

    topic: str
    tutorial: str
    calspike: str
    why: str
    effect: str
    in_tutorial_mode: str


DEPARTURES = (
    Departure(
        "Normalisation",
        "each window z-scored on its own (mean 0, standard deviation 1)",
        "each neuron's whole trace scaled by its median and MAD (--normalize neuron)",
        "a per-window z-score erases amplitude: a window of noise looks as large as a spike",
        "held-out balanced accuracy of the classifier 0.650 -> 0.685 "
        "(benchmarks/bench_quality.py, 4 folds)",
        "the tutorial's per-window z-score",
    ),
    Departure(
        "Features",
        "raw + its delta + quad for the classifier and the VAE's encoder",
        "raw + delta + quad for the classifier and the VAEs' encoders (the tutorial's, with the "
        "real delta)",
        "quad stays unless it hurts on held-out neurons, and it does not",
        "4 folds by neuron on SpikeFinder 4-6, raw + delta -> raw + delta + quad: classifier "
        "0.650 -> 0.651, SVM on VAE latents 0.648 -> 0.648, VAE explained variance 0.913 -> 0.905 "
        "(benchmarks/bench_quality.py)",
        "raw + tutorial_delta + quad",
    ),
    Departure(
        "The delta feature",
        "DeltaFeature subtracts a zero sequence whose last frame holds the first: x[t] except "
        "x[L-1] - x[0] at the last frame",
        "a real temporal difference, d[t] = x[t] - x[t-1], d[0] = 0",
        "the tutorial's feature is not a difference, only a copy of the window",
        "not measured apart from the features",
        "the tutorial's feature, named tutorial_delta",
    ),
    Departure(
        "Optimiser and schedule",
        "Adam at 1e-3, constant; batches of 32; 5 classifier epochs, 100 VAE epochs; no early "
        "stopping",
        "Adam(W, no weight decay) at 2e-3, cosine-annealed, gradients clipped at norm 1; batches "
        "of 256; up to 15 epochs, stopped early on validation neurons, best epoch kept",
        "larger training sets (every frame of the training neurons) and a stopping rule that does "
        "not look at the test neurons",
        "measured together with the window counts: the reproduction table of `calspike run "
        "--tutorial`",
        "the tutorial's optimiser, batch, epochs and no stopping",
    ),
    Departure(
        "Window counts and stride",
        "10,000 windows for the classifier, 1,000 for the VAE, a fresh 1,000 for PCA and the SVM, "
        "all drawn balanced from windows 10 frames apart",
        "training windows at every frame of the training neurons (--train-skip 1), up to 200,000 "
        "(--max-windows) drawn balanced; scored windows 10 frames apart",
        "more windows of the same neurons are free and the models are small",
        "measured together with the optimiser: the reproduction table of `calspike run --tutorial`",
        "the tutorial's counts and stride",
    ),
    Departure(
        "Held-out scoring",
        "the classifier and the SVM scored on the windows they were trained on",
        "neurons split 70/15/15 (seeded) into training, validation and test; every score is on "
        "test neurons never seen in training",
        "a score on training windows says how well a model remembers, not how well it works on "
        "new neurons",
        "the tutorial's SVM score against the held-out one: both on the page",
        "both scores, side by side",
    ),
    Departure(
        "The SVM",
        "SVC(kernel='linear', C=1) on the raw latent vectors",
        "LinearSVC(C=0.1) on standardised latent means with balanced class weights",
        "latent dimensions differ in scale by orders of magnitude; standardising lets each count",
        "not measured apart",
        "the tutorial's SVC on the fresh 1,000 windows, scored there and on held-out neurons",
    ),
    Departure(
        "Confusion-matrix orientation",
        "printed with rows labelled 'predicted spike / predicted no spike', but its rows were the "
        "true class",
        "rows predicted spike / no spike, columns true spike / no spike, as labelled",
        "the labels should say what the numbers are",
        "none; the tutorial's matrices are shown transposed into this orientation",
        "the same; the tutorial's matrices beside this run's",
    ),
    Departure(
        "Error titles",
        "panels titled 'false positive' showed spike windows called no-spike (false negatives), "
        "and the reverse",
        "each panel titled by what it shows",
        "a correction",
        "none",
        "the corrected titles",
    ),
    Departure(
        "Decoding the SVM's direction",
        "the decoder fed coef_ and -coef_ themselves as latent vectors",
        "the mean latent vector moved 3 spreads along the SVM's weight vector (in standardised "
        "units) and back",
        "coef_ is a direction, not a point: its length is arbitrary and it starts at the origin, "
        "not where latent vectors lie",
        "not measured",
        "coef_ and -coef_ as printed",
    ),
    Departure(
        "Classifier output",
        "Dense(1) without a sigmoid under binary cross-entropy (Keras read the raw output as a "
        "probability and clipped it)",
        "a logit trained with binary cross-entropy on logits; the sigmoid gives the probability",
        "a correction",
        "not measured",
        "the correction is kept",
    ),
    Departure(
        "Conditional VAE",
        "the text says the encoder and decoder are told whether the window holds a spike; the code "
        "trained an unconditional VAE",
        "both: the unconditional VAE for the PCA and the SVM, and a label-conditioned VAE that "
        "draws calcium for each class",
        "the tutorial's stated aim: the distribution of calcium with and without a spike",
        "its generated traces and its latents' SVM score are on the page",
        "both, with the tutorial's settings",
    ),
)


def reproduction_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The tutorial's printed numbers beside this run's.

    `metrics`: a `calspike run --tutorial` report's. Each row: quantity, tutorial (a number,
    or None where the tutorial measured nothing), this_run (a number). Confusion entries are
    fractions of all windows (rows predicted).
    """
    t = TUTORIAL_RESULTS
    c, svm, vae, toy = metrics["classifier"], metrics["svm"], metrics["vae"], metrics["toy_vae"]
    fitted = c["fitted"]
    names = (
        ("true positives", 0, 0),
        ("false positives", 0, 1),
        ("false negatives", 1, 0),
        ("true negatives", 1, 1),
    )
    rows: list[dict[str, Any]] = [
        {
            "quantity": "classifier accuracy on its training windows",
            "tutorial": t["classifier_train_accuracy"],
            "this_run": fitted["accuracy"],
        },
        *(
            {
                "quantity": f"classifier {name} on its training windows",
                "tutorial": t["classifier_confusion"][i][j],
                "this_run": fitted["confusion"][i][j],
            }
            for name, i, j in names
        ),
        {
            "quantity": "classifier balanced accuracy on held-out neurons",
            "tutorial": None,
            "this_run": c["balanced_accuracy"],
        },
        {
            "quantity": "toy VAE: digits reconstructed",
            "tutorial": t["toy_vae_accuracy"],
            "this_run": toy["reconstruction_accuracy"],
        },
        *(
            {
                "quantity": f"calcium VAE latent PCA: variance on PC{k}",
                "tutorial": t["pca_explained_variance"][k],
                "this_run": vae["latent_pca_explained_variance"][k],
            }
            for k in range(min(2, len(vae["latent_pca_explained_variance"])))
        ),
        *(
            {
                "quantity": f"SVM {name} on its own windows",
                "tutorial": t["svm_confusion"][i][j],
                "this_run": svm["fitted_confusion"][i][j],
            }
            for name, i, j in names
        ),
        {
            "quantity": "SVM balanced accuracy on its own windows",
            "tutorial": 0.5
            * (
                t["svm_confusion"][0][0] / (t["svm_confusion"][0][0] + t["svm_confusion"][1][0])
                + t["svm_confusion"][1][1] / (t["svm_confusion"][1][1] + t["svm_confusion"][0][1])
            ),
            "this_run": svm["fitted_balanced_accuracy"],
        },
        {
            "quantity": "SVM balanced accuracy on held-out neurons",
            "tutorial": None,
            "this_run": svm["test_balanced_accuracy"],
        },
    ]
    return rows
