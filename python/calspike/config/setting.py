"""One setting's declaration and the checks that several settings share.

`Setting` holds a setting's type, range, unit and help; `check_rate` and `check_warps` check frame
rates and time warps wherever they enter.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 200
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = 10


def shown(value: Any) -> str:
    """`value` as an error message shows it: repr, long strings and containers shortened.

    A setting read from a file may hold a million items; the message must stay one short line.
    """
    return _SHOWN.repr(value)


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
                raise ValueError(f"{self.name} must be true or false, got {shown(value)}")
            return bool(value)
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{self.name} must be an integer, got {shown(value)}")
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise ValueError(f"{self.name} must be a number, got {shown(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.name} must be finite, got {shown(value)}")
        elif self.type is str and not isinstance(value, str):
            raise ValueError(f"{self.name} must be a string, got {shown(value)}")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValueError(f"{self.name} must be {self.help.split(';')[0]}, got {shown(value)}")
        if self.items:
            parts = [part.strip() for part in value.split(",")]
            if not value.strip() or any(part not in self.items for part in parts):
                raise ValueError(
                    f"{self.name} must be a comma-separated list of {', '.join(self.items)}, "
                    f"got {shown(value)}"
                )
        if self.choices and value not in self.choices:
            raise ValueError(
                f"{self.name} must be one of {', '.join(map(repr, self.choices))}, "
                f"got {shown(value)}"
            )
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ValueError(f"{self.name} must be in {self.range_text()}, got {shown(value)}")
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


MAX_SIDE = 2**24  # the most frames on either side of a window centre
MAX_THREADS = 1024  # the C++ core refuses more (calspike/threads.hpp); OpenMP dies near 32,768
RATE_RANGE_HZ = (0.1, 10_000.0)  # frame rates calspike accepts, wherever a rate enters


WARP_RANGE = (0.1, 10.0)  # time-stretch factors of the rate model's training data


def check_warps(value: Any, name: str = "warps") -> str:
    """`value` as comma-separated time-stretch factors in WARP_RANGE, or "" for none.

    ValueError naming `name` otherwise.
    """
    if not isinstance(value, str):
        raise ValueError(f"{name} must be comma-separated numbers, got {shown(value)}")
    parts = [part.strip() for part in value.split(",")] if value.strip() else []
    try:
        factors = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {shown(value)}") from None
    if any(not WARP_RANGE[0] <= w <= WARP_RANGE[1] for w in factors):
        raise ValueError(
            f"{name} must lie in [{_number(WARP_RANGE[0])}, {_number(WARP_RANGE[1])}], "
            f"got {shown(value)}"
        )
    return ",".join(parts)


def check_rate(value: Any, name: str = "rate") -> float:
    """`value` as a frame rate in Hz within RATE_RANGE_HZ; ValueError naming `name` otherwise."""
    low, high = RATE_RANGE_HZ
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a frame rate in Hz, got {shown(value)}")
    rate = float(value)
    if not low <= rate <= high:  # NaN fails too
        raise ValueError(
            f"{name} must be a frame rate in [{low:g}, {high:g}] Hz, got {shown(value)}"
        )
    return rate
