"""Spike inference on datasets never seen in training: leave one dataset out over all 16
ground-truth datasets (13 CASCADE + SpikeFinder 4, 5, 6), calspike against its peers on the
same folds and neurons, in one run.

For each dataset D in turn, a spike-rate model is trained on the other 15 with the default
model's recipe (benchmarks/train_default_rate_model.py; `--fold-epochs` epochs of
`--samples` chunks, fewer than the shipped model's, so that 16 folds fit in about 45 min
on 2 cores) and scored on D's neurons (a neuron's segments joined with NaN gaps, as
`read_ground_truth(segments="joined")` gives them). Next to it, on the same neurons:
  - oasis: calspike.deconvolve, AR(1), parameters estimated per neuron (no training);
  - derivative: the positive part of the derivative of the Gaussian-smoothed trace, its
    width chosen among 25-400 ms by the mean r over the other 15 datasets;
  - before: the model shipped before training on ground truth (benchmarks/reference/,
    trained on SpikeFinder 4, 5, 6 and simulated neurons: on those three it is NOT
    held out, marked *).
Scores: the SpikeFinder metric at 25 Hz (predictions and spike counts rebinned to 40 ms
bins, conserving counts; Pearson r per neuron) and the Poisson information gain (bits/s).
Printed per dataset, per indicator family and overall (mean over neurons and over datasets).

    python benchmarks/bench_ground_truth.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder --json gt.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from calspike.data import Recording, read_ground_truth, read_spikefinder
from calspike.preprocess import fill_gaps, rebin_counts, resampled_length
from calspike.spikes.oasis import deconvolve
from calspike.spikes.rate import NoiseWarning, infer_spike_rates, load_rate_model
from calspike.spikes.rate_training import dataset_of, train_rate_model
from calspike.spikes.score import score_neurons

sys.path.insert(0, str(Path(__file__).parent))
from ground_truth_args import add_data_arguments, parse_with_data
from train_default_rate_model import RECIPE, recipe_model

METHODS = ("calspike", "oasis", "derivative", "before")
SIGMAS_S = (0.025, 0.05, 0.1, 0.2, 0.4)
SCORE_RATE_HZ = 25.0
BEFORE = Path(__file__).parent / "reference" / "spike_rate_before_ground_truth.pt"
BEFORE_TRAINED_ON = {"SF4", "SF5", "SF6"}


def family(recording: Recording) -> str:
    indicator = str(recording.metadata.get("indicator", ""))
    if recording.metadata.get("source") == "SpikeFinder":
        return "SpikeFinder 4-6"
    return "jGCaMP8" if indicator.startswith("jGCaMP8") else indicator


def scores_at_25hz(recording: Recording, prediction: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row r and information gain of `prediction` in 40 ms bins.

    `prediction` is (rows, frames at the recording's rate).
    """
    assert recording.lengths is not None and recording.spikes is not None
    lengths = [resampled_length(int(n), recording.rate, SCORE_RATE_HZ) for n in recording.lengths]
    truth = rebin_counts(
        recording.spikes, recording.rate, SCORE_RATE_HZ, lengths, recording.lengths
    )
    predicted = rebin_counts(
        np.where(np.isfinite(prediction), prediction, np.nan).astype(np.float32),
        recording.rate,
        SCORE_RATE_HZ,
        lengths,
        recording.lengths,
    )
    truth = np.where(np.isnan(predicted), np.nan, truth)  # dropped frames count on neither side
    scores = score_neurons(truth, predicted, bins=1, rate=SCORE_RATE_HZ)
    lags = np.array([best_lag(t, q) for t, q in zip(truth, predicted, strict=True)]).reshape(-1, 2)
    return {
        "r": scores["correlation"],
        "info_gain": scores["info_gain"],
        "lag_ms": lags[:, 0],
        "r_best_lag": lags[:, 1],
    }


def best_lag(truth: np.ndarray, predicted: np.ndarray, most_bins: int = 5) -> tuple[float, float]:
    """The shift of the prediction (ms, 40 ms steps, within +-200) that correlates best with the
    truth at 25 Hz (positive when the prediction comes late), and r at that shift: how much of
    a dataset's score its timing costs (a diagnostic; the score is r unshifted)."""
    keep = np.isfinite(truth) & np.isfinite(predicted)
    t, q = truth[keep], predicted[keep]
    if t.size < 4 * most_bins or t.std() == 0 or q.std() == 0:
        return float("nan"), float("nan")
    shifts = range(-most_bins, most_bins + 1)
    r = [
        np.corrcoef(t[max(0, -k) : t.size - max(0, k)], q[max(0, k) : q.size - max(0, -k)])[0, 1]
        for k in shifts
    ]
    best = int(np.nanargmax(r))
    return float(list(shifts)[best] * 1000 / SCORE_RATE_HZ), float(r[best])


def positive_derivative(recording: Recording, sigma_s: float) -> np.ndarray:
    filled, dropped = fill_gaps(recording.calcium, recording.lengths)
    smooth = gaussian_filter1d(
        np.nan_to_num(filled.astype(np.float64)),
        sigma_s * recording.rate,
        axis=1,
        order=1,
        mode="nearest",
    )
    out = np.maximum(smooth, 0)
    out[dropped | np.isnan(filled)] = np.nan
    return out


def oasis_spikes(recording: Recording) -> np.ndarray:
    filled, dropped = fill_gaps(recording.calcium, recording.lengths)
    spikes = deconvolve(
        Recording(filled, recording.rate, lengths=recording.lengths), p=1
    ).spikes.copy()
    spikes[dropped] = np.nan
    return spikes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--datasets", nargs="*", default=None, help="only these folds (default: all 16)"
    )
    parser.add_argument("--fold-epochs", type=int, default=RECIPE["fold_epochs"])
    parser.add_argument(
        "--samples",
        type=int,
        default=RECIPE["samples"],
        help="training chunks drawn (each epoch passes over them)",
    )
    parser.add_argument("--balance", type=float, default=RECIPE["balance"])
    parser.add_argument(
        "--warps",
        type=float,
        nargs="*",
        default=list(RECIPE["warps"]),
        help="time-stretch factors: each training neuron also read as if recorded at w x its rate",
    )
    parser.add_argument(
        "--noise", type=float, default=RECIPE["noise"], help="the model's noise augmentation"
    )
    parser.add_argument(
        "--model-rate",
        type=float,
        default=RECIPE["rate"],
        help="the model's internal frame rate (Hz)",
    )
    parser.add_argument(
        "--subframes",
        type=int,
        default=RECIPE["subframes"],
        help="input frames per model frame (the input rate is the model rate x this)",
    )
    parser.add_argument(
        "--channels", type=int, default=RECIPE["channels"], help="channels of each network"
    )
    parser.add_argument(
        "--members", type=int, default=RECIPE["members"], help="networks in the ensemble"
    )
    parser.add_argument("--dilations", default=",".join(str(d) for d in RECIPE["dilations"]))
    parser.add_argument(
        "--smooth-ms",
        type=float,
        default=1000 * RECIPE["smooth_s"],
        help="Gaussian sigma of the counts in the correlation loss",
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write every neuron's scores here")
    args = parse_with_data(parser)
    torch.set_num_threads(args.threads)
    warnings.simplefilter(
        "ignore", NoiseWarning
    )  # ranges differ between fold models; not what is measured here
    methods = [m.strip() for m in args.methods.split(",")]

    training = read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder)
    testing = read_ground_truth(args.cascade, segments="joined") + read_spikefinder(
        args.spikefinder
    )
    datasets = sorted({dataset_of(r) for r in testing})
    folds = args.datasets or datasets
    print(
        f"{len(datasets)} datasets, {sum(r.neurons for r in testing)} neurons; "
        f"folds: {', '.join(folds)}; "
        f"per fold {args.fold_epochs} epochs x {args.samples} chunks, balance {args.balance}, "
        f"noise {args.noise}, model rate {args.model_rate:g} Hz x {args.subframes} subframes, "
        f"{args.members} x {args.channels} channels, dilations {args.dilations}, "
        f"smoothing {args.smooth_ms:g} ms, "
        f"time warps {args.warps or 'none'}; torch {torch.__version__}, {args.threads} threads",
        flush=True,
    )

    # the derivative's width is chosen per fold on the other datasets: score every width once
    derivative: dict[float, dict[str, np.ndarray]] = {}
    if "derivative" in methods:
        for sigma in SIGMAS_S:
            derivative[sigma] = {
                d: np.concatenate(
                    [
                        scores_at_25hz(r, positive_derivative(r, sigma))["r"]
                        for r in testing
                        if dataset_of(r) == d
                    ]
                )
                for d in datasets
            }
    before = load_rate_model(BEFORE) if "before" in methods else None

    rows: list[dict[str, object]] = []
    started = time.perf_counter()
    for held_out in folds:
        fold_start = time.perf_counter()
        test = [r for r in testing if dataset_of(r) == held_out]
        predictions: dict[str, list[np.ndarray]] = {}
        if "calspike" in methods:
            torch.manual_seed(args.seed)
            model = train_rate_model(
                [r for r in training if dataset_of(r) != held_out],
                validation=None,
                model=recipe_model(
                    args.model_rate,
                    args.dilations,
                    args.noise,
                    args.smooth_ms / 1000,
                    args.subframes,
                    args.channels,
                    args.members,
                ),
                epochs=args.fold_epochs,
                samples=args.samples,
                balance=args.balance,
                seed=args.seed,
                device="cpu",
                warps=args.warps,
                progress=False,
            ).model
            predictions["calspike"] = [
                infer_spike_rates(r, model=model, device="cpu")[0] for r in test
            ]
        if "oasis" in methods:
            predictions["oasis"] = [oasis_spikes(r) for r in test]
        if "derivative" in methods:
            others = [d for d in datasets if d != held_out]
            best = max(
                SIGMAS_S,
                key=lambda s: float(np.mean([np.nanmean(derivative[s][d]) for d in others])),
            )
            predictions["derivative"] = [positive_derivative(r, best) for r in test]
        if before is not None:
            predictions["before"] = [
                infer_spike_rates(r, model=before[0], device="cpu")[0] for r in test
            ]
        scored = {
            m: [scores_at_25hz(r, p) for r, p in zip(test, ps, strict=True)]
            for m, ps in predictions.items()
        }
        for k, recording in enumerate(test):
            for row, name in enumerate(
                recording.neuron_names
                or [f"{recording.name}/{i}" for i in range(recording.neurons)]
            ):
                entry: dict[str, object] = {
                    "dataset": held_out,
                    "family": family(recording),
                    "neuron": name,
                }
                for m in predictions:
                    entry[m] = float(scored[m][k]["r"][row])
                    entry[f"{m}_info_gain"] = float(scored[m][k]["info_gain"][row])
                    entry[f"{m}_lag_ms"] = float(scored[m][k]["lag_ms"][row])
                    entry[f"{m}_r_best_lag"] = float(scored[m][k]["r_best_lag"][row])
                rows.append(entry)
        mine = [e for e in rows if e["dataset"] == held_out]
        line = ", ".join(f"{m} {np.nanmean([e[m] for e in mine]):.3f}" for m in predictions)
        lags = ", ".join(
            f"{m} {np.nanmedian([e[m + '_lag_ms'] for e in mine]):+.0f}" for m in predictions
        )
        shifted = ", ".join(
            f"{m} {np.nanmean([e[m + '_r_best_lag'] for e in mine]):.3f}" for m in predictions
        )
        print(
            f"  {held_out}: {len(mine)} neurons; r {line}; median lag (ms) {lags}; "
            f"r at each neuron's best lag {shifted} "
            f"({time.perf_counter() - fold_start:.0f} s)",
            flush=True,
        )
    print(f"{len(folds)} folds in {(time.perf_counter() - started) / 60:.1f} min\n")
    report(rows, [m for m in METHODS if m in methods])
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"settings": {k: str(v) for k, v in vars(args).items()}, "neurons": rows}, indent=1
            )
        )


def report(rows: list[dict[str, object]], methods: list[str]) -> None:
    """Tables of mean r and information gain per dataset, per indicator family and overall."""

    def table(key: str, title: str) -> list[str]:
        groups = sorted({str(e[key]) for e in rows})
        lines = [
            f"{title:<16} {'n':>3}  "
            + "  ".join(f"{m:>10}" for m in methods)
            + "   "
            + "  ".join(f"{'IG ' + m:>13}" for m in methods)
        ]
        for g in groups:
            members = [e for e in rows if e[key] == g]
            cells = []
            for m in methods:
                mark = "*" if m == "before" and g in BEFORE_TRAINED_ON else " "
                cells.append(f"{np.nanmean([e[m] for e in members]):>9.3f}{mark}")
            gains = [
                f"{np.nanmean([e[m + '_info_gain'] for e in members]):>13.3f}" for m in methods
            ]
            lines.append(
                f"{g:<16} {len(members):>3}  " + "  ".join(cells) + "   " + "  ".join(gains)
            )
        return lines

    print("\n".join(table("dataset", "dataset")))
    print()
    print("\n".join(table("family", "indicator family")))
    overall = {m: np.nanmean([e[m] for e in rows]) for m in methods}
    by_dataset = {
        m: np.mean(
            [
                np.nanmean([e[m] for e in rows if e["dataset"] == d])
                for d in sorted({str(e["dataset"]) for e in rows})
            ]
        )
        for m in methods
    }
    print("\noverall, mean over neurons:  " + ", ".join(f"{m} {v:.3f}" for m, v in overall.items()))
    print(
        "overall, mean over datasets: " + ", ".join(f"{m} {v:.3f}" for m, v in by_dataset.items())
    )
    if "calspike" in methods and len(methods) > 1:
        datasets = sorted({str(e["dataset"]) for e in rows})
        ahead = [
            d
            for d in datasets
            if all(
                np.nanmean([e["calspike"] for e in rows if e["dataset"] == d])
                > np.nanmean([e[m] for e in rows if e["dataset"] == d])
                for m in methods
                if m != "calspike"
            )
        ]
        print(
            f"calspike ahead of every other method on {len(ahead)} of {len(datasets)} datasets "
            f"(not ahead on: {', '.join(d for d in datasets if d not in ahead) or 'none'})"
        )
        for m in methods[1:]:
            print(f"  calspike / {m} mean r over neurons: {overall['calspike'] / overall[m]:.3f}x")


if __name__ == "__main__":
    main()
