"""The report's page: index.html.

Every figure embedded (and linked), the metrics, the settings, versions and timings. Each
section is a function returning its lines; `page` puts them in order.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from calspike.tutorial.departures import DEPARTURES
from calspike.tutorial.plots import FIGURES

CELLS = ((0, 0), (0, 1), (1, 0), (1, 1))  # true and false positives, false and true negatives
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
    "table{border-collapse:collapse;margin:1em 0}\n"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}\n"
    "img{max-width:100%}figure{margin:1.5em 0}"
)


def page(folder: Path, metrics: dict[str, Any], settings: dict[str, Any]) -> str:
    """index.html: every figure embedded (and linked), the metrics, settings, versions, timings.

    `folder`: the report folder, whose figures/*.png are embedded; `metrics` and `settings`:
    what metrics.json and config.json hold.
    """
    versions = ", ".join(f"{k} {html.escape(str(v))}" for k, v in metrics["versions"].items())
    mode = (
        "<p><b>Tutorial mode</b> (<code>--tutorial</code>): the tutorial's own settings; "
        "its printed numbers are beside this run's below.</p>"
        if metrics["mode"] == "tutorial"
        else ""
    )
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>calspike report</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>calspike report</h1>",
        mode,
        (
            f"<p>Data: {html.escape(metrics['source'])}. "
            f"Device: {html.escape(metrics['device'])}. Versions: {versions}.</p>"
        ),
        *_held_out(metrics),
        *_conditional_vae(metrics),
        _reproduction(metrics),
        "<h2>Departures from the tutorial</h2>",
        (
            "<table><tr><th>topic</th><th>the tutorial</th><th>calspike</th><th>why</th>"
            "<th>effect</th><th>with --tutorial</th></tr>"
        ),
        f"{_departures()}</table>",
        "<h2>Recordings</h2>",
        (
            "<table><tr><th>recording</th><th>neurons</th><th>rate (Hz)</th>"
            "<th>frames (all neurons)</th><th>windows</th><th>spike fraction</th></tr>"
        ),
        f"{_recordings(metrics)}</table>",
        "<h2>Figures</h2>",
        _figures(folder),
        f"<h2>Settings</h2><table>{_settings(settings)}</table>",
        f"<h2>Time per step (s)</h2><table>{_timings(metrics)}</table>",
        "</body></html>",
        "",
    ]
    return "\n".join(lines)


def number(value: Any) -> str:
    """A float to 3 decimals, anything else as text (HTML-escaped)."""
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def _held_out(metrics: dict[str, Any]) -> list[str]:
    """The held-out scores of the classifier, the logistic regression and the SVM."""
    c, lr, svm, vae = (
        metrics["classifier"],
        metrics["logistic_regression"],
        metrics["svm"],
        metrics["vae"],
    )
    rows = [
        ("LSTM classifier", c["accuracy"], c["balanced_accuracy"], c["roc_auc"]),
        (
            "logistic regression (same features and split)",
            lr["accuracy"],
            lr["balanced_accuracy"],
            lr["roc_auc"],
        ),
        (
            f"SVM on VAE latent means: {svm['kind']}",
            svm["test_accuracy"],
            svm["test_balanced_accuracy"],
            svm["test_roc_auc"],
        ),
    ]
    table = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{number(a)}</td><td>{number(b)}</td>"
        f"<td>{number(u)}</td></tr>"
        for name, a, b, u in rows
    )
    confusion_rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{number(matrix[i][j])}</td>" for i, j in CELLS)
        + "</tr>"
        for name, matrix in (
            ("LSTM classifier", c["confusion"]),
            ("SVM on VAE latent means", svm["confusion"]),
        )
    )
    split = metrics["split"]
    return [
        "<h2>Held-out neurons</h2>",
        (
            f"<p>Windows of {len(split['train'])} neurons train the models, "
            f"{len(split['val'])} neurons decide early stopping"
        ),
        (
            "(not in tutorial mode, which stops nothing early), and "
            f"{len(split['test'])} neurons never seen in training are scored "
            f"({metrics['windows']['test']:,} balanced windows).</p>"
        ),
        (
            "<table><tr><th>model</th><th>accuracy</th><th>balanced accuracy</th>"
            f"<th>ROC AUC</th></tr>{table}</table>"
        ),
        (
            "<p>Confusion matrices on the held-out neurons, as fractions of all scored windows "
            "(the figures draw them"
        ),
        "with rows predicted and columns true):</p>",
        (
            "<table><tr><th>model</th><th>true positives</th><th>false positives</th>"
            "<th>false negatives</th>"
        ),
        f"<th>true negatives</th></tr>{confusion_rows}</table>",
        (
            "<p>Calcium VAE: held-out reconstructions explain "
            f"{100 * vae['explained_variance']:.1f}% of the windows' variance."
        ),
        (
            f"Toy VAE: {100 * metrics['toy_vae']['reconstruction_accuracy']:.1f}% "
            "of digits reconstructed.</p>"
        ),
    ]


def _conditional_vae(metrics: dict[str, Any]) -> list[str]:
    """What the conditional VAE generates per class, and what its latents carry."""
    cvae, svm = metrics["conditional_vae"], metrics["svm"]
    verdict = (
        "within one standard deviation of the real spike windows' and above the midpoint "
        "between the classes"
        if cvae["spike_within_real_spread"] and cvae["spike_above_no_spike"]
        else "not as real spike windows rise (see the figure)"
    )
    return [
        "<h2>Conditional VAE</h2>",
        (
            "<p>The label-conditioned VAE is told whether each window holds a spike "
            "(an input channel of its encoder, and"
        ),
        (
            "beside the latent vector at every step of its decoder), "
            "so its decoder draws calcium for a chosen class."
        ),
        (
            "It models each window's shape, the window minus its own mean "
            "(per-neuron normalisation leaves windows at"
        ),
        (
            "levels that vary far more than the rise a spike adds). "
            "Its held-out reconstructions explain"
        ),
        f"{100 * cvae['explained_variance']:.1f}% of the centred windows' variance.",
        (
            'Drawn from the prior, its "spike" traces rise by '
            f"{cvae['generated_spike_rise']:.3f} on average after the"
        ),
        (
            "centre frame (mean of the frames from the centre on minus the mean of those before) "
            'and its "no spike"'
        ),
        f"traces by {cvae['generated_no_spike_rise']:.3f}; real held-out spike windows rise by",
        (
            f"{cvae['real_spike_rise']:.3f} (standard deviation {cvae['real_spike_rise_sd']:.3f}) "
            "and no-spike windows by"
        ),
        f"{cvae['real_no_spike_rise']:.3f}: the generated spike traces rise {verdict}.",
        (
            "Its latent space is meant not to carry the label, which the decoder is given anyway. "
            "On one draw from"
        ),
        (
            "q(z | x) per window, the same SVM reaches a balanced accuracy of "
            f"{cvae['svm_test_balanced_accuracy_on_draws']:.3f}"
        ),
        (
            "on held-out neurons (0.5 is chance), against "
            f"{svm['test_balanced_accuracy_on_draws']:.3f} on the unconditional"
        ),
        (
            f"VAE's draws. On the latent means it reaches {cvae['svm_test_balanced_accuracy']:.3f} "
            "(the unconditional VAE's:"
        ),
        (
            f"{svm['test_balanced_accuracy']:.3f}): the encoder, which sees the label, "
            "shifts its means by it, and a"
        ),
        (
            "standardised linear SVM finds a shift of any size in noise-free means, "
            "however much smaller it is than the"
        ),
        "posterior's own spread.</p>",
    ]


def _reproduction(metrics: dict[str, Any]) -> str:
    """The tutorial's printed numbers beside this run's (tutorial mode; else empty)."""
    if "reproduction" not in metrics:
        return ""
    cells = "".join(
        f"<tr><td>{html.escape(r['quantity'])}</td>"
        f"<td>{'not measured' if r['tutorial'] is None else number(r['tutorial'])}</td>"
        f"<td>{number(r['this_run'])}</td></tr>"
        for r in metrics["reproduction"]
    )
    return (
        "<h2>Reproduction of the tutorial</h2><p>The tutorial's confusion matrices are "
        "transposed into this page's orientation (rows predicted, columns true); "
        "see the departures below.</p>"
        f"<table><tr><th>quantity</th><th>the tutorial</th><th>this run</th></tr>{cells}</table>"
    )


def _departures() -> str:
    """One table row per departure from the tutorial (`departures.DEPARTURES`)."""
    return "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(text)}</td>"
            for text in (d.topic, d.tutorial, d.calspike, d.why, d.effect, d.in_tutorial_mode)
        )
        + "</tr>"
        for d in DEPARTURES
    )


def _recordings(metrics: dict[str, Any]) -> str:
    """One table row per recording: neurons, rate, frames, windows and spike fraction."""
    return "".join(
        f"<tr><td>{html.escape(r['recording'])}</td><td>{r['neurons']}</td>"
        f"<td>{r['rate_hz']:g}</td><td>{r['frames']:,}</td><td>{r['windows']:,}</td>"
        f"<td>{number(r['spike_fraction'])}</td></tr>"
        for r in metrics["data"]
    )


def _figures(folder: Path) -> str:
    """Each figure of this run (`plots.FIGURES` order), embedded, captioned and linked."""
    figures = []
    for name, title in FIGURES.items():
        png = folder / "figures" / f"{name}.png"
        if not png.is_file():  # a figure of the other mode
            continue
        encoded = base64.b64encode(png.read_bytes()).decode()
        figures.append(
            f'<figure id="{name}"><img alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(title)} "
            f'(<a href="figures/{name}.png">figures/{name}.png</a>)'
            "</figcaption></figure>"
        )
    return "".join(figures)


def _settings(settings: dict[str, Any]) -> str:
    """One table row per setting."""
    return "".join(
        f"<tr><td>{html.escape(k)}</td><td>{number(v)}</td></tr>" for k, v in settings.items()
    )


def _timings(metrics: dict[str, Any]) -> str:
    """One table row per step: its seconds."""
    return "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.1f}</td></tr>"
        for k, v in metrics["timings_s"].items()
    )
