"""Why the counts are off by family: does the model tell a busy neuron from a quiet one?

For every ground-truth neuron, its true spike rate (Hz over the frames it has) against:
- the shipped model's predicted rate on it (in-sample: the model trained on these neurons),
  with the count calibration of its card;
- the calibration ratio with its dataset left out (predicted / true spikes, from a
  bench_ground_truth.py JSON), and how much of that ratio a per-neuron correction would
  remove when it is fitted on the other folds' neurons (a post-hoc step; r is unchanged by a
  per-neuron factor): by the predicted rate, and by the trace's spread over its noise (MAD of
  the trace / MAD of its frame-to-frame differences x sqrt 2, unitless and computable on any
  recording).

Prints the spread of log rates, correlations, and the median ratio per family with each
correction (the goal: within 0.8-1.25 in every family).

    python benchmarks/count_diagnosis.py benchmarks/reference/ground_truth_cv.json \\
        --cascade ../shared/data/cascade_gt --spikefinder ../shared/data/spikefinder
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from calspike.data import Recording, read_ground_truth, read_spikefinder
from calspike.spikes.rate import infer_spike_rates

sys.path.insert(0, str(Path(__file__).parent))
from ground_truth_args import add_data_arguments, parse_with_data
from ground_truth_scores import family


def _mad(values: np.ndarray) -> float:
    return float(np.median(np.abs(values - np.median(values))))


def neuron_facts(recording: Recording, predicted: np.ndarray) -> dict[str, dict[str, float]]:
    """Per neuron ("name/neuron"): true and predicted Hz (frames both cover), spread / noise."""
    assert recording.spikes is not None
    facts = {}
    for row in range(recording.neurons):
        keep = np.isfinite(recording.calcium[row]) & np.isfinite(predicted[row])
        seconds = keep.sum() / recording.rate
        trace = recording.calcium[row][keep]
        noise = _mad(np.diff(trace)) / np.sqrt(2)
        facts[f"{recording.name}/{recording.neuron_name(row)}"] = {
            "family": family(recording),
            "true_hz": float(recording.spikes[row][keep].sum() / seconds),
            "shipped_hz": float(predicted[row][keep].sum() / seconds),
            "spread_over_noise": _mad(trace) / max(noise, 1e-12),
        }
    return facts


def family_medians(families: np.ndarray, ratios: np.ndarray, label: str) -> None:
    """One line: the overall median ratio, its quartiles and each family's median."""
    names = sorted(set(families))
    medians = [float(np.median(ratios[families == f])) for f in names]
    within = sum(0.8 <= m <= 1.25 for m in medians)
    print(
        f"  {label}: median {np.median(ratios):.2f} (quartiles {np.quantile(ratios, 0.25):.2f}-"
        f"{np.quantile(ratios, 0.75):.2f}); families within 0.8-1.25: {within} of {len(names)}"
    )
    print("    " + "; ".join(f"{f} {m:.2f}" for f, m in zip(names, medians, strict=True)))


def fold_out_correction(
    folds: np.ndarray, feature: np.ndarray, log_ratio: np.ndarray
) -> np.ndarray:
    """The ratios once divided by a line in `feature`, fitted on the other folds' neurons."""
    design = np.column_stack([np.ones_like(feature), feature])
    corrected = np.empty_like(log_ratio)
    for fold in np.unique(folds):
        train = folds != fold
        coef = np.linalg.lstsq(design[train], log_ratio[train], rcond=None)[0]
        corrected[~train] = log_ratio[~train] - design[~train] @ coef
    return np.exp(corrected)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cv_json", type=Path, help="a bench_ground_truth.py --json output")
    add_data_arguments(parser)
    parser.add_argument("--threads", type=int, default=2)
    args = parse_with_data(parser)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # the readers' notes on dropped spike times; known here
    recordings = read_ground_truth(args.cascade, segments="joined") + read_spikefinder(
        args.spikefinder
    )
    facts: dict[str, dict[str, float]] = {}
    for recording in recordings:
        predicted, _ = infer_spike_rates(recording, threads=args.threads)
        facts.update(neuron_facts(recording, predicted))
    spiking = [f for f in facts.values() if f["true_hz"] > 0 and f["shipped_hz"] > 0]
    true_hz = np.log([f["true_hz"] for f in spiking])
    shipped_hz = np.log([f["shipped_hz"] for f in spiking])
    print(f"{len(spiking)} neurons with spikes; the shipped model on its own training neurons:")
    print(
        f"  sd of log rate: true {true_hz.std():.2f}, predicted {shipped_hz.std():.2f}; "
        f"r(log true, log predicted) {np.corrcoef(true_hz, shipped_hz)[0, 1]:.2f}"
    )
    family_medians(
        np.array([f["family"] for f in spiking]),
        np.exp(shipped_hz - true_hz),
        "predicted / true spikes",
    )
    rows = [
        row
        for row in json.loads(args.cv_json.read_text())["neurons"]
        if np.isfinite(row.get("calspike_ratio", np.nan)) and row["calspike_ratio"] > 0
    ]
    log_ratio = np.log([row["calspike_ratio"] for row in rows])
    true_cv = np.log([facts[row["neuron"]]["true_hz"] for row in rows])
    families = np.array([row["family"] for row in rows])
    folds = np.array([row["fold"] for row in rows])
    print(f"{len(rows)} neurons with their dataset left out ({args.cv_json}):")
    print(
        f"  r(log ratio, log true rate) {np.corrcoef(log_ratio, true_cv)[0, 1]:.2f}; "
        f"sd of log predicted rate {(log_ratio + true_cv).std():.2f} (true {true_cv.std():.2f})"
    )
    family_medians(families, np.exp(log_ratio), "as calibrated")
    for label, feature in (
        ("corrected by the predicted rate", log_ratio + true_cv),
        (
            "corrected by spread / noise",
            np.log([facts[row["neuron"]]["spread_over_noise"] for row in rows]),
        ),
    ):
        family_medians(families, fold_out_correction(folds, feature, log_ratio), label)


if __name__ == "__main__":
    main()
