"""The settings schema rendered as argparse options.

One typed, checked, documented `--name` per setting (`add_arguments`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from calspike.config import SETTINGS, Setting


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
