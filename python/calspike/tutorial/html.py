"""The report's page: index.html with every figure embedded (and linked), the metrics, the
settings, versions and timings."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from calspike.tutorial.plots import FIGURES


def page(folder: Path, metrics: dict[str, Any], settings: dict[str, Any]) -> str:
    """index.html: every figure embedded (and linked), the metrics, settings, versions and timings."""

    def number(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

    c, lr, svm, vae = metrics["classifier"], metrics["logistic_regression"], metrics["svm"], metrics["vae"]
    rows = [
        ("LSTM classifier", c["accuracy"], c["balanced_accuracy"], c["roc_auc"]),
        ("logistic regression (same features and split)", lr["accuracy"], lr["balanced_accuracy"], lr["roc_auc"]),
        ("linear SVM on VAE latent means", svm["test_accuracy"], svm["test_balanced_accuracy"], svm["test_roc_auc"]),
    ]
    table = "".join(f"<tr><td>{html.escape(name)}</td><td>{number(a)}</td><td>{number(b)}</td><td>{number(u)}</td></tr>"
                    for name, a, b, u in rows)
    data_rows = "".join(
        f"<tr><td>{html.escape(r['recording'])}</td><td>{r['neurons']}</td><td>{r['rate_hz']:g}</td>"
        f"<td>{r['frames']:,}</td><td>{r['windows']:,}</td><td>{number(r['spike_fraction'])}</td></tr>"
        for r in metrics["data"])
    figures = []
    for name, title in FIGURES.items():
        encoded = base64.b64encode((folder / "figures" / f"{name}.png").read_bytes()).decode()
        figures.append(f'<figure id="{name}"><img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">'
                       f'<figcaption>{html.escape(title)} (<a href="figures/{name}.png">figures/{name}.png</a>)'
                       "</figcaption></figure>")
    settings_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{number(v)}</td></tr>" for k, v in settings.items())
    timing_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f}</td></tr>"
                          for k, v in metrics["timings_s"].items())
    versions = ", ".join(f"{k} {html.escape(str(v))}" for k, v in metrics["versions"].items())
    split = metrics["split"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>calspike report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
img{{max-width:100%}}figure{{margin:1.5em 0}}</style></head><body>
<h1>calspike report</h1>
<p>Data: {html.escape(metrics['source'])}. Device: {html.escape(metrics['device'])}. Versions: {versions}.</p>
<h2>Held-out neurons</h2>
<p>Windows of {len(split['train'])} neurons train the models, {len(split['val'])} neurons decide early stopping,
and {len(split['test'])} neurons never seen in training are scored ({metrics['windows']['test']:,} balanced windows).</p>
<table><tr><th>model</th><th>accuracy</th><th>balanced accuracy</th><th>ROC AUC</th></tr>{table}</table>
<p>Calcium VAE: held-out reconstructions explain {100 * vae['explained_variance']:.1f}% of the windows' variance.
Toy VAE: {100 * metrics['toy_vae']['reconstruction_accuracy']:.1f}% of digits reconstructed.</p>
<h2>Recordings</h2>
<table><tr><th>recording</th><th>neurons</th><th>rate (Hz)</th><th>frames (all neurons)</th><th>windows</th><th>spike fraction</th></tr>
{data_rows}</table>
<h2>Figures</h2>
{''.join(figures)}
<h2>Settings</h2><table>{settings_rows}</table>
<h2>Time per step (s)</h2><table>{timing_rows}</table>
</body></html>
"""
