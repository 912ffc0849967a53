"""Spike inference on datasets never seen in training: 36 ground-truth datasets (33 CASCADE +
SpikeFinder 4, 5, 6) left out in 9 fixed folds, calspike against its peers on the same
neurons, in one run.

The folds group datasets of one lab or one kind (FOLDS, printed), so a fold's model has seen
neither the dataset nor its siblings: the jGCaMP7/8 recordings of one lab together, the red
indicators together, Theis et al.'s recordings (DS15, SpikeFinder) together, and so on. Every
dataset is left out exactly once. For each fold, a spike-rate model is trained on the other
datasets with the shipped model's recipe (benchmarks/train_default_rate_model.py;
`--fold-epochs` epochs of `--samples` chunks, fewer than the shipped model's, so that the
run fits in 90 min on 2 cores; the chunks of all datasets are cut once) and scored on the
fold's neurons (a neuron's segments joined with NaN gaps). `--warps`, `--balance`,
`--channels`, `--dilations` and `--noise` change the recipe for an experiment (the JSON
records what ran). Next to it, on the same neurons:
  - dff (with --methods ...,dff): the same recipe with the dF/F spread input (dff_scale; the
    ablation of that option, which the recipe leaves off);
  - oasis: calspike.deconvolve, AR(1), parameters estimated per neuron (no training);
  - derivative: the positive part of the derivative of the Gaussian-smoothed trace, its
    width chosen among 25-400 ms by the mean r over the datasets not in the fold;
  - before: the model shipped before this benchmark's recipe (benchmarks/reference/; on the
    datasets its card says it trained on it is NOT held out, marked *).
Scores: the SpikeFinder metric at 25 Hz (predictions and spike counts rebinned to 40 ms
bins, conserving counts; Pearson r per neuron), the Poisson information gain (bits/s) and,
for the methods that predict counts, the calibration ratio (predicted / true spikes per
neuron, median). Printed per dataset, per indicator family and overall; `--json` keeps
every neuron's scores and the summary (benchmarks/model_card.py writes the model card
from it).

    python benchmarks/bench_ground_truth.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder --json gt.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike.data import read_ground_truth, read_spikefinder
from calspike.spikes.model_card import ModelCard
from calspike.spikes.rate import NoiseWarning, infer_spike_rates, load_rate_model
from calspike.spikes.rate_calibration import count_scale, fit_rate_chunks
from calspike.spikes.rate_chunks import rate_training_set
from calspike.spikes.rate_datasets import dataset_of

sys.path.insert(0, str(Path(__file__).parent))
from ground_truth_args import add_data_arguments, parse_with_data
from ground_truth_report import summary, tables
from ground_truth_scores import neuron_row, oasis_spikes, positive_derivative, scores_at_25hz
from train_default_rate_model import RECIPE, recipe_model

METHODS = ("calspike", "oasis", "derivative", "before")
SIGMAS_S = (0.025, 0.05, 0.1, 0.2, 0.4)
BEFORE = Path(__file__).parent / "reference" / "spike_rate_before_issue28.pt"
FOLDS = (
    ("DS29", "DS30", "DS31", "DS32"),  # Janelia jGCaMP7f/8f/8m/8s, mouse V1 excitatory
    ("DS09", "DS14", "DS28", "DS33"),  # GENIE GCaMP6; Janelia XCaMP-Gf and interneurons
    ("DS24", "DS25", "DS26", "DS27"),  # GCaMP6f PV/SST/VIP interneurons, one collection
    ("DS10", "DS11", "DS12", "DS13"),  # Allen Institute, neuropil-corrected
    ("DS04", "DS06", "DS07", "DS08"),  # Rupprecht et al., adult zebrafish
    ("DS01", "DS02", "DS03", "DS05"),  # OGB-1 mouse V1; Cal-520 mouse and zebrafish
    ("DS18", "DS19", "DS20", "DS21"),  # the red indicators
    ("DS22", "DS23", "DS40", "DS41"),  # OGB-1 interneurons; spinal cord
    ("DS15", "SF4", "SF5", "SF6"),  # Theis et al. 2016 and SpikeFinder
)
RECIPE_KEYS = ("rate", "subframes", "members")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--folds", type=int, nargs="*", default=None, help="only these folds (1-9; default all)"
    )
    parser.add_argument("--fold-epochs", type=int, default=RECIPE["fold_epochs"])
    parser.add_argument("--samples", type=int, default=RECIPE["samples"])
    parser.add_argument(
        "--warps",
        type=float,
        nargs="*",
        default=list(RECIPE["warps"]),
        help="frame-rate factors each training neuron is also read at (default: the recipe's)",
    )
    parser.add_argument(
        "--balance",
        type=float,
        default=RECIPE["balance"],
        help="dataset balance of the training draw (0: by size, 1: alike; default: the recipe's)",
    )
    parser.add_argument(
        "--channels", type=int, default=RECIPE["channels"], help="width (default: the recipe's)"
    )
    parser.add_argument(
        "--dilations",
        type=int,
        nargs="+",
        default=list(RECIPE["dilations"]),
        help="the blocks' dilations (default: the recipe's)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=RECIPE["noise"],
        help="largest noise of the augmentation, normalised units (default: the recipe's)",
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write every neuron's scores here")
    parser.add_argument(
        "--summarise",
        type=Path,
        default=None,
        metavar="JSON",
        help="no run: recompute the tables and summary of an earlier run's --json from its "
        "neurons' scores, and write them into it",
    )
    args = parser.parse_args()
    if args.summarise is not None:
        return args
    args = parse_with_data(parser)
    if args.folds and not all(1 <= f <= len(FOLDS) for f in args.folds):
        parser.error(f"--folds are numbers 1 to {len(FOLDS)}")
    if not 0 <= args.balance <= 1:
        parser.error("--balance is a number in [0, 1]")
    if min(args.channels, args.fold_epochs, args.samples, *args.dilations) < 1:
        parser.error("--channels, --fold-epochs, --samples and --dilations are integers >= 1")
    if not 0 <= args.noise < float("inf"):
        parser.error("--noise is a finite number >= 0")
    return args


def fold_model(
    chunks: Any, held_out: tuple[str, ...], dff_scale: bool, args: Any
) -> tuple[Any, float]:
    """The recipe's model trained on every dataset but `held_out`, and its count calibration.

    The calibration is fitted on the fold's training chunks, as `train_rate_model` does.
    """
    held = [chunks.groups.index(d) for d in held_out if d in chunks.groups]
    keep = np.flatnonzero(~np.isin(chunks.group, held))
    torch.manual_seed(args.seed)
    model = recipe_model(
        RECIPE["rate"],
        tuple(args.dilations),
        args.noise,
        RECIPE["smooth_s"],
        RECIPE["subframes"],
        args.channels,
        RECIPE["members"],
        dff_scale,
    )
    fit_rate_chunks(
        model,
        chunks,
        keep,
        samples=args.samples,
        balance=args.balance,
        epochs=args.fold_epochs,
        batch_size=RECIPE["batch_size"],
        lr=RECIPE["lr"],
        seed=args.seed,
    )
    return model, count_scale(model, chunks, keep)


def summarise(path: Path) -> None:
    """Print the tables of an earlier run's JSON and rewrite its summary from its neurons."""
    document = json.loads(path.read_text())
    rows, trained = document["neurons"], set(document["before_trained_on"])
    shown = [m for m in ("calspike", "plain", "dff", *METHODS[1:]) if m in rows[0]]
    document["summary"] = summary(rows, shown, trained)
    print(tables(document["summary"], shown, trained))
    write_json(document, path)


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write `document` to `path` whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1))
    os.replace(partial, path)


def main() -> None:
    args = arguments()
    if args.summarise is not None:
        summarise(args.summarise)
        return
    torch.set_num_threads(args.threads)
    # fold models' ranges differ from the shipped one's; not what is measured here
    warnings.simplefilter("ignore", NoiseWarning)
    methods = [m.strip() for m in args.methods.split(",")]
    folds = [(k, FOLDS[k - 1]) for k in (args.folds or range(1, len(FOLDS) + 1))]
    testing = read_ground_truth(args.cascade, segments="joined") + read_spikefinder(
        args.spikefinder
    )
    datasets = sorted({dataset_of(r) for r in testing})
    missing = sorted(set(datasets) - {d for fold in FOLDS for d in fold})
    if missing:
        sys.exit(f"datasets in no fold: {', '.join(missing)}")
    before_model, before_card = load_rate_model(BEFORE)
    before_trained = set(ModelCard.from_dict(before_card).train_datasets or {})
    print(
        f"{len(datasets)} datasets, {sum(r.neurons for r in testing)} neurons; folds: "
        + "; ".join(f"{k}: {' '.join(f)}" for k, f in folds)
        + f"\nper fold {args.fold_epochs} epochs x {args.samples} chunks; recipe "
        + ", ".join(f"{k} {RECIPE[k]}" for k in (*RECIPE_KEYS, "dff_scale"))
        + f", warps {tuple(args.warps)}, balance {args.balance}, channels {args.channels}"
        + f", dilations {tuple(args.dilations)}, noise {args.noise}"
        + f"; torch {torch.__version__}, {args.threads} threads",
        flush=True,
    )
    started = time.perf_counter()
    chunks = None
    if "calspike" in methods or "dff" in methods:
        training = read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder)
        chunks = rate_training_set(
            training,
            RECIPE["rate"],
            3 + sum(args.dilations),
            subframes=RECIPE["subframes"],
            warps=tuple(args.warps),
            dff_scale=True,
            threads=args.threads,
        )
        print(
            f"cut {len(chunks.inputs):,} chunks in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    derivative: dict[float, dict[str, float]] = {}  # width -> dataset -> mean r
    if "derivative" in methods:
        for sigma in SIGMAS_S:
            derivative[sigma] = {
                d: float(
                    np.nanmean(
                        np.concatenate(
                            [
                                scores_at_25hz(r, positive_derivative(r, sigma))["r"]
                                for r in testing
                                if dataset_of(r) == d
                            ]
                        )
                    )
                )
                for d in datasets
            }
    rows: list[dict[str, Any]] = []
    timing: dict[str, float] = {}
    scales: dict[str, dict[str, float]] = {}  # per fold and model: its count calibration
    for number, held_out in folds:
        fold_start = time.perf_counter()
        test = [r for r in testing if dataset_of(r) in held_out]
        predictions: dict[str, list[np.ndarray]] = {}
        for name, dff in (("calspike", RECIPE["dff_scale"]), ("dff", True)):
            if name in methods:
                model, scale = fold_model(chunks, held_out, dff, args)
                scales.setdefault(str(number), {})[name] = scale
                predictions[name] = [
                    infer_spike_rates(
                        r, model=model, metadata={"count_scale": scale}, device="cpu"
                    )[0]
                    for r in test
                ]
        if "oasis" in methods:
            predictions["oasis"] = [oasis_spikes(r) for r in test]
        if "derivative" in methods:
            others = [d for d in datasets if d not in held_out]
            best = max(SIGMAS_S, key=lambda s: float(np.mean([derivative[s][d] for d in others])))
            predictions["derivative"] = [positive_derivative(r, best) for r in test]
        if "before" in methods:
            predictions["before"] = [
                infer_spike_rates(r, model=before_model, device="cpu")[0] for r in test
            ]
        for k, recording in enumerate(test):
            scored = {m: scores_at_25hz(recording, p[k]) for m, p in predictions.items()}
            rows.extend(
                neuron_row(recording, row, scored, fold=number) for row in range(recording.neurons)
            )
        timing[str(number)] = time.perf_counter() - fold_start
        mine = [e for e in rows if e["fold"] == number]
        line = ", ".join(f"{m} {np.nanmean([e[m] for e in mine]):.3f}" for m in predictions)
        print(
            f"  fold {number} ({' '.join(held_out)}): {len(mine)} neurons; mean r {line} "
            f"({timing[str(number)]:.0f} s)",
            flush=True,
        )
    minutes = (time.perf_counter() - started) / 60
    print(f"{len(folds)} folds in {minutes:.1f} min\n")
    shown = [m for m in ("calspike", "dff", *METHODS[1:]) if m in methods]
    result = summary(rows, shown, before_trained)
    print(tables(result, shown, before_trained))
    if args.json is not None:
        document = {
            "settings": {k: str(v) for k, v in vars(args).items()},
            "recipe": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in {
                    **RECIPE,
                    "warps": tuple(args.warps),
                    "balance": args.balance,
                    "channels": args.channels,
                    "dilations": tuple(args.dilations),
                    "noise": args.noise,
                    "fold_epochs": args.fold_epochs,
                }.items()
            },
            "folds": {str(k): list(f) for k, f in folds},
            "before_trained_on": sorted(before_trained),
            "torch": torch.__version__,
            "minutes": minutes,
            "fold_seconds": timing,
            "fold_count_scales": scales,
            "summary": result,
            "neurons": rows,
        }
        write_json(document, args.json)


if __name__ == "__main__":
    main()
