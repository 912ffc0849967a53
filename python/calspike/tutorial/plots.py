"""Every figure of the report, with matplotlib only. Each function returns a Figure.

Colours are fixed across figures: spike windows red, no-spike windows blue, calcium
green and spikes black (the tutorial's trace plot).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no screen needed

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from calspike.data.recording import Recording

SPIKE = "#d62728"
NO_SPIKE = "#1f77b4"
CALCIUM = "#2ca02c"
SPIKES = "black"
LABELS = {True: "spike", False: "no spike"}


FIGURES = {
    "traces": "Sample traces: calcium and spikes",
    "windows": "Windows with and without a spike",
    "classifier_training": "LSTM classifier: training and validation",
    "confusion": (
        "Confusion matrices on held-out neurons: "
        "the LSTM classifier and the SVM on VAE latent means"
    ),
    "roc": "ROC curves on held-out neurons",
    "errors": "LSTM classifier: false positives and false negatives",
    "toy_latent": "Toy VAE: the 2-d latent space",
    "vae_training": "Calcium VAE: training and validation",
    "reconstructions": "Calcium VAE: held-out reconstructions",
    "latent_pca": "Calcium VAE: PCA of latent means",
    "probe_traces": "The decoder along the SVM's weight vector",
    "tutorial_decoding": (
        "The decoder fed the tutorial SVM's coef_ and -coef_ (the tutorial's construction)"
    ),
    "generated": "Conditional VAE: traces generated for each class, beside real held-out windows",
    "traversal": (
        "Latent traversals: decoded traces along the first principal component of latent means"
    ),
}


def window_time(length: int, len_pre: int, rate: float) -> np.ndarray:
    """Time of each window frame from the window's centre frame, in ms."""
    return (np.arange(length) - len_pre) * 1000.0 / rate


def sample_traces(
    recordings: Sequence[Recording], per_recording: int = 2, seconds: float = 30.0
) -> Figure:
    """Calcium (green) with its spikes (black ticks below) for a few neurons of each recording.

    The first few that hold finite frames (empty neurons, all NaN, are passed over).
    """
    rows = [(r, int(n)) for r in recordings for n in _neurons_with_frames(r)[:per_recording]]
    if not rows:
        raise ValueError("no recording has a neuron with finite frames to plot")
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(10, 1.5 * len(rows) + 0.6), sharex=True, squeeze=False
    )
    for ax, (recording, n) in zip(axes[:, 0], rows, strict=True):
        frames = min(int(seconds * recording.rate), int(recording.lengths[n]))
        time = np.arange(frames) / recording.rate
        trace = recording.calcium[n, :frames]
        ax.plot(time, trace, color=CALCIUM, lw=0.8)
        low, high = float(np.nanmin(trace)), float(np.nanmax(trace))
        if recording.spikes is not None:
            spike_frames = np.flatnonzero(recording.spikes[n, :frames] > 0)
            span = high - low or 1.0
            ax.vlines(time[spike_frames], low - 0.35 * span, low - 0.1 * span, color=SPIKES, lw=0.8)
            ax.set_ylim(low - 0.4 * span, high + 0.05 * span)
        ax.set_ylabel("dF/F", fontsize=8)
        ax.set_title(f"{recording.name}, neuron {n}", fontsize=8, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle("Calcium (green) and spikes (black)")
    fig.tight_layout()
    return fig


def _neurons_with_frames(recording: Recording) -> np.ndarray:
    lengths = recording.lengths
    return np.array(
        [
            n
            for n in range(recording.neurons)
            if lengths[n] > 0 and np.isfinite(recording.calcium[n, : int(lengths[n])]).any()
        ],
        dtype=int,
    )


def example_windows(
    windows: np.ndarray,
    did_spike: np.ndarray,
    len_pre: int,
    rate: float,
    count: int = 4,
    seed: int = 0,
) -> Figure:
    """`count` windows with a spike (left, red) next to `count` without (right, blue)."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(count, 2, figsize=(8, 1.4 * count + 0.8), sharex=True, squeeze=False)
    time = window_time(windows.shape[1], len_pre, rate)
    for column, spike in enumerate((True, False)):
        members = np.flatnonzero(did_spike == spike)
        picks = (
            rng.choice(members, min(count, members.size), replace=False)
            if members.size
            else members
        )
        for row in range(count):
            ax = axes[row, column]
            if row < len(picks):
                ax.plot(time, windows[picks[row]], color=SPIKE if spike else NO_SPIKE, lw=1.2)
            ax.axvline(0, color="grey", lw=0.5, ls=":")
            ax.spines[["top", "right"]].set_visible(False)
            if column == 0:
                ax.set_ylabel("normalised\ncalcium", fontsize=8)
        axes[0, column].set_title(f"{LABELS[spike]} windows")
        axes[-1, column].set_xlabel("time from window centre (ms)")
    fig.tight_layout()
    return fig


def training_curves(history: Sequence[dict[str, float]], title: str) -> Figure:
    """Loss (and accuracy when recorded) per epoch, training and validation."""
    epochs = [r["epoch"] for r in history]
    metrics = [m for m in ("loss", "accuracy", "mse") if f"train_{m}" in history[0]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}_{metric}"
            if key in history[0]:
                ax.plot(
                    epochs,
                    [r[key] for r in history],
                    style,
                    marker="o",
                    ms=3,
                    label="training" if split == "train" else "validation",
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(
            {"loss": "loss per window", "accuracy": "accuracy", "mse": "mean squared error"}[metric]
        )
        ax.legend(frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion(matrices: dict[str, np.ndarray], title: str) -> Figure:
    """Confusion matrices side by side (panel title -> matrix).

    Fractions of all windows; rows predicted, columns true.
    """
    fig, axes = plt.subplots(
        1, len(matrices), figsize=(3.9 * len(matrices) + 0.6, 3.6), squeeze=False
    )
    top = max(
        max(float(np.max(m)) for m in matrices.values()), 1e-9
    )  # one scale for all, as the colour bar says
    for ax, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        matrix = np.asarray(matrix, dtype=np.float64)
        image = ax.imshow(matrix, cmap="Greys", vmin=0, vmax=top)
        for i in range(2):
            for j in range(2):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.3f}",
                    ha="center",
                    va="center",
                    color="white" if matrix[i, j] > 0.6 * top else "black",
                    fontsize=12,
                )
        ax.set_xticks([0, 1], ["spike", "no spike"])
        ax.set_yticks([0, 1], ["predicted\nspike", "predicted\nno spike"])
        ax.set_xlabel("true class")
        ax.set_title(name, fontsize=9)
    fig.colorbar(image, ax=axes[0, -1], label="fraction of windows")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def roc(curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> Figure:
    """ROC curves: name -> (false positive rates, true positive rates, AUC)."""
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.7, ls=":", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.set_title("Held-out neurons: ROC")
    fig.tight_layout()
    return fig


def error_examples(
    windows: np.ndarray,
    did_spike: np.ndarray,
    probability: np.ndarray,
    len_pre: int,
    rate: float,
    count: int = 4,
) -> Figure:
    """The most confident false positives (left) and false negatives (right)."""
    predicted = probability > 0.5
    false_positive = np.flatnonzero(predicted & ~did_spike)
    false_negative = np.flatnonzero(~predicted & did_spike)
    false_positive = false_positive[np.argsort(-probability[false_positive])][:count]
    false_negative = false_negative[np.argsort(probability[false_negative])][:count]
    time = window_time(windows.shape[1], len_pre, rate)
    fig, axes = plt.subplots(count, 2, figsize=(8, 1.4 * count + 0.8), sharex=True, squeeze=False)
    for column, (picks, colour, title) in enumerate(
        (
            (false_positive, NO_SPIKE, "false positives (no spike, predicted spike)"),
            (false_negative, SPIKE, "false negatives (spike, predicted no spike)"),
        )
    ):
        for row in range(count):
            ax = axes[row, column]
            if row < picks.size:
                k = picks[row]
                ax.plot(time, windows[k], color=colour, lw=1.2)
                ax.text(
                    0.02,
                    0.85,
                    f"p(spike) = {probability[k]:.2f}",
                    transform=ax.transAxes,
                    fontsize=7,
                )
            ax.axvline(0, color="grey", lw=0.5, ls=":")
            ax.spines[["top", "right"]].set_visible(False)
        axes[0, column].set_title(title, fontsize=9)
        axes[-1, column].set_xlabel("time from window centre (ms)")
    axes[count // 2, 0].set_ylabel("normalised calcium")
    fig.tight_layout()
    return fig


def toy_latent(latent: np.ndarray, digits: np.ndarray) -> Figure:
    """The toy VAE's 2-d latent vectors, one colour per digit.

    Drawn by reparameterisation, as the tutorial plotted them, so the spread of each digit shows.
    """
    fig, ax = plt.subplots(figsize=(5, 4.4))
    cmap = plt.get_cmap("tab10")
    for digit in np.unique(digits):
        members = digits == digit
        ax.scatter(
            latent[members, 0],
            latent[members, 1],
            s=8,
            color=cmap(int(digit) % 10),
            label=str(digit),
        )
    ax.set_xlabel("latent dimension 0")
    ax.set_ylabel("latent dimension 1")
    ax.legend(
        title="digit",
        frameon=False,
        fontsize=7,
        markerscale=2,
        bbox_to_anchor=(1, 1),
        loc="upper left",
    )
    ax.set_title("Toy VAE: sampled latent vectors of one-hot digits")
    fig.tight_layout()
    return fig


def reconstructions(
    inputs: np.ndarray,
    outputs: np.ndarray,
    did_spike: np.ndarray | None,
    len_pre: int,
    rate: float,
    count: int = 6,
) -> Figure:
    """Held-out windows (coloured by class) and the VAE's reconstructions (black, dashed)."""
    time = window_time(inputs.shape[1], len_pre, rate)
    columns = 3
    rows = -(-min(count, len(inputs)) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(10, 2 * rows + 0.6), sharex=True, squeeze=False
    )
    for k, ax in enumerate(axes.ravel()):
        if k < min(count, len(inputs)):
            colour = SPIKE if did_spike is not None and did_spike[k] else NO_SPIKE
            ax.plot(time, inputs[k], color=colour, lw=1.2, label="input")
            ax.plot(time, outputs[k], color="black", lw=1.0, ls="--", label="reconstruction")
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time from window centre (ms)")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised calcium")
    axes[0, 0].legend(frameon=False, fontsize=7)
    fig.suptitle("Calcium VAE: held-out windows (red: spike, blue: no spike) and reconstructions")
    fig.tight_layout()
    return fig


def latent_pca(explained: np.ndarray, projected: np.ndarray, did_spike: np.ndarray) -> Figure:
    """Explained variance of the latent PCs; PC0 vs PC1 by class; PC0 histograms by class."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].bar(np.arange(explained.size), 100 * explained, color="grey")
    axes[0].set_xlabel("principal component")
    axes[0].set_ylabel("explained variance (%)")
    axes[0].set_xticks(np.arange(explained.size))
    order = np.random.default_rng(0).permutation(len(projected))  # no class drawn wholly on top
    colours = np.where(did_spike[order], SPIKE, NO_SPIKE)
    axes[1].scatter(
        projected[order, 0], projected[order, 1], s=3, c=colours, alpha=0.5, linewidths=0
    )
    axes[1].set_xlabel("PC0")
    axes[1].set_ylabel("PC1" if projected.shape[1] > 1 else "")
    for spike in (True, False):
        axes[1].scatter([], [], s=10, color=SPIKE if spike else NO_SPIKE, label=LABELS[spike])
    axes[1].legend(frameon=False, fontsize=8)
    bins = np.histogram_bin_edges(projected[:, 0], bins=40)
    for spike in (False, True):
        axes[2].hist(
            projected[did_spike == spike, 0],
            bins=bins,
            density=True,
            alpha=0.55,
            color=SPIKE if spike else NO_SPIKE,
            label=LABELS[spike],
        )
    axes[2].set_xlabel("PC0")
    axes[2].set_ylabel("density")
    axes[2].legend(frameon=False, fontsize=8)
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Calcium VAE: principal components of held-out latent means")
    fig.tight_layout()
    return fig


def probe_traces(
    spike_like: np.ndarray, no_spike_like: np.ndarray, centre: np.ndarray, len_pre: int, rate: float
) -> Figure:
    """Traces decoded along the SVM's weight vector.

    Along it (+, red), along its negative (-, blue) and at the centre (grey).
    """
    time = window_time(spike_like.size, len_pre, rate)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(time, centre, color="grey", lw=1.0, ls="--", label="mean latent vector")
    ax.plot(time, spike_like, color=SPIKE, lw=1.5, label="+ SVM weight vector (most spike-like)")
    ax.plot(
        time, no_spike_like, color=NO_SPIKE, lw=1.5, label="- SVM weight vector (least spike-like)"
    )
    ax.axvline(0, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("time from window centre (ms)")
    ax.set_ylabel("decoded calcium (normalised)")
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Calcium VAE decoder along the linear probe")
    fig.tight_layout()
    return fig
