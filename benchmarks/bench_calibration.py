"""Spike counts on neurons never seen, of datasets the model trained on: are they calibrated?

A user's indicator and preparation are often among the training data's. Each dataset's
neurons are split (seeded): a fifth held out, the model trained on the rest of every dataset
with the shipped recipe (`--epochs`, as bench_ground_truth's folds), and the held-out neurons
scored: Pearson r at 25 Hz and the calibration ratio (predicted / true spikes per neuron,
median), of the recipe (``calspike``) and of it with the dF/F spread input (``dff``), next to OASIS,
the derivative (its best width over all datasets) and the model shipped before (trained on
some of these neurons: it is not held out there). bench_ground_truth.py holds whole datasets
and labs out instead.

    python benchmarks/bench_calibration.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder --json calibration.json
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike.data import read_ground_truth, read_spikefinder
from calspike.spikes.rate import NoiseWarning, infer_spike_rates, load_rate_model
from calspike.spikes.rate_calibration import count_scale, fit_rate_chunks
from calspike.spikes.rate_chunks import rate_training_set
from calspike.spikes.rate_datasets import dataset_of

sys.path.insert(0, str(Path(__file__).parent))
from bench_ground_truth import BEFORE, SIGMAS_S, write_json
from ground_truth_args import add_data_arguments, parse_with_data
from ground_truth_report import summary, tables
from ground_truth_scores import neuron_row, oasis_spikes, positive_derivative, scores_at_25hz
from train_default_rate_model import RECIPE, shipped_recipe_model

_SEGMENT = re.compile(r"/seg\d+$")


def neuron_key(dataset: str, name: str) -> tuple[str, str]:
    """(dataset, neuron) of a training chunk's or a scored row's name, segments and rates aside."""
    name = _SEGMENT.sub("", name)
    return dataset, name.split("/", 1)[1] if "/" in name else name


def held_out_neurons(keys: set[tuple[str, str]], share: float, seed: int) -> set[tuple[str, str]]:
    """`share` of each dataset's neurons (at least one), drawn with `seed`."""
    rng = np.random.default_rng(seed)
    held: set[tuple[str, str]] = set()
    for dataset in sorted({d for d, _ in keys}):
        names = sorted(n for d, n in keys if d == dataset)
        count = max(1, round(share * len(names)))
        held |= {(dataset, names[i]) for i in rng.permutation(len(names))[:count]}
    return held


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument("--share", type=float, default=0.2, help="neurons held out per dataset")
    parser.add_argument("--epochs", type=int, default=RECIPE["fold_epochs"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parse_with_data(parser)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", NoiseWarning)
    started = time.perf_counter()
    training = read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder)
    testing = read_ground_truth(args.cascade, segments="joined") + read_spikefinder(
        args.spikefinder
    )
    chunks = rate_training_set(
        training,
        RECIPE["rate"],
        3 + sum(RECIPE["dilations"]),
        subframes=RECIPE["subframes"],
        warps=RECIPE["warps"],
        dff_scale=True,
        threads=args.threads,
    )
    chunk_keys = [
        neuron_key(chunks.groups[g], chunks.names[n])
        for g, n in zip(chunks.group, chunks.neuron, strict=True)
    ]
    held = held_out_neurons(set(chunk_keys), args.share, args.seed)
    keep = np.flatnonzero([key not in held for key in chunk_keys])
    print(
        f"{len(held)} of {len({*chunk_keys})} neurons held out ({args.share:.0%} of each "
        f"dataset, seed {args.seed}); training on {len(keep):,} of {len(chunk_keys):,} chunks, "
        f"{args.epochs} epochs x {RECIPE['samples']} samples",
        flush=True,
    )
    models = {}
    for name, dff in (("calspike", RECIPE["dff_scale"]), ("dff", True)):
        torch.manual_seed(args.seed)
        model = shipped_recipe_model(dff)
        fit_rate_chunks(
            model,
            chunks,
            keep,
            samples=RECIPE["samples"],
            balance=RECIPE["balance"],
            epochs=args.epochs,
            batch_size=RECIPE["batch_size"],
            lr=RECIPE["lr"],
            seed=args.seed,
        )
        models[name] = (model, {"count_scale": count_scale(model, chunks, keep)})
    models["before"] = load_rate_model(BEFORE)
    sigma = max(
        SIGMAS_S,
        key=lambda s: float(
            np.nanmean(
                np.concatenate([scores_at_25hz(r, positive_derivative(r, s))["r"] for r in testing])
            )
        ),
    )
    rows: list[dict[str, Any]] = []
    for recording in testing:
        dataset = dataset_of(recording)
        chosen = [
            row
            for row in range(recording.neurons)
            if neuron_key(dataset, recording.neuron_name(row)) in held
        ]
        if not chosen:
            continue
        predictions = {
            name: infer_spike_rates(recording, model=model, metadata=card, device="cpu")[0]
            for name, (model, card) in models.items()
        }
        predictions["oasis"] = oasis_spikes(recording)
        predictions["derivative"] = positive_derivative(recording, sigma)
        scored = {m: scores_at_25hz(recording, p) for m, p in predictions.items()}
        rows.extend(neuron_row(recording, row, scored) for row in chosen)
    minutes = (time.perf_counter() - started) / 60
    print(f"{len(rows)} held-out rows scored in {minutes:.1f} min\n")
    methods = ["calspike", "dff", "oasis", "derivative", "before"]
    result = summary(rows, methods)
    print(tables(result, methods, set()))
    if args.json is not None:
        write_json(
            {
                "settings": {k: str(v) for k, v in vars(args).items()},
                "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in RECIPE.items()},
                "held_out": sorted(f"{d}/{n}" for d, n in held),
                "derivative_sigma_s": sigma,
                "count_scales": {n: card.get("count_scale") for n, (_, card) in models.items()},
                "torch": torch.__version__,
                "minutes": minutes,
                "summary": result,
                "neurons": rows,
            },
            args.json,
        )


if __name__ == "__main__":
    main()
