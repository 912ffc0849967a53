"""THE settings schema: every option of every command, declared once.

Each with its type, range, default, unit, group and help; the profiles (per-command
defaults) and which command takes which settings.

The CLI builds its options from these declarations, `--config FILE.toml` is read through
them, the Python API validates its arguments with them and the report lists them, so
none of these can disagree. No argparse here beyond `add_arguments`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Setting:
    """One tunable setting. `low`/`high` bound numbers (inclusive); `choices` bound strings."""

    name: str
    type: type
    default: Any
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a regular expression a string value must match in full
    items: tuple[str, ...] = ()  # a comma-separated list of these
    group: str = ""
    optional: bool = False  # None is allowed (e.g. a rate that files may carry instead)
    checker: Callable[[Any, str], Any] | None = None  # replaces the type and range checks

    def check(self, value: Any) -> Any:
        """Return `value` converted to this setting's type; ValueError naming it otherwise."""
        if value is None and self.optional:
            return None
        if self.checker is not None:
            return self.checker(value, self.name)
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{self.name} must be true or false, got {value!r}")
            return bool(value)
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{self.name} must be an integer, got {value!r}")
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise ValueError(f"{self.name} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.name} must be finite, got {value!r}")
        elif self.type is str and not isinstance(value, str):
            raise ValueError(f"{self.name} must be a string, got {value!r}")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValueError(f"{self.name} must be {self.help.split(';')[0]}, got {value!r}")
        if self.items:
            parts = [part.strip() for part in value.split(",")]
            if not value.strip() or any(part not in self.items for part in parts):
                raise ValueError(
                    f"{self.name} must be a comma-separated list of {', '.join(self.items)}, "
                    f"got {value!r}"
                )
        if self.choices and value not in self.choices:
            raise ValueError(
                f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
            )
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ValueError(f"{self.name} must be in {self.range_text()}, got {value!r}")
        return value

    def range_text(self) -> str:
        """The allowed range as text, e.g. "[0, inf]"."""
        low = "-inf" if self.low is None else _number(self.low)
        high = "inf" if self.high is None else _number(self.high)
        return f"[{low}, {high}]"

    def describe(self, default: Any = None) -> str:
        """The help line: text, unit, allowed values and default (this setting's unless given)."""
        if self.type is bool:
            return f"{self.help}; default: {'on' if self.default else 'off'}"
        if self.choices:
            allowed = ", ".join(self.choices)
        elif self.name == "rate":
            allowed = f"[{_number(RATE_RANGE_HZ[0])}, {_number(RATE_RANGE_HZ[1])}]"
        elif self.name == "warps":
            allowed = f"factors in [{_number(WARP_RANGE[0])}, {_number(WARP_RANGE[1])}], or none"
        elif self.items or self.pattern:
            allowed = self.help.split(": ")[-1] if self.items else self.help
        else:
            allowed = self.range_text()
        unit = f" ({self.unit})" if self.unit else ""
        shown = self.default if default is None else default
        return (
            f"{self.help}{unit}; allowed: {allowed}; default: {'none' if shown is None else shown}"
        )


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


_MAX_SIDE = 2**24
MAX_THREADS = 1024  # the C++ core refuses more (calspike/threads.hpp); OpenMP dies near 32,768
RATE_RANGE_HZ = (0.1, 10_000.0)  # frame rates calspike accepts, wherever a rate enters


WARP_RANGE = (0.1, 10.0)  # time-stretch factors of the rate model's training data


def check_warps(value: Any, name: str = "warps") -> str:
    """`value`: comma-separated time-stretch factors in WARP_RANGE, or "" for none; ValueError naming `name`."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be comma-separated numbers, got {value!r}")
    parts = [part.strip() for part in value.split(",")] if value.strip() else []
    try:
        factors = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {value!r}") from None
    if any(not WARP_RANGE[0] <= w <= WARP_RANGE[1] for w in factors):
        raise ValueError(
            f"{name} must lie in [{_number(WARP_RANGE[0])}, {_number(WARP_RANGE[1])}], got {value!r}"
        )
    return ",".join(parts)


def check_rate(value: Any, name: str = "rate") -> float:
    """`value` as a frame rate in Hz within RATE_RANGE_HZ; ValueError naming `name` otherwise."""
    low, high = RATE_RANGE_HZ
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a frame rate in Hz, got {value!r}")
    rate = float(value)
    if not low <= rate <= high:  # NaN fails too
        raise ValueError(f"{name} must be a frame rate in [{low:g}, {high:g}] Hz, got {value!r}")
    return rate


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "len_pre", int, 10, "frames in a window before its centre frame", "frames", 1, _MAX_SIDE
        ),
        Setting(
            "len_post",
            int,
            10,
            "frames in a window from its centre frame on",
            "frames",
            1,
            _MAX_SIDE,
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
            _MAX_SIDE,
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
            " many times finer than its output, so where in a frame a fast indicator rises still counts (the"
            " shipped model, trained on 16 datasets, uses 4; trained on two, 4 generalised worse than 1)",
            "frames",
            1,
            16,
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
            " is proportional to its size ** (1 - balance); 0 keeps the data's proportions, 1 makes them equal",
            "",
            0.0,
            1.0,
        ),
        Setting(
            "warps",
            str,
            "",
            "time-stretch factors, comma-separated: every training neuron is also read as if"
            " recorded at w x its rate (kinetics no indicator in the data has); e.g. 0.67,1.5",
            checker=lambda value, name: check_warps(value, name),
        ),
        Setting(
            "samples",
            int,
            0,
            "training chunks drawn (with replacement; each epoch passes over them), 0: as many as there are",
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
    )
}

_GROUPS = {
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
    "toy VAE": ("toy_epochs", "toy_batch_size", "toy_lr", "toy_beta", "toy_loss"),
    "spike-rate model": ("channels", "members", "subframes", "validation", "simulated"),
    "inference": ("method", "p", "chunk_neurons", "neuropil", "baseline", "all_rois"),
    "data": ("rate",),
    "machine": ("threads", "device", "seed"),
}
for _group, _names in _GROUPS.items():
    for _name in _names:
        object.__setattr__(SETTINGS[_name], "group", _group)

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
    # `run --quick --tutorial`: the tutorial's settings with fewer VAE epochs and a smaller latent space
    "quick-tutorial": {"vae_epochs": 30, "latent": 64},
    "train-rate": {"epochs": 30, "batch_size": 64, "lr": 3e-3, "patience": 6},
    "score": {"rate": 100.0},
}

WINDOW_SETTINGS = _GROUPS["windows"]
TRAIN_SETTINGS = (
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
    "device",
)
TOY_SETTINGS = _GROUPS["toy VAE"]
INFER_SETTINGS = (
    "method",
    "p",
    "rate",
    "chunk_neurons",
    "neuropil",
    "baseline",
    "all_rois",
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


def read_toml(path: str | os.PathLike[str], allowed: Iterable[str]) -> dict[str, Any]:
    """Settings from a TOML file (top-level `name = value` pairs), checked.

    ValueError naming the file and the key for an unknown or invalid setting.
    """
    import tomllib

    allowed = set(allowed)
    try:
        with open(path, "rb") as stream:
            values = tomllib.load(stream)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    settings: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in allowed:
            raise ValueError(f"{path}: unknown setting {key!r} for this command")
        if name in spelled:
            raise ValueError(f"{path}: {name} is set twice (as {spelled[name]!r} and {key!r})")
        spelled[name] = key
        try:
            settings[name] = SETTINGS[name].check(value)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return settings


def check(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate named setting values; returns them converted. Raises ValueError naming the first bad one."""
    return {name: SETTINGS[name].check(value) for name, value in values.items()}


def defaults(names: Iterable[str], *profiles: str) -> dict[str, Any]:
    """Defaults of the named settings, with the named profiles laid over them in order."""
    chosen = {name: SETTINGS[name].default for name in names}
    for profile in profiles:
        chosen.update({k: v for k, v in PROFILES[profile].items() if k in chosen})
    return chosen


def add_arguments(
    parser: argparse.ArgumentParser,
    names: Iterable[str],
    *,
    only_given: bool = False,
    shown_defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add one `--name` option per named setting, typed, checked and documented from SETTINGS.

    With `only_given`, options left out are absent from the parsed namespace (so a caller
    can layer its own defaults under them); otherwise they take the setting's default.
    `shown_defaults` replaces the defaults that the help shows, for such callers.
    """
    for name in names:
        setting = SETTINGS[name]
        option = "--" + name.replace("_", "-")
        shown = (shown_defaults or {}).get(name, setting.default)
        if setting.type is bool:
            parser.add_argument(
                option,
                dest=name,
                action="store_true",
                default=argparse.SUPPRESS if only_given else setting.default,
                help=setting.describe(shown),
            )
            continue

        def parse(text: str, setting: Setting = setting, option: str = option) -> Any:
            try:
                value = setting.type(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{option} must be {setting.type.__name__}, got {text!r}"
                ) from None
            try:
                return setting.check(value)
            except ValueError as error:  # the message names the setting; name the option instead
                message = str(error)
                raise argparse.ArgumentTypeError(
                    option + message[len(setting.name) :]
                    if message.startswith(setting.name)
                    else message
                ) from None

        parser.add_argument(
            option,
            dest=name,
            type=parse,
            default=argparse.SUPPRESS if only_given else setting.default,
            metavar=setting.type.__name__.upper(),
            help=setting.describe(shown),
        )
