"""Write the shipped rate model's card (docs/model-card.md) from what was measured, not typed.

Its sources: the shipped checkpoint's own card (training data by dataset, the ranges of frame
rate, noise and dF/F spread it knows) and bench_ground_truth.py's JSON (every dataset left
out, against OASIS, the derivative and the model shipped before; calibration).

    python benchmarks/bench_ground_truth.py --json gt.json ...
    python benchmarks/model_card.py gt.json -o docs/model-card.md
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from calspike.spikes.model_card import ModelCard
from calspike.spikes.rate import default_model_path, load_rate_model

CALIBRATED = (0.8, 1.25)  # the goal for the median predicted / true spikes
ORDER = ("calspike", "dff", "oasis", "derivative", "before")
SLOW_HZ = 25.0  # the model's output rate: recordings slower than it are upsampled
SCORE_BIN_MS = 40.0  # the SpikeFinder metric's bins (25 Hz)


def training_table(card: ModelCard) -> list[str]:
    """The training data by dataset, from the checkpoint's card."""
    datasets = card.train_datasets or {}
    lines = [
        "| dataset | indicator | rows | hours | spikes | frame rates (Hz) |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in sorted(datasets.items()):
        rates = entry["rates_hz"]
        shown = f"{min(rates):g}" if len(rates) == 1 else f"{min(rates):g}-{max(rates):g}"
        lines.append(
            f"| {name} | {entry['indicator']} | {entry['rows']} | {entry['hours']:.2f} | "
            f"{entry['spikes']:,.0f} | {shown} |"
        )
    rows = sum(e["rows"] for e in datasets.values())
    hours = sum(e["hours"] for e in datasets.values())
    spikes = sum(e["spikes"] for e in datasets.values())
    lines.append(f"| **total** | | {rows} | {hours:.1f} | {spikes:,.0f} | |")
    return lines


def scores_table(groups: dict[str, Any], methods: list[str], trained: set[str]) -> list[str]:
    """Mean r per method and the median calibration ratio of the count methods, per group."""
    counted = [m for m in methods if "ratio" in next(iter(groups.values()))[m]]
    heads = [f"r {m}" for m in methods] + [f"ratio {m}" for m in counted]
    lines = [
        "| | n | " + " | ".join(heads) + " | ahead | ahead, held out |",
        "|---|---" + "|---" * len(heads) + "|---|---|",
    ]
    for name, entry in groups.items():
        best = max(entry[m]["r"] for m in methods)
        cells = []
        for m in methods:
            value = f"{entry[m]['r']:.3f}" + ("\\*" if m == "before" and name in trained else "")
            cells.append(f"**{value}**" if entry[m]["r"] == best else value)
        cells += [f"{entry[m]['ratio']:.2f}" for m in counted]
        ahead = " | ".join("yes" if entry.get(k) else "no" for k in ("ahead", "ahead_held_out"))
        lines.append(f"| {name} | {entry['neurons']} | " + " | ".join(cells) + f" | {ahead} |")
    return lines


def overall_table(overall: dict[str, Any], methods: list[str]) -> list[str]:
    """Mean r over neurons and over datasets, and the calibration, of each method."""

    def ratio(m: str) -> str:
        if "ratio" not in overall[m]:
            return "-"
        low, high = overall[m]["ratio_quartiles"]
        return f"{overall[m]['ratio']:.2f} ({low:.2f}-{high:.2f})"

    return [
        "| | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
        "| mean r over neurons | "
        + " | ".join(f"{overall[m]['r_mean_over_neurons']:.3f}" for m in methods)
        + " |",
        "| mean r over datasets | "
        + " | ".join(f"{overall[m]['r_mean_over_datasets']:.3f}" for m in methods)
        + " |",
        "| median ratio (quartiles) | " + " | ".join(ratio(m) for m in methods) + " |",
    ]


def knows(card: ModelCard) -> list[str]:
    """The ranges the model was trained on, which `calspike infer` warns outside."""
    rates, noise, spreads = (
        card.frame_rate_range_hz,
        card.normalised_noise_range,
        card.dff_spread_range,
    )
    return [
        f"- Frame rates {rates[0]:.1f}-{rates[1]:.0f} Hz (augmentation included)."
        if rates
        else "- Frame rates: not recorded.",
        f"- Normalised noise levels {noise[0]:.3g}-{noise[1]:.3g} (1/sqrt(Hz), at the input rate)."
        if noise
        else "- Noise: not recorded.",
        f"- dF/F spreads {spreads[0]:.3g}-{spreads[1]:.3g} (a trace's robust spread, dF/F as a "
        "fraction: give dF/F, not raw fluorescence or percent)."
        if spreads
        else "- dF/F spread: not read (normalised input only).",
        f"- Count calibration: outputs multiplied by {card.count_scale:.3f} (fitted on its"
        " training neurons as recorded: the median over datasets of the median true /"
        " predicted spikes)."
        if card.count_scale is not None
        else "- Count calibration: none.",
    ]


def slow_recordings(card: ModelCard, result: dict[str, Any], methods: list[str]) -> list[str]:
    """Mean r over the datasets recorded below the model's rate, and over the others."""
    rates = {d: max(e["rates_hz"]) for d, e in (card.train_datasets or {}).items()}
    slow = [d for d in result["datasets"] if d in rates and rates[d] < SLOW_HZ]
    fast = [d for d in result["datasets"] if d in rates and rates[d] >= SLOW_HZ]
    if not slow:
        return []

    def mean(names: list[str], m: str) -> str:
        return f"{np.mean([result['datasets'][d][m]['r'] for d in names]):.3f}"

    return [
        f"Recorded slower than the model's {SLOW_HZ:g} Hz ({', '.join(slow)}): the trace is "
        "upsampled to the model's input rate and its output rebinned to the recording's "
        "frames, counts conserved. Mean r over these datasets: "
        + ", ".join(f"{m} {mean(slow, m)}" for m in methods)
        + f"; over the {len(fast)} faster ones: "
        + ", ".join(f"{m} {mean(fast, m)}" for m in methods)
        + ".",
    ]


def timing_notes(bench: dict[str, Any]) -> list[str]:
    """A line on the datasets whose recorded spikes come after their calcium rises.

    There, calspike's predictions and OASIS's (which cannot precede a rise) both correlate
    best shifted early by a score bin or more (median over neurons): a timing offset of the
    ground truth, which the score does not forgive and no method can fix.
    """
    lines = []
    for dataset in sorted({row["dataset"] for row in bench["neurons"]}):
        rows = [row for row in bench["neurons"] if row["dataset"] == dataset]
        lag = float(np.nanmedian([row["calspike_lag_ms"] for row in rows]))
        oasis = float(np.nanmedian([row.get("oasis_lag_ms", np.nan) for row in rows]))
        if not (lag <= -SCORE_BIN_MS and oasis <= -SCORE_BIN_MS):
            continue
        r = np.nanmean([row["calspike"] for row in rows])
        best = np.nanmean([row["calspike_r_best_lag"] for row in rows])
        lines.append(
            f"{dataset} (median best lag: calspike {lag:+.0f} ms, OASIS {oasis:+.0f} ms;"
            f" calspike's r {r:.3f} as scored, {best:.3f} shifted)"
        )
    if not lines:
        return []
    return [
        "- Ground truth late: the recorded spikes come after the calcium rises (every method"
        " is best shifted early), which the score does not forgive: " + "; ".join(lines) + "."
    ]


def card_text(card: ModelCard, bench: dict[str, Any], model_name: str) -> str:
    """The whole card, Markdown."""
    result, recipe, settings = bench["summary"], bench["recipe"], bench["settings"]
    methods = [m for m in ORDER if m in next(iter(result["datasets"].values()))]
    overall, families = result["overall"], result["families"]
    low, high = CALIBRATED
    uncalibrated = [
        f"{f} ({e['calspike']['ratio']:.2f})"
        for f, e in families.items()
        if np.isfinite(e["calspike"]["ratio"]) and not low <= e["calspike"]["ratio"] <= high
    ]
    behind = [d for d in result["datasets"] if d not in result["ahead_datasets"]]
    spread = "reads each trace's dF/F spread" if recipe.get("dff_scale") else "normalised input"
    before = overall.get("before", overall["calspike"])  # a run without it compares with itself
    gain = overall["calspike"]["r_mean_over_datasets"] - before["r_mean_over_datasets"]
    text = [
        "# The default spike-rate model's card",
        "",
        (
            "<!-- generated by benchmarks/model_card.py from the shipped checkpoint and"
            " bench_ground_truth.py's JSON: do not edit by hand -->"
        ),
        "",
        (
            f"`{model_name}`, inside the package: output {card.model_rate_hz:g} Hz, input "
            f"{recipe['rate'] * recipe['subframes']:g} Hz, {recipe['channels']} channels, "
            f"dilations {', '.join(map(str, recipe['dilations']))}, {spread}; trained "
            f"{recipe['epochs']} epochs of {recipe['samples']:,} chunks, time warps "
            f"{', '.join(map(str, recipe['warps']))}, balance {recipe['balance']} "
            "(`benchmarks/train_default_rate_model.py`)."
        ),
        "",
        "## What it was trained on",
        "",
        *training_table(card),
        "",
        "(Rows: a neuron's segments at one frame rate. SpikeFinder's traces are not dF/F.)",
        "",
        "## What it knows",
        "",
        *knows(card),
        "",
        "`calspike infer` warns, naming the neurons, outside these ranges.",
        "",
        "## On datasets it never saw",
        "",
        (
            f"Every dataset left out once, in {len(bench['folds'])} fixed folds that keep a lab's"
            " or a kind's datasets together (a fold's model saw none of them):"
        ),
        "",
        *(f"{k}. {' '.join(v)}" for k, v in bench["folds"].items()),
        "",
        (
            f"Each fold's model: this recipe, {settings['fold_epochs']} epochs of "
            f"{int(settings['samples']):,} chunks; {bench['minutes']:.0f} min for the whole run on"
            f" {settings['threads']} CPU threads (torch {bench['torch']},"
            " `benchmarks/bench_ground_truth.py`). Mean Pearson r per neuron at 25 Hz (the"
            " SpikeFinder metric) and the median calibration ratio (predicted / true spikes per"
            " neuron, in the scored bins). `dff`, where shown: the recipe with the dF/F spread"
            " input;"
            " `before`: the model shipped before (\\* where it trained on the dataset). Best r in"
            " bold; ahead: calspike's r above OASIS's, the derivative's and before's; ahead,"
            " held out: above those of the three that never saw the dataset (before is"
            " scored on its own training data where marked \\*)."
        ),
        "",
        "### Per dataset",
        "",
        *scores_table(result["datasets"], methods, set(bench.get("before_trained_on", []))),
        "",
        *slow_recordings(card, result, methods),
        "",
        "### Per indicator family",
        "",
        *scores_table(families, methods, set()),
        "",
        "### Overall",
        "",
        *overall_table(overall, methods),
        "",
        (
            f"Ahead of OASIS, the derivative and the model shipped before on"
            f" {len(result['ahead_datasets'])} of {len(result['datasets'])} datasets and in"
            f" {len(result['ahead_families'])} of {len(families)} families; mean r over datasets"
            f" {gain:+.3f} against the model shipped before. Ahead of every method that never"
            f" saw the dataset on {len(result['ahead_datasets_held_out'])} of"
            f" {len(result['datasets'])} datasets."
        ),
        "",
        "## What does not work yet",
        "",
        f"- Not ahead of all three on: {', '.join(behind) or 'none'}.",
        (
            f"- Calibration: the median predicted / true spikes lies outside {low}-{high} in: "
            f"{', '.join(uncalibrated) or 'no family'}; overall "
            f"{overall['calspike']['ratio']:.2f}."
        ),
        *timing_notes(bench),
    ]
    return "\n".join(text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bench_json", type=Path, help="bench_ground_truth.py --json output")
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/model-card.md"))
    args = parser.parse_args()
    bench = json.loads(args.bench_json.read_text())
    _, extra = load_rate_model(args.model)
    text = card_text(ModelCard.from_dict(extra), bench, args.model.name)
    partial = args.output.with_name(args.output.name + ".partial")
    partial.write_text(text)
    os.replace(partial, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
