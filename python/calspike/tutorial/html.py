"""The report's page: index.html.

Every figure embedded (and linked), the metrics, the settings, versions and timings.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from calspike.tutorial.departures import DEPARTURES
from calspike.tutorial.plots import FIGURES

CELLS = ((0, 0), (0, 1), (1, 0), (1, 1))  # true and false positives, false and true negatives


def page(folder: Path, metrics: dict[str, Any], settings: dict[str, Any]) -> str:
    """index.html: every figure embedded (and linked), the metrics, settings, versions and timings."""

    def number(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

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
    confusion_rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{number(matrix[i][j])}</td>" for i, j in CELLS)
        + "</tr>"
        for name, matrix in (
            ("LSTM classifier", c["confusion"]),
            ("SVM on VAE latent means", svm["confusion"]),
        )
    )
    table = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{number(a)}</td><td>{number(b)}</td><td>{number(u)}</td></tr>"
        for name, a, b, u in rows
    )
    data_rows = "".join(
        f"<tr><td>{html.escape(r['recording'])}</td><td>{r['neurons']}</td><td>{r['rate_hz']:g}</td>"
        f"<td>{r['frames']:,}</td><td>{r['windows']:,}</td><td>{number(r['spike_fraction'])}</td></tr>"
        for r in metrics["data"]
    )
    figures = []
    for name, title in FIGURES.items():
        if not (folder / "figures" / f"{name}.png").is_file():  # a figure of the other mode
            continue
        encoded = base64.b64encode((folder / "figures" / f"{name}.png").read_bytes()).decode()
        figures.append(
            f'<figure id="{name}"><img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">'
            f'<figcaption>{html.escape(title)} (<a href="figures/{name}.png">figures/{name}.png</a>)'
            "</figcaption></figure>"
        )
    settings_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{number(v)}</td></tr>" for k, v in settings.items()
    )
    timing_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.1f}</td></tr>"
        for k, v in metrics["timings_s"].items()
    )
    versions = ", ".join(f"{k} {html.escape(str(v))}" for k, v in metrics["versions"].items())
    split = metrics["split"]
    cvae = metrics["conditional_vae"]
    mode = (
        "<p><b>Tutorial mode</b> (<code>--tutorial</code>): the tutorial's own settings; its printed numbers "
        "are beside this run's below.</p>"
        if metrics["mode"] == "tutorial"
        else ""
    )
    reproduction = ""
    if "reproduction" in metrics:
        cells = "".join(
            f"<tr><td>{html.escape(r['quantity'])}</td><td>{number(r['tutorial']) if r['tutorial'] is not None else 'not measured'}</td>"
            f"<td>{number(r['this_run'])}</td></tr>"
            for r in metrics["reproduction"]
        )
        reproduction = (
            "<h2>Reproduction of the tutorial</h2><p>The tutorial's confusion matrices are transposed "
            "into this page's orientation (rows predicted, columns true); see the departures below.</p>"
            f"<table><tr><th>quantity</th><th>the tutorial</th><th>this run</th></tr>{cells}</table>"
        )
    departures = "".join(
        f"<tr><td>{html.escape(d.topic)}</td><td>{html.escape(d.tutorial)}</td><td>{html.escape(d.calspike)}</td>"
        f"<td>{html.escape(d.why)}</td><td>{html.escape(d.effect)}</td><td>{html.escape(d.in_tutorial_mode)}</td></tr>"
        for d in DEPARTURES
    )
    verdict = (
        "within one standard deviation of the real spike windows' and above the midpoint between the classes"
        if cvae["spike_within_real_spread"] and cvae["spike_above_no_spike"]
        else "not as real spike windows rise (see the figure)"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>calspike report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
img{{max-width:100%}}figure{{margin:1.5em 0}}</style></head><body>
<h1>calspike report</h1>
{mode}
<p>Data: {html.escape(metrics["source"])}. Device: {html.escape(metrics["device"])}. Versions: {versions}.</p>
<h2>Held-out neurons</h2>
<p>Windows of {len(split["train"])} neurons train the models, {len(split["val"])} neurons decide early stopping
(not in tutorial mode, which stops nothing early), and {len(split["test"])} neurons never seen in training are scored ({metrics["windows"]["test"]:,} balanced windows).</p>
<table><tr><th>model</th><th>accuracy</th><th>balanced accuracy</th><th>ROC AUC</th></tr>{table}</table>
<p>Confusion matrices on the held-out neurons, as fractions of all scored windows (the figures draw them
with rows predicted and columns true):</p>
<table><tr><th>model</th><th>true positives</th><th>false positives</th><th>false negatives</th>
<th>true negatives</th></tr>{confusion_rows}</table>
<p>Calcium VAE: held-out reconstructions explain {100 * vae["explained_variance"]:.1f}% of the windows' variance.
Toy VAE: {100 * metrics["toy_vae"]["reconstruction_accuracy"]:.1f}% of digits reconstructed.</p>
<h2>Conditional VAE</h2>
<p>The label-conditioned VAE is told whether each window holds a spike (an input channel of its encoder, and
beside the latent vector at every step of its decoder), so its decoder draws calcium for a chosen class.
It models each window's shape, the window minus its own mean (per-neuron normalisation leaves windows at
levels that vary far more than the rise a spike adds). Its held-out reconstructions explain
{100 * cvae["explained_variance"]:.1f}% of the centred windows' variance.
Drawn from the prior, its "spike" traces rise by {cvae["generated_spike_rise"]:.3f} on average after the
centre frame (mean of the frames from the centre on minus the mean of those before) and its "no spike"
traces by {cvae["generated_no_spike_rise"]:.3f}; real held-out spike windows rise by
{cvae["real_spike_rise"]:.3f} (standard deviation {cvae["real_spike_rise_sd"]:.3f}) and no-spike windows by
{cvae["real_no_spike_rise"]:.3f}: the generated spike traces rise {verdict}.
Its latent space is meant not to carry the label, which the decoder is given anyway. On one draw from
q(z | x) per window, the same SVM reaches a balanced accuracy of {cvae["svm_test_balanced_accuracy_on_draws"]:.3f}
on held-out neurons (0.5 is chance), against {svm["test_balanced_accuracy_on_draws"]:.3f} on the unconditional
VAE's draws. On the latent means it reaches {cvae["svm_test_balanced_accuracy"]:.3f} (the unconditional VAE's:
{svm["test_balanced_accuracy"]:.3f}): the encoder, which sees the label, shifts its means by it, and a
standardised linear SVM finds a shift of any size in noise-free means, however much smaller it is than the
posterior's own spread.</p>
{reproduction}
<h2>Departures from the tutorial</h2>
<table><tr><th>topic</th><th>the tutorial</th><th>calspike</th><th>why</th><th>effect</th><th>with --tutorial</th></tr>
{departures}</table>
<h2>Recordings</h2>
<table><tr><th>recording</th><th>neurons</th><th>rate (Hz)</th><th>frames (all neurons)</th><th>windows</th><th>spike fraction</th></tr>
{data_rows}</table>
<h2>Figures</h2>
{"".join(figures)}
<h2>Settings</h2><table>{settings_rows}</table>
<h2>Time per step (s)</h2><table>{timing_rows}</table>
</body></html>
"""
