"""Would a blend with OASIS help on datasets never seen? calspike's fold models + w x OASIS.

On jGCaMP8 with its lab left out (DS30-32) OASIS beats calspike's rate model (0.74-0.86
against 0.67-0.72, benchmarks/bench_ground_truth.py): OASIS fits each neuron's own decay,
the model only knows the indicators it was trained on. This trains the same fold models
as bench_ground_truth.py (its folds, recipe and seed), and scores, per neuron at 25 Hz,

    blend = (calspike + w * OASIS * s) / (1 + w),

s scaling OASIS to calspike's standard deviation (so w weighs the two shapes) and the
division keeping calspike's count in the same ratio on every neuron. Printed: the mean r
over datasets for each w, with w chosen on the other folds' datasets (what a shipped weight
would score), and per dataset the r at w = 0, at the fold-out w and at its own best w (an
oracle, not a method).

    python benchmarks/oasis_blend.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from calspike.data import Recording, read_ground_truth, read_spikefinder
from calspike.preprocess import rebin_counts, resampled_length
from calspike.spikes.rate import infer_spike_rates
from calspike.spikes.rate_chunks import rate_training_set
from calspike.spikes.rate_datasets import dataset_of

sys.path.insert(0, str(Path(__file__).parent))
from bench_ground_truth import FOLDS, fold_model
from ground_truth_args import add_data_arguments, parse_with_data
from ground_truth_scores import SCORE_RATE_HZ, oasis_spikes
from train_default_rate_model import RECIPE

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)


def at_25hz(recording: Recording, prediction: np.ndarray) -> np.ndarray:
    """`prediction` (rows, frames at the recording's rate) in 40 ms bins, counts conserved."""
    lengths = [resampled_length(int(n), recording.rate, SCORE_RATE_HZ) for n in recording.lengths]
    values = np.where(np.isfinite(prediction), prediction, np.nan).astype(np.float32)
    return rebin_counts(values, recording.rate, SCORE_RATE_HZ, lengths, recording.lengths)


def pearson(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Pearson r over the bins both have; NaN for fewer than 10 or a constant side."""
    keep = np.isfinite(truth) & np.isfinite(predicted)
    t, q = truth[keep], predicted[keep]
    if t.size < 10 or t.std() == 0 or q.std() == 0:
        return float("nan")
    return float(np.corrcoef(t, q)[0, 1])


def blended(calspike: np.ndarray, oasis: np.ndarray, weight: float) -> np.ndarray:
    """(calspike + weight * OASIS scaled to calspike's sd) / (1 + weight)."""
    scale = np.nanstd(calspike) / max(float(np.nanstd(oasis)), 1e-12)
    return (calspike + weight * scale * oasis) / (1 + weight)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument("--folds", type=int, nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parse_with_data(parser)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # the readers' notes and the fold models' range warnings
    testing = read_ground_truth(args.cascade, segments="joined") + read_spikefinder(
        args.spikefinder
    )
    training = read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder)
    started = time.perf_counter()
    chunks = rate_training_set(
        training,
        RECIPE["rate"],
        3 + sum(RECIPE["dilations"]),
        subframes=RECIPE["subframes"],
        warps=tuple(RECIPE["warps"]),
        dff_scale=True,
        threads=args.threads,
    )
    settings = SimpleNamespace(samples=RECIPE["samples"], fold_epochs=RECIPE["fold_epochs"], seed=0)
    r: dict[str, dict[float, list[float]]] = {}  # dataset -> weight -> r per neuron
    fold_of: dict[str, int] = {}
    for number in args.folds or range(1, len(FOLDS) + 1):
        held_out = FOLDS[number - 1]
        model, scale = fold_model(chunks, held_out, RECIPE["dff_scale"], settings)
        for recording in (t for t in testing if dataset_of(t) in held_out):
            rates, _ = infer_spike_rates(
                recording, model=model, metadata={"count_scale": scale}, device="cpu"
            )
            truth = at_25hz(recording, recording.spikes)
            mine, theirs = at_25hz(recording, rates), at_25hz(recording, oasis_spikes(recording))
            dataset = dataset_of(recording)
            fold_of[dataset] = number
            for weight in WEIGHTS:
                r.setdefault(dataset, {}).setdefault(weight, []).extend(
                    pearson(truth[row], blended(mine[row], theirs[row], weight))
                    for row in range(recording.neurons)
                )
        print(f"fold {number} done at {time.perf_counter() - started:.0f} s", flush=True)
    mean = {d: {w: float(np.nanmean(v)) for w, v in by.items()} for d, by in r.items()}
    datasets = sorted(mean)
    print(
        "mean r over datasets by w: "
        + ", ".join(f"{w:g} {np.mean([mean[d][w] for d in datasets]):.3f}" for w in WEIGHTS)
    )
    chosen = {}
    for number in sorted(set(fold_of.values())):
        others = [d for d in datasets if fold_of[d] != number] or datasets
        chosen[number] = max(WEIGHTS, key=lambda w: np.mean([mean[d][w] for d in others]))
    held = {d: mean[d][chosen[fold_of[d]]] for d in datasets}
    print(
        f"w chosen on the other folds {chosen}: mean r {np.mean(list(held.values())):.3f}, "
        f"against {np.mean([mean[d][0.0] for d in datasets]):.3f} without OASIS"
    )
    print("dataset  w=0    fold-out w  best w (oracle)")
    for d in datasets:
        best = max(WEIGHTS, key=lambda w: mean[d][w])
        print(f"{d:7s}  {mean[d][0.0]:.3f}  {held[d]:.3f}       {best:g}: {mean[d][best]:.3f}")


if __name__ == "__main__":
    main()
