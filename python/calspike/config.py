"""Every tunable setting, declared once: type, range, default, unit and help.

The CLI builds its options from these declarations, the API validates its
arguments with them, and reports list them, so the three never disagree.
"""

from __future__ import annotations

import argparse
import math
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
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ValueError(f"{self.name} must be in {self.range_text()}, got {value!r}")
        return value

    def range_text(self) -> str:
        low = "-inf" if self.low is None else _number(self.low)
        high = "inf" if self.high is None else _number(self.high)
        return f"[{low}, {high}]"

    def describe(self) -> str:
        """The help line: text, unit, allowed values and default."""
        allowed = ", ".join(self.choices) if self.choices else self.range_text()
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.help}{unit}; allowed: {allowed}; default: {self.default}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


_MAX_SIDE = 2**24

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
        Setting("threads", int, 0, "threads for the C++ kernels; 0 uses all cores", "", 0, 4096),
        Setting("seed", int, 0, "seed of every random choice (simulation, sampling)", "", 0, 2**63 - 1),
    )
}


def check(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate named setting values; returns them converted. Raises ValueError naming the first bad one."""
    return {name: SETTINGS[name].check(value) for name, value in values.items()}


def defaults(names: Iterable[str]) -> dict[str, Any]:
    """Defaults of the named settings."""
    return {name: SETTINGS[name].default for name in names}


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add one `--name` option per named setting, typed, checked and documented from SETTINGS."""
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
            default=setting.default,
            metavar=setting.type.__name__.upper(),
            help=setting.describe(),
        )
