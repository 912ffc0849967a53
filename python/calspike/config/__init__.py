"""THE settings schema: every option of every command, declared once.

Each with its type, range, default, unit, group and help (`settings`), the profiles (per-command
defaults) and which command takes which settings (`commands`).

The CLI builds its options from these declarations (`calspike.cli.options`), `--config FILE.toml`
is read through them, the Python API validates its arguments with them and the report lists them,
so none of these can disagree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from calspike._inputs import open_input
from calspike.config.commands import (
    COMMANDS,
    INFER_SETTINGS,
    PROFILES,
    TOY_SETTINGS,
    TRAIN_RATE_SETTINGS,
    TRAIN_SETTINGS,
    WINDOW_SETTINGS,
)
from calspike.config.setting import (
    MAX_SIDE,
    MAX_THREADS,
    RATE_RANGE_HZ,
    WARP_RANGE,
    Setting,
    check_rate,
    check_warps,
    shown,
)
from calspike.config.settings import GROUPS, SETTINGS

__all__ = [
    "COMMANDS",
    "GROUPS",
    "INFER_SETTINGS",
    "MAX_SIDE",
    "MAX_THREADS",
    "PROFILES",
    "RATE_RANGE_HZ",
    "SETTINGS",
    "TOY_SETTINGS",
    "TRAIN_RATE_SETTINGS",
    "TRAIN_SETTINGS",
    "WARP_RANGE",
    "WINDOW_SETTINGS",
    "Setting",
    "check",
    "check_rate",
    "check_warps",
    "defaults",
    "read_toml",
    "shown",
]


def read_toml(path: str | os.PathLike[str], allowed: Iterable[str]) -> dict[str, Any]:
    """Settings from a TOML file (top-level `name = value` pairs), checked.

    ValueError naming the file and the key for an unknown or invalid setting.
    """
    import tomllib

    allowed = set(allowed)
    try:
        with open_input(path) as stream:
            values = tomllib.load(stream)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    except RecursionError:  # arrays nested past Python's stack
        raise ValueError(f"{path}: not valid TOML (nested too deeply)") from None
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
    """Validate named setting values; returns them converted.

    Raises ValueError naming the first bad one.
    """
    return {name: SETTINGS[name].check(value) for name, value in values.items()}


def defaults(names: Iterable[str], *profiles: str) -> dict[str, Any]:
    """Defaults of the named settings, with the named profiles laid over them in order."""
    chosen = {name: SETTINGS[name].default for name in names}
    for profile in profiles:
        chosen.update({k: v for k, v in PROFILES[profile].items() if k in chosen})
    return chosen
