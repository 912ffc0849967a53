"""What a few neurons of one's own ground truth are worth.

Fine-tuning (`calspike train-rate --init`) against a model that never saw the dataset.

For each chosen dataset D: a model is trained with the default recipe on the other 15 ground-truth
datasets (D never seen: the fold of benchmarks/bench_ground_truth.py, same recipe and budget).
D's neurons are then split in two halves (alternating, in file order); the fold model is
fine-tuned on one half, or on its first `--neurons` K (`train_rate_model(init=...)`, the
settings below, fixed before any run), and scored on the other half; then the other way
round. Printed per dataset, on the same neurons: the fold model (never saw D), the
fine-tuned ones (saw other neurons of D), and calspike's OASIS AR(1); SpikeFinder metric at
25 Hz (mean r), with the median best lag.

This measures a user who records ground truth for a few of their own neurons (their
indicator, their microscope, their timing) and fine-tunes the shipped model on it; it is
not a left-out score.

    python benchmarks/bench_fine_tune.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder --datasets SF4 SF5 DS32
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from calspike.data import Recording, read_ground_truth, read_spikefinder
from calspike.spikes.rate import NoiseWarning, infer_spike_rates
from calspike.spikes.rate_training import dataset_of, train_rate_model

sys.path.insert(0, str(Path(__file__).parent))
from ground_truth_args import add_data_arguments, parse_with_data
from ground_truth_scores import oasis_spikes, scores_at_25hz
from train_default_rate_model import RECIPE, shipped_recipe_model

FINE_TUNE = {
    "epochs": 4,
    "samples": 4096,
    "lr": 1e-3,
    "balance": 0.0,
}  # chosen before any run, not tuned


def some_rows(recording: Recording, rows: list[int]) -> Recording:
    """The recording with only these neurons."""
    assert recording.spikes is not None and recording.lengths is not None
    names = recording.neuron_names or tuple(
        f"{recording.name}/{k}" for k in range(recording.neurons)
    )
    return replace(
        recording,
        calcium=recording.calcium[rows],
        spikes=recording.spikes[rows],
        lengths=recording.lengths[rows],
        neuron_names=tuple(names[k] for k in rows),
    )


def rows_of(recordings: list[Recording], half: int) -> list[Recording]:
    """Every other neuron of the dataset, starting at `half`.

    Neurons are counted in file order, across the dataset's recordings.
    """
    picked, seen = [], 0
    for recording in recordings:
        rows = [k for k in range(recording.neurons) if (seen + k) % 2 == half]
        seen += recording.neurons
        if rows:
            picked.append(some_rows(recording, rows))
    return picked


def first_rows(recordings: list[Recording], count: int) -> list[Recording]:
    """The first `count` neurons of `recordings` (all of them for 0)."""
    picked: list[Recording] = []
    for recording in recordings:
        left = recording.neurons if count == 0 else count - sum(r.neurons for r in picked)
        if left > 0:
            picked.append(some_rows(recording, list(range(min(left, recording.neurons)))))
    return picked


def mean_scores(
    recordings: list[Recording], predictions: list[np.ndarray]
) -> tuple[list[float], list[float]]:
    scored = [scores_at_25hz(r, p) for r, p in zip(recordings, predictions, strict=True)]
    return (
        [float(x) for s in scored for x in s["r"]],
        [float(x) for s in scored for x in s["lag_ms"]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument("--datasets", nargs="+", default=["SF4", "SF5", "DS32"])
    parser.add_argument(
        "--neurons",
        type=int,
        nargs="+",
        default=[0],
        help="fine-tune on this many neurons of the other half (0: all of it); one column each",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parse_with_data(parser)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", NoiseWarning)
    training = read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder)
    testing = read_ground_truth(args.cascade, segments="joined") + read_spikefinder(
        args.spikefinder
    )
    print(
        "fold models: the default recipe, "
        f"{RECIPE['fold_epochs']} epochs x {RECIPE['samples']} chunks; "
        f"fine-tuning: {FINE_TUNE}; torch {torch.__version__}, {args.threads} threads",
        flush=True,
    )
    lines = []
    with tempfile.TemporaryDirectory() as scratch:
        for held_out in args.datasets:
            start = time.perf_counter()
            torch.manual_seed(args.seed)
            fold_path = (
                Path(scratch) / f"fold_{held_out}.pt"
            )  # with its ranges, which fine-tuning widens
            fold = train_rate_model(
                [r for r in training if dataset_of(r) != held_out],
                validation=None,
                device="cpu",
                progress=False,
                model=shipped_recipe_model(dff_scale=False),
                epochs=RECIPE["fold_epochs"],
                samples=RECIPE["samples"],
                balance=RECIPE["balance"],
                warps=RECIPE["warps"],
                seed=args.seed,
                checkpoint=fold_path,
            )
            mine = [r for r in testing if dataset_of(r) == held_out]
            r_fold, r_oasis, lag_fold = [], [], []
            r_tuned: dict[int, list[float]] = {k: [] for k in args.neurons}
            lag_tuned: list[float] = []
            for half in (0, 1):
                scored, tuning = rows_of(mine, half), rows_of(mine, 1 - half)
                r, lag = mean_scores(
                    scored,
                    [infer_spike_rates(s, model=fold.model, device="cpu")[0] for s in scored],
                )
                r_fold, lag_fold = r_fold + r, lag_fold + lag
                r_oasis += mean_scores(scored, [oasis_spikes(s) for s in scored])[0]
                for k in args.neurons:
                    tuned = train_rate_model(
                        first_rows(tuning, k),
                        validation=None,
                        init=fold_path,
                        device="cpu",
                        progress=False,
                        seed=args.seed,
                        **FINE_TUNE,
                    ).model
                    r, lag = mean_scores(
                        scored, [infer_spike_rates(s, model=tuned, device="cpu")[0] for s in scored]
                    )
                    r_tuned[k] += r
                    if k == 0:
                        lag_tuned += lag
            cells = "".join(f"  {np.nanmean(r_tuned[k]):>10.3f}" for k in args.neurons)
            tuned_lag = np.nanmedian(lag_tuned) if lag_tuned else np.nan
            line = (
                f"{held_out:<8} {len(r_fold):>3}  {np.nanmean(r_fold):>10.3f}{cells}  "
                f"{np.nanmean(r_oasis):>8.3f}  {np.nanmedian(lag_fold):>+9.0f}  {tuned_lag:>+9.0f}"
            )
            lines.append(line)
            print(f"  {line}  ({time.perf_counter() - start:.0f} s)", flush=True)
    tuned_heads = "".join(f"  {'tuned, ' + (str(k) if k else 'half'):>10}" for k in args.neurons)
    print(
        f"\n{'dataset':<8} {'n':>3}  {'left out':>10}{tuned_heads}  "
        f"{'oasis':>8}  {'lag (ms)':>9}  {'tuned lag':>9}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
