"""Train calspike's shipped default spike-rate model on every ground truth we have: CASCADE's
33 datasets (392 neurons, 59 h) and SpikeFinder datasets 4, 5, 6 (24 neurons).

    python benchmarks/train_default_rate_model.py --cascade ../shared/data/cascade_gt \\
        --spikefinder ../shared/data/spikefinder

Reproducible: seed 0, 2 CPU threads (or `--device cuda`), the recipe below. The training
set is RECIPE["samples"] chunks drawn with replacement, each dataset's share proportional
to the square root of its size (balance 0.5: the large datasets would drown the small ones),
augmented in acquisition rate, noise, gain and offset, every neuron also read at 0.5, 0.67,
1.5, 2 and 3 times its frame rate (RECIPE["warps"]: other kinetics, time constants from twice
to a third of those recorded); no validation split (the recipe
was chosen by cross-validation over datasets, benchmarks/bench_ground_truth.py, which
trains its folds with the same recipe and RECIPE["fold_epochs"] epochs). Once trained, the
count calibration is fitted on the training neurons as recorded (`count_scale`, in the
card). A resumable checkpoint is written after every epoch (`--checkpoint`, `--resume`); the
small inference-only copy goes to the package.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from ground_truth_args import add_data_arguments, parse_with_data

from calspike.data import read_ground_truth, read_spikefinder
from calspike.models import SpikeRateModel
from calspike.spikes.rate import default_model_path
from calspike.spikes.rate_training import export_rate_model, train_rate_model

RECIPE = {
    "epochs": 12,
    "fold_epochs": 4,
    "samples": 32_768,
    "balance": 0.5,
    "noise": 1.0,
    "batch_size": 64,
    "lr": 3e-3,
    "rate": 25.0,
    "dilations": (1, 2, 4, 8, 16, 32),
    "smooth_s": 0.0,
    "subframes": 4,
    "channels": 32,
    "members": 1,
    "warps": (0.5, 0.67, 1.5, 2.0, 3.0),
    "dff_scale": False,
}


def recipe_model(
    rate: float,
    dilations: str | tuple[int, ...],
    noise: float,
    smooth_s: float,
    subframes: int = 1,
    channels: int = 32,
    members: int = 1,
    dff_scale: bool = False,
) -> SpikeRateModel:
    """A fresh SpikeRateModel at `rate` Hz (input `subframes` x finer; `members` networks of
    `channels` channels) whose correlation loss smooths the counts over `smooth_s` s; with
    `dff_scale` it also reads each trace's spread in dF/F."""
    if isinstance(dilations, str):
        dilations = tuple(int(d) for d in dilations.split(","))
    return SpikeRateModel(
        rate=rate,
        dilations=dilations,
        noise=noise,
        smooth=smooth_s * rate,
        subframes=subframes,
        channels=channels,
        members=members,
        dff_scale=dff_scale,
    )


def shipped_recipe_model(dff_scale: bool | None = None) -> SpikeRateModel:
    """A fresh model of RECIPE (with `dff_scale` instead of the recipe's, when given)."""
    return recipe_model(
        RECIPE["rate"],
        RECIPE["dilations"],
        RECIPE["noise"],
        RECIPE["smooth_s"],
        RECIPE["subframes"],
        RECIPE["channels"],
        RECIPE["members"],
        RECIPE["dff_scale"] if dff_scale is None else dff_scale,
    )


PACKAGE_WEIGHTS = (
    Path(__file__).parents[1]
    / "python"
    / "calspike"
    / "spikes"
    / "weights"
    / default_model_path().name
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument(
        "-o", "--output", type=Path, default=PACKAGE_WEIGHTS, help="the inference-only model"
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("rate_default_training.pt"),
        help="the full, resumable training checkpoint",
    )
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parse_with_data(parser)
    torch.set_num_threads(args.threads)
    recordings = read_ground_truth(args.cascade) + read_spikefinder(args.spikefinder)
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    model = shipped_recipe_model()
    result = train_rate_model(
        recordings,
        model=model,
        validation=None,
        epochs=RECIPE["epochs"],
        samples=RECIPE["samples"],
        balance=RECIPE["balance"],
        batch_size=RECIPE["batch_size"],
        lr=RECIPE["lr"],
        seed=args.seed,
        warps=RECIPE["warps"],
        device=args.device,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=True,
    )
    export_rate_model(args.checkpoint, args.output)
    last = result.history[-1]
    print(
        f"trained on {len(recordings)} recordings in {time.perf_counter() - start:.0f} s "
        f"on {result.device}; "
        f"last epoch: training loss {last['train_loss']:.4f}, chunk correlation "
        f"{last['train_correlation'] / last['train_with_spikes']:.3f}; count calibration "
        f"{result.extra['count_scale']:.3f}"
    )
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
