"""Every setting of every command, declared once.

`SETTINGS` maps each name to its `Setting`; `GROUPS` orders them into the groups that the help
and the report show.
"""

from __future__ import annotations

from calspike.config.model_settings import MODEL_SETTINGS
from calspike.config.setting import (
    MAX_SIDE,
    MAX_THREADS,
    RATE_RANGE_HZ,
    Setting,
    check_rate,
    check_warps,
)

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "len_pre", int, 10, "frames in a window before its centre frame", "frames", 1, MAX_SIDE
        ),
        Setting(
            "len_post",
            int,
            10,
            "frames in a window from its centre frame on",
            "frames",
            1,
            MAX_SIDE,
        ),
        Setting(
            "skip",
            int,
            10,
            "step between the centre frames of consecutive windows",
            "frames",
            1,
            2**62,
        ),
        Setting(
            "spike_n",
            int,
            2,
            "a window is a spike window when frames i-spike_n .. i+spike_n-1 hold a spike;"
            " at most min(len_pre, len_post)",
            "frames",
            1,
            MAX_SIDE,
        ),
        Setting(
            "normalize",
            str,
            "window",
            "window: z-score each window (the tutorial's); neuron: median/MAD of the whole"
            " trace, keeps amplitudes; none: raw values",
            choices=("window", "neuron", "none"),
        ),
        Setting(
            "threads", int, 0, "threads for the C++ kernels; 0 uses all cores", "", 0, MAX_THREADS
        ),
        Setting(
            "seed",
            int,
            0,
            "seed of every random choice (simulation, splits, initialisation, batches)",
            "",
            0,
            2**63 - 1,
        ),
        Setting(
            "train_skip",
            int,
            1,
            "step between the centre frames of training windows (held-out windows use skip)",
            "frames",
            1,
            2**62,
        ),
        Setting(
            "features",
            str,
            "raw,delta,quad",
            "comma-separated feature channels of the classifier: raw, delta,"
            " quad, delta_quad (tutorial_delta with --tutorial only)",
            items=("raw", "delta", "quad", "delta_quad", "tutorial_delta"),
        ),
        Setting(
            "vae_features",
            str,
            "raw,delta,quad",
            "comma-separated feature channels of the calcium VAEs' encoders,"
            " raw first (the channel they reconstruct): raw, delta, quad, delta_quad",
            items=("raw", "delta", "quad", "delta_quad", "tutorial_delta"),
        ),
        Setting(
            "epochs",
            int,
            15,
            "most passes over the training data (train: the classifier's windows; "
            "train-rate: its chunks)",
            "epochs",
            1,
            100_000,
        ),
        Setting(
            "vae_epochs",
            int,
            15,
            "most passes over the calcium VAE's training windows",
            "epochs",
            1,
            100_000,
        ),
        Setting("batch_size", int, 256, "windows per optimiser step", "windows", 1, 2**24),
        Setting(
            "lr", float, 2e-3, "AdamW learning rate (annealed by a cosine schedule)", "", 1e-8, 10.0
        ),
        Setting(
            "patience",
            int,
            4,
            "epochs without a better validation loss before stopping",
            "epochs",
            1,
            100_000,
        ),
        Setting("weight_decay", float, 0.0, "AdamW weight decay (calspike.fit)", "", 0.0, 10.0),
        Setting(
            "clip",
            float,
            1.0,
            "largest gradient norm, none: no clipping (calspike.fit)",
            "",
            1e-8,
            1e6,
            optional=True,
        ),
        Setting(
            "schedule",
            str,
            "cosine",
            "learning-rate schedule (calspike.fit): cosine anneals to 0 over the epochs, plateau"
            " halves it after 2 epochs without a better validation loss, constant",
            choices=("cosine", "plateau", "constant"),
        ),
        Setting("hidden", int, 64, "LSTM units of the classifier and the VAE", "units", 1, 4096),
        Setting("latent", int, 256, "latent dimensions of the calcium VAE", "", 1, 4096),
        Setting(
            "beta", float, 1e-4, "weight of the KL term of the calcium VAE's loss", "", 0.0, 1e6
        ),
        Setting(
            "conditional_beta",
            float,
            0.1,
            "weight of the KL term of the conditional calcium VAE's loss (draws"
            " from its prior look like real windows only when it is strong)",
            "",
            0.0,
            1e6,
        ),
        Setting(
            "max_windows",
            int,
            200_000,
            "most training windows of the classifier (drawn balanced)",
            "windows",
            2,
            2**40,
        ),
        Setting(
            "vae_windows",
            int,
            0,
            "most training windows of the calcium VAEs (drawn balanced); 0: max_windows",
            "windows",
            0,
            2**40,
        ),
        Setting(
            "device",
            str,
            "auto",
            "auto (CUDA when available), cpu, cuda or cuda:i",
            pattern=r"auto|cpu|cuda(:\d{1,3})?",
        ),
        # data
        Setting(
            "rate",
            float,
            None,
            "frame rate of files that do not store one",
            "Hz",
            RATE_RANGE_HZ[0],
            RATE_RANGE_HZ[1],
            optional=True,
            checker=lambda value, name: check_rate(value, name),
        ),
        # the toy VAE of the tutorial (one-hot digits)
        Setting(
            "toy_epochs",
            int,
            10,
            "passes of the toy VAE over its 10,000 one-hot digits",
            "epochs",
            1,
            100_000,
        ),
        Setting(
            "toy_batch_size",
            int,
            32,
            "digits per optimiser step of the toy VAE",
            "digits",
            1,
            2**24,
        ),
        Setting(
            "toy_lr", float, 1e-3, "the toy VAE's Adam learning rate (constant)", "", 1e-8, 10.0
        ),
        Setting(
            "toy_beta", float, 1e-2, "weight of the KL term of the toy VAE's loss", "", 0.0, 1e6
        ),
        Setting(
            "toy_loss",
            str,
            "squared_error",
            "the toy VAE's reconstruction error: squared_error (the tutorial's) or cross_entropy",
            choices=("squared_error", "cross_entropy"),
        ),
        # the spike-rate model's training
        Setting(
            "validation",
            float,
            0.15,
            "fraction of neurons held out for early stopping (0: none)",
            "",
            0.0,
            0.95,
        ),
        Setting("channels", int, 32, "convolution channels of the spike-rate model", "", 1, 1024),
        Setting(
            "members",
            int,
            1,
            "networks in the spike-rate model: an ensemble of this many, initialised"
            " apart, predicting their mean (training and inference cost this many times more)",
            "",
            1,
            64,
        ),
        Setting(
            "subframes",
            int,
            1,
            "input frames per frame of the spike-rate model: its input is sampled this"
            " many times finer than its output, so where in a frame a fast indicator rises"
            " still counts (the shipped model, trained on 16 datasets, uses 4; trained on"
            " two, 4 generalised worse than 1)",
            "frames",
            1,
            16,
        ),
        Setting(
            "dff_scale",
            bool,
            False,
            "the spike-rate model also reads each trace's robust spread in dF/F, so that"
            " its counts can follow the size of the transients (its inputs must then be dF/F"
            " as fractions: 0.1 for 10 percent; the shipped model does not: it gained nothing"
            " in cross-validation)",
        ),
        Setting(
            "simulated",
            int,
            0,
            "simulated neurons per indicator added to the training set",
            "neurons",
            0,
            100_000,
        ),
        Setting(
            "balance",
            float,
            0.5,
            "evens out the datasets: dataset d's share of the training chunks"
            " is proportional to its size ** (1 - balance); 0 keeps the data's proportions,"
            " 1 makes them equal",
            "",
            0.0,
            1.0,
        ),
        Setting(
            "warps",
            str,
            "",
            "time-stretch factors, comma-separated: every training neuron is also read as if"
            " recorded at w x its rate (other kinetics than the data's); e.g. 0.5,0.67,1.5,2,3",
            checker=lambda value, name: check_warps(value, name),
        ),
        Setting(
            "samples",
            int,
            0,
            "training chunks drawn (with replacement; each epoch passes over them),"
            " 0: as many as there are",
            "chunks",
            0,
            2**31,
        ),
        # inference
        Setting(
            "method",
            str,
            "model",
            "model: the spike-rate model (expected spikes per frame); oasis: OASIS deconvolution",
            choices=("model", "oasis"),
        ),
        Setting("p", int, 1, "OASIS's autoregressive order", "", 1, 2),
        Setting(
            "chunk_neurons",
            int,
            256,
            "most neurons processed at once (fewer for long traces); bounds memory",
            "neurons",
            1,
            2**31,
        ),
        Setting(
            "neuropil", float, 0.7, "suite2p: F - neuropil * Fneu (0 turns it off)", "", 0.0, 2.0
        ),
        Setting(
            "baseline",
            str,
            "running-percentile",
            "suite2p: dF/F against the 8th percentile over 60 s, or none",
            choices=("running-percentile", "none"),
        ),
        Setting("all_rois", bool, False, "suite2p: also infer the ROIs that iscell.npy rejects"),
        Setting(
            "workers",
            int,
            None,
            "run on a local Dask cluster of this many worker processes (also at most 4 per"
            " core and 1 per GiB of this machine), with the result of one process; .npy, .zarr"
            " and HDF5 inputs; needs calspike[dask]",
            "",
            1,
            1024,
            optional=True,
        ),
        # from Python only: infer_spike_rates, deconvolve
        Setting("tile", int, 4096, "model frames per tile of the rate model's input", "", 1, 2**31),
        Setting("s_min", float, 0.0, "OASIS's least spike size (frames t >= 1)", "", 0.0),
        Setting("baseline_percentile", float, 15.0, "OASIS's baseline percentile", "%", 0.0, 100.0),
        Setting("fudge", float, 0.98, "factor on OASIS's estimated AR roots", "", 1e-8, 1.0),
    )
}

SETTINGS.update({setting.name: setting for setting in MODEL_SETTINGS})

GROUPS = {
    "windows": ("len_pre", "len_post", "skip", "spike_n", "normalize"),
    "tutorial models": (
        "train_skip",
        "features",
        "vae_features",
        "epochs",
        "vae_epochs",
        "batch_size",
        "lr",
        "patience",
        "hidden",
        "latent",
        "beta",
        "conditional_beta",
        "max_windows",
        "vae_windows",
    ),
    "fit (Python API)": ("weight_decay", "clip", "schedule"),
    "toy VAE": ("toy_epochs", "toy_batch_size", "toy_lr", "toy_beta", "toy_loss"),
    "spike-rate model": (
        "channels",
        "members",
        "subframes",
        "dff_scale",
        "validation",
        "simulated",
    ),
    "inference": ("method", "p", "chunk_neurons", "neuropil", "baseline", "all_rois", "workers"),
    "inference (Python API)": ("tile", "s_min", "baseline_percentile", "fudge"),
    "data": ("rate",),
    "machine": ("threads", "device", "seed"),
    "models (Python API, checkpoints)": tuple(setting.name for setting in MODEL_SETTINGS),
}
for _group, _names in GROUPS.items():
    for _name in _names:
        object.__setattr__(SETTINGS[_name], "group", _group)
