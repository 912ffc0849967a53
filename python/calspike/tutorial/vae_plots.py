"""Figures of what the calcium VAEs generate.

Traces per class, latent traversals and the tutorial's weight-vector decoding. Colours as in
`plots`: spike red, no spike blue.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from calspike.tutorial.generative import Traversal
from calspike.tutorial.plots import NO_SPIKE, SPIKE, window_time


def _band(
    ax: Axes, time: np.ndarray, traces: np.ndarray, colour: str, label: str, thin: int = 0
) -> None:
    """Mean (thick) and mean +/- one standard deviation (shaded) of traces (N, L).

    The first `thin` of them drawn faintly too.
    """
    for trace in traces[:thin]:
        ax.plot(time, trace, color=colour, lw=0.4, alpha=0.25)
    mean, sd = traces.mean(axis=0), traces.std(axis=0)
    ax.fill_between(time, mean - sd, mean + sd, color=colour, alpha=0.2, linewidth=0)
    ax.plot(time, mean, color=colour, lw=2.0, label=label)


def generated(
    spike: np.ndarray,
    no_spike: np.ndarray,
    real: np.ndarray,
    real_labels: np.ndarray,
    len_pre: int,
    rate: float,
) -> Figure:
    """Generated traces per class (left) beside real held-out windows of each class (right).

    Left: traces the conditional VAE generates for "spike" and "no spike" (mean, +/- 1 sd,
    a few samples). Right: real held-out windows of each class, the same way and scale
    (the windows it models: each minus its own mean).
    """
    time = window_time(spike.shape[1], len_pre, rate)
    labels = np.asarray(real_labels, bool)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    _band(axes[0], time, no_spike, NO_SPIKE, f"no spike ({len(no_spike):,} samples)", thin=12)
    _band(axes[0], time, spike, SPIKE, f"spike ({len(spike):,} samples)", thin=12)
    _band(axes[1], time, real[~labels], NO_SPIKE, f"no spike ({int((~labels).sum()):,} windows)")
    _band(axes[1], time, real[labels], SPIKE, f"spike ({int(labels.sum()):,} windows)")
    axes[0].set_title("generated from the prior, per class")
    axes[1].set_title("real held-out windows")
    for ax in axes:
        ax.axvline(0, color="grey", lw=0.5, ls=":")
        ax.set_xlabel("time from window centre (ms)")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("calcium minus the window's mean\n(normalised; mean, +/- 1 sd)")
    fig.suptitle("Conditional calcium VAE: the shape of calcium with and without a spike")
    fig.tight_layout()
    return fig


def traversal(panels: dict[str, Traversal], len_pre: int, rate: float) -> Figure:
    """One panel per traversal (and per class of a conditional one).

    Decoded traces coloured from the negative end of the first principal component (light) to
    the positive (dark).
    """
    columns = [
        (f"{title}: {name}" if name else title, walk, name)
        for title, walk in panels.items()
        for name in walk.traces
    ]
    fig, axes = plt.subplots(
        1, len(columns), figsize=(4.2 * len(columns), 3.4), sharey=True, squeeze=False
    )
    for ax, (title, walk, name) in zip(axes[0], columns, strict=True):
        traces = walk.traces[name]
        cmap = plt.get_cmap(
            "Reds" if name == "spike" else "Blues" if name == "no spike" else "Greys"
        )
        time = window_time(traces.shape[1], len_pre, rate)
        for k, (step, trace) in enumerate(zip(walk.steps, traces, strict=True)):
            ax.plot(
                time,
                trace,
                color=cmap(0.35 + 0.6 * k / max(len(traces) - 1, 1)),
                lw=1.5,
                label=f"{step:+.1f} sd",
            )
        ax.axvline(0, color="grey", lw=0.5, ls=":")
        ax.set_title(f"{title}\n(PC0: {100 * walk.explained:.0f}% of latent variance)", fontsize=9)
        ax.set_xlabel("time from window centre (ms)")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].set_ylabel("decoded calcium (normalised)")
    axes[0, -1].legend(frameon=False, fontsize=7, title="along PC0", title_fontsize=7)
    fig.tight_layout()
    return fig


def tutorial_decoding(decoded: np.ndarray, len_pre: int, rate: float) -> Figure:
    """The decoder fed the tutorial SVM's coef_ (red) and -coef_ (blue), as the tutorial did."""
    time = window_time(decoded.shape[1], len_pre, rate)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, trace, colour, title in (
        (axes[0], decoded[0], SPIKE, "decoder(coef_): 'correlated with spiking'"),
        (axes[1], decoded[1], NO_SPIKE, "decoder(-coef_): 'anti-correlated'"),
    ):
        ax.plot(time, trace, color=colour, lw=1.5)
        ax.axvline(0, color="grey", lw=0.5, ls=":")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time from window centre (ms)")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("decoded calcium (normalised)")
    fig.tight_layout()
    return fig
