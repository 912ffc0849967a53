"""Every tunable setting, declared once: type, range, default, unit and help.

The CLI builds its options from these declarations, the API validates its
arguments with them, and reports list them, so the three never disagree.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
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

    def check(self, value: Any) -> Any:
        """Return `value` converted to this setting's type; ValueError naming it otherwise."""
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{self.name} must be an integer, got {value!r}")
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
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
                raise ValueError(f"{self.name} must be a comma-separated list of {', '.join(self.items)}, "
                                 f"got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ValueError(f"{self.name} must be in {self.range_text()}, got {value!r}")
        return value

    def range_text(self) -> str:
        low = "-inf" if self.low is None else _number(self.low)
        high = "inf" if self.high is None else _number(self.high)
        return f"[{low}, {high}]"

    def describe(self, default: Any = None) -> str:
        """The help line: text, unit, allowed values and default (this setting's unless given)."""
        allowed = ", ".join(self.choices) if self.choices else self.range_text()
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.help}{unit}; allowed: {allowed}; default: {self.default if default is None else default}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


_MAX_SIDE = 2**24
MAX_THREADS = 1024  # the C++ core refuses more (calspike/threads.hpp); OpenMP dies near 32,768
RATE_RANGE_HZ = (0.1, 10_000.0)  # frame rates calspike accepts, wherever a rate enters


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
        Setting("len_pre", int, 10, "frames in a window before its centre frame", "frames", 1, _MAX_SIDE),
        Setting("len_post", int, 10, "frames in a window from its centre frame on", "frames", 1, _MAX_SIDE),
        Setting("skip", int, 10, "step between the centre frames of consecutive windows", "frames", 1, 2**62),
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
        Setting("threads", int, 0, "threads for the C++ kernels; 0 uses all cores", "", 0, MAX_THREADS),
        Setting("seed", int, 0, "seed of every random choice (simulation, splits, initialisation, batches)",
                "", 0, 2**63 - 1),
        Setting("train_skip", int, 1, "step between the centre frames of training windows (held-out windows"
                " use skip)", "frames", 1, 2**62),
        Setting("features", str, "raw,delta", "comma-separated feature channels of the classifier: raw, delta,"
                " quad, delta_quad", items=("raw", "delta", "quad", "delta_quad")),
        Setting("epochs", int, 15, "most passes over the classifier's training windows", "epochs", 1, 100_000),
        Setting("vae_epochs", int, 15, "most passes over the calcium VAE's training windows", "epochs", 1,
                100_000),
        Setting("batch_size", int, 256, "windows per optimiser step", "windows", 1, 2**24),
        Setting("lr", float, 2e-3, "AdamW learning rate (annealed by a cosine schedule)", "", 1e-8, 10.0),
        Setting("patience", int, 4, "epochs without a better validation loss before stopping", "epochs", 1,
                100_000),
        Setting("hidden", int, 64, "LSTM units of the classifier and the VAE", "units", 1, 4096),
        Setting("latent", int, 256, "latent dimensions of the calcium VAE", "", 1, 4096),
        Setting("beta", float, 1e-4, "weight of the KL term of the calcium VAE's loss", "", 0.0, 1e6),
        Setting("max_windows", int, 200_000, "most training windows per model (drawn balanced)", "windows", 2,
                2**40),
        Setting("device", str, "auto", "auto (CUDA when available), cpu, cuda or cuda:i",
                pattern=r"auto|cpu|cuda(:\d{1,3})?"),
    )
}

TRAIN_SETTINGS = ("train_skip", "features", "epochs", "vae_epochs", "batch_size", "lr", "patience", "hidden",
                  "latent", "beta", "max_windows", "device")


def read_toml(path: str | os.PathLike[str], allowed: Iterable[str]) -> dict[str, Any]:
    """Settings from a TOML file (top-level `name = value` pairs), checked.

    ValueError naming the file and the key for an unknown or invalid setting.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

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


def defaults(names: Iterable[str]) -> dict[str, Any]:
    """Defaults of the named settings."""
    return {name: SETTINGS[name].default for name in names}


def add_arguments(
    parser: argparse.ArgumentParser, names: Iterable[str], *, only_given: bool = False,
    shown_defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add one `--name` option per named setting, typed, checked and documented from SETTINGS.

    With `only_given`, options left out are absent from the parsed namespace (so a caller
    can layer its own defaults under them); otherwise they take the setting's default.
    `shown_defaults` replaces the defaults that the help shows, for such callers.
    """
    for name in names:
        setting = SETTINGS[name]

        def parse(text: str, setting: Setting = setting) -> Any:
            try:
                return setting.check(setting.type(text))
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None

        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=parse,
            default=argparse.SUPPRESS if only_given else setting.default,
            metavar=setting.type.__name__.upper(),
            help=setting.describe((shown_defaults or {}).get(name, setting.default)),
        )
