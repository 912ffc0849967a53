"""Which settings each command takes, and each command's defaults.

`COMMANDS` names the settings of each command; `PROFILES` are the per-command defaults laid over
the settings' own.
"""

from __future__ import annotations

from typing import Any

from calspike.config.settings import GROUPS

# Per-command defaults over the settings' own. "quick" is layered over "run" by `run --quick`.
PROFILES: dict[str, dict[str, Any]] = {
    # per-neuron normalisation keeps amplitudes: on held-out SpikeFinder neurons it lifts the
    # classifier's balanced accuracy from about 0.61 to 0.69 (benchmarks/bench_quality.py)
    "run": {"normalize": "neuron"},
    "quick": {
        "train_skip": 5,
        "epochs": 6,
        "vae_epochs": 20,
        "hidden": 32,
        "latent": 32,
        "max_windows": 12_000,
    },
    # `run --tutorial`: the tutorial's own settings (its classifier post and autoencoder post);
    # the optimiser is plain Adam at a constant rate without clipping, and nothing stops early
    "tutorial": {
        "normalize": "window",
        "skip": 10,
        "train_skip": 10,
        "features": "raw,tutorial_delta,quad",
        "vae_features": "raw,tutorial_delta,quad",
        "epochs": 5,
        "vae_epochs": 100,
        "batch_size": 32,
        "lr": 1e-3,
        "hidden": 64,
        "latent": 256,
        "beta": 1e-4,
        "max_windows": 10_000,
        "vae_windows": 1_000,
        "toy_epochs": 10,
        "toy_batch_size": 32,
        "toy_lr": 1e-3,
        "toy_beta": 1e-2,
        "toy_loss": "squared_error",
    },
    # `run --quick --tutorial`: the tutorial's settings with fewer VAE epochs and a smaller
    # latent space
    "quick-tutorial": {"vae_epochs": 30, "latent": 64},
    "train-rate": {"epochs": 30, "batch_size": 64, "lr": 3e-3, "patience": 6},
    "score": {"rate": 100.0},
}

WINDOW_SETTINGS = GROUPS["windows"]
TRAIN_SETTINGS = (*GROUPS["tutorial models"], "device")  # the same order, with the device
TOY_SETTINGS = GROUPS["toy VAE"]
INFER_SETTINGS = (
    "method",
    "p",
    "rate",
    "chunk_neurons",
    "neuropil",
    "baseline",
    "all_rois",
    "workers",
    "threads",
    "device",
)
TRAIN_RATE_SETTINGS = (
    "rate",
    "epochs",
    "batch_size",
    "lr",
    "patience",
    "validation",
    "channels",
    "members",
    "subframes",
    "dff_scale",
    "simulated",
    "balance",
    "warps",
    "samples",
    "seed",
    "device",
)

# Which settings each command takes (the CLI adds these options, --config may set them).
COMMANDS: dict[str, tuple[str, ...]] = {
    "run": (*WINDOW_SETTINGS, "threads", "seed", *TRAIN_SETTINGS, *TOY_SETTINGS, "rate"),
    "prepare": (*WINDOW_SETTINGS, "threads", "seed", "rate"),
    "train": (
        "seed",
        "features",
        "vae_features",
        "epochs",
        "batch_size",
        "lr",
        "patience",
        "hidden",
        "latent",
        "beta",
        "max_windows",
        "device",
    ),
    "evaluate": ("device",),
    "infer": INFER_SETTINGS,
    "train-rate": TRAIN_RATE_SETTINGS,
    "score": ("rate",),
    "fetch": (),
}
