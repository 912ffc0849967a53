"""Spike-rate inference quality on SpikeFinder datasets 4, 5, 6: calspike against its peers,
on the same folds in one run.

Two cross-validations over the 24 training neurons (the challenge's test halves are not
used): leave one dataset out (train on two datasets, test on the third) and held-out
neurons (4 folds, each taking about a quarter of every dataset's neurons; train on the
rest). Per fold, on the test neurons, with the official SpikeFinder score (Pearson r of
counts in 25 Hz bins, per neuron) and the Poisson information gain:
  - calspike: the spike-rate model trained on the fold's training neurons (8 epochs over
    every chunk, 16 simulated neurons per indicator added: the recipe of the model shipped
    before it was trained on CASCADE ground truth, see bench_ground_truth.py for that);
  - smoothed derivative: the positive part of the derivative of the Gaussian-smoothed
    trace, its width chosen on the fold's training neurons among 25, 50, 100, 200, 400 ms;
  - OASIS: calspike.deconvolve, AR(1), parameters estimated per neuron (no training);
  - window classifier: the tutorial's LSTM (10 + 10 frames, per-neuron normalisation, raw
    and delta features) trained on the fold's training neurons, its spike probability
    for the window centred on each frame used as the rate (0 where no window fits).
For scale (published, on the withheld test halves of datasets 4 and 5): best challenge
entry about 0.42, the STM baseline about 0.30, the smoothed derivative about 0.18.

    CALSPIKE_SPIKEFINDER_DIR=../shared/data/spikefinder python benchmarks/bench_spikefinder.py
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import calspike
from calspike.data import Recording
from calspike.spikes.oasis import deconvolve
from calspike.spikes.rate import infer_spike_rates
from calspike.spikes.rate_training import train_rate_model
from calspike.spikes.score import score_neurons
from calspike.tutorial import workflows
from calspike.windows.sampling import labelled_subset

# The recipe for training sets of a few dozen neurons (the shipped model's before it was trained
# on CASCADE ground truth): 8 epochs over every chunk, 16 simulated neurons per indicator added.
EPOCHS = 8
SIMULATED = 16

METHODS = ("calspike", "derivative", "oasis", "classifier")
SIGMAS_S = (0.025, 0.05, 0.1, 0.2, 0.4)


def single_neurons(recordings: list[Recording]) -> list[Recording]:
    """One Recording per neuron, named 'dataset/row'."""
    out = []
    for recording in recordings:
        for row in range(recording.neurons):
            n = int(recording.lengths[row])
            out.append(
                Recording(
                    recording.calcium[row : row + 1, :n],
                    recording.rate,
                    spikes=recording.spikes[row : row + 1, :n],
                    name=f"{recording.name.split('.')[0]}/{row}",
                )
            )
    return out


def folds(neurons: list[Recording], seed: int) -> dict[str, list[list[int]]]:
    datasets = [n.name.split("/")[0] for n in neurons]
    lodo = [[i for i, d in enumerate(datasets) if d == name] for name in sorted(set(datasets))]
    rng = np.random.default_rng(seed)
    by_neuron: list[list[int]] = [[] for _ in range(4)]
    offset = 0
    for name in sorted(set(datasets)):  # deal each dataset's neurons round the folds
        members = [i for i, d in enumerate(datasets) if d == name]
        for k, i in enumerate(rng.permutation(members)):
            by_neuron[(k + offset) % 4].append(int(i))
        offset += len(members)
    return {"leave-one-dataset-out": lodo, "held-out neurons": [sorted(f) for f in by_neuron]}


def positive_derivative(neuron: Recording, sigma_s: float) -> np.ndarray:
    sigma = sigma_s * neuron.rate
    offsets = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    trace = neuron.calcium[0].astype(np.float64)
    padded = np.pad(trace, offsets.size // 2, mode="edge")
    smooth = np.convolve(padded, kernel / kernel.sum(), mode="valid")
    return np.maximum(np.gradient(smooth), 0)[None, :]


def correlation(neuron: Recording, prediction: np.ndarray) -> dict[str, float]:
    scores = score_neurons(neuron.spikes, prediction, rate=neuron.rate)
    return {
        "correlation": float(scores["correlation"][0]),
        "info_gain": float(scores["info_gain"][0]),
    }


def classifier_rates(
    train: list[Recording], test: list[Recording], args: argparse.Namespace
) -> list[np.ndarray]:
    window = {"len_pre": 10, "len_post": 10, "spike_n": 2, "normalize": "neuron"}
    kinds = ["raw", "delta"]
    windows = calspike.partition(train, skip=1, **window)
    order = np.random.default_rng(args.seed).permutation(len(train))
    val_neurons = order[: max(1, round(0.15 * len(train)))]
    fit_neurons = np.setdiff1d(np.arange(len(train)), val_neurons)
    fit_set = windows.subset(
        labelled_subset(windows, fit_neurons, max_windows=200_000, seed=args.seed)
    )
    val_set = windows.subset(labelled_subset(windows, val_neurons, seed=args.seed))
    model = workflows.train_classifier(
        fit_set,
        val_set,
        kinds=kinds,
        epochs=args.classifier_epochs,
        device="cpu",
        seed=args.seed,
        progress=False,
    ).model
    rates = []
    for neuron in test:
        every = calspike.partition(neuron, skip=1, **window)
        rate = np.zeros((1, neuron.frames))
        rate[0, every.frame] = workflows.classifier_probability(model, every, kinds)
        rates.append(rate)
    return rates


def run_fold(
    train: list[Recording], test: list[Recording], args: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {}
    if "calspike" in args.methods:
        torch.manual_seed(args.seed)
        model = train_rate_model(
            train,
            validation=None,
            epochs=EPOCHS,
            seed=args.seed,
            device="cpu",
            progress=False,
            simulated=SIMULATED,
            balance=0.0,
        ).model
        results["calspike"] = [
            correlation(n, infer_spike_rates(n, model=model, device="cpu")[0]) for n in test
        ]
    if "derivative" in args.methods:
        best = max(
            SIGMAS_S,
            key=lambda s: np.mean(
                [correlation(n, positive_derivative(n, s))["correlation"] for n in train]
            ),
        )
        results["derivative"] = [correlation(n, positive_derivative(n, best)) for n in test]
    if "oasis" in args.methods:
        results["oasis"] = [correlation(n, deconvolve(n, p=1).spikes) for n in test]
    if "classifier" in args.methods:
        results["classifier"] = [
            correlation(n, r)
            for n, r in zip(test, classifier_rates(train, test, args), strict=True)
        ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=os.environ.get("CALSPIKE_SPIKEFINDER_DIR"))
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}"
    )
    parser.add_argument("--classifier-epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.data is None:
        parser.error("set CALSPIKE_SPIKEFINDER_DIR or pass --data")
    args.methods = [m.strip() for m in args.methods.split(",")]
    torch.set_num_threads(2)
    neurons = single_neurons(calspike.data.load_recordings(args.data))
    start = time.perf_counter()
    for scheme, parts in folds(neurons, args.seed).items():
        scores: dict[str, dict[str, dict[str, float]]] = {m: {} for m in args.methods}
        for k, test_index in enumerate(parts):
            train = [n for i, n in enumerate(neurons) if i not in test_index]
            test = [neurons[i] for i in test_index]
            tic = time.perf_counter()
            for method, values in run_fold(train, test, args).items():
                for neuron, value in zip(test, values, strict=True):
                    scores[method][neuron.name] = value
            print(
                f"  {scheme} fold {k + 1}/{len(parts)}: "
                f"{len(train)} training, {len(test)} test neurons, "
                f"{time.perf_counter() - tic:.0f} s",
                flush=True,
            )
        print(
            f"\n{scheme}: mean SpikeFinder correlation (Poisson information gain, bits/s) "
            "on test neurons"
        )
        datasets = sorted({n.split("/")[0] for n in scores[args.methods[0]]})
        print(
            f"{'method':<14}"
            + "".join(f"{'dataset ' + d:>20}" for d in datasets)
            + f"{'all 24':>20}"
        )
        means = {}
        for method in args.methods:
            cells = []
            for d in [*datasets, None]:
                chosen = [
                    v for name, v in scores[method].items() if d is None or name.startswith(d + "/")
                ]
                r = np.mean([v["correlation"] for v in chosen])
                gain = np.nanmean([v["info_gain"] for v in chosen])
                cells.append(f"{r:.3f} ({gain:+.2f})")
            means[method] = np.mean([v["correlation"] for v in scores[method].values()])
            print(f"{method:<14}" + "".join(f"{c:>20}" for c in cells))
        if "calspike" in means:
            ratios = ", ".join(
                f"{means['calspike'] / means[m]:.2f}x {m}" for m in args.methods if m != "calspike"
            )
            print(f"calspike's mean correlation: {ratios}\n")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
