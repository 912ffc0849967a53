"""What every command shares.

Options built from calspike.config, --config files, the usage checks' helpers and one-line
errors.

The dispatch of `calspike COMMAND` and its exit codes are in `calspike.cli.dispatch`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], None]


def add_settings(parser: argparse.ArgumentParser, command: str, *profiles: str) -> None:
    """The command's settings as options (from calspike.config), and --config FILE.toml.

    Options left out stay absent from the namespace, so --config and the profiles can fill them.
    """
    from calspike import config
    from calspike.cli.options import add_arguments

    names = config.COMMANDS[command]
    add_arguments(parser, names, only_given=True, shown_defaults=config.defaults(names, *profiles))
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE.toml",
        help="read settings from a TOML file (name = value); options given here win",
    )
    parser.set_defaults(setting_names=names, profiles=profiles)


def given(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line or in the --config file."""
    return {name: getattr(args, name) for name in args.setting_names if hasattr(args, name)}


def chosen(args: argparse.Namespace, *extra_profiles: str) -> dict[str, Any]:
    """Every setting of the command.

    The ones given, else the profiles' defaults, else the settings' own defaults.
    """
    from calspike import config

    return {**config.defaults(args.setting_names, *args.profiles, *extra_profiles), **given(args)}


def with_config_file(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, args: argparse.Namespace
) -> argparse.Namespace:
    """Parse again with the TOML file's settings as defaults.

    Options given on the command line win over the file.
    """
    from calspike import config

    try:
        from_file = config.read_toml(args.config, args.setting_names)
    except (OSError, ValueError) as error:
        parser.error(
            str(error)
            if not isinstance(error, OSError)
            else f"--config {args.config}: {error.strerror}"
        )
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparsers.choices[args.command].set_defaults(**from_file)
    return parser.parse_args(argv)


def failure(error: BaseException) -> str:
    """One line naming what failed: the file of an OSError, else the error's first line."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, OSError) and error.strerror:  # e.g. "cannot write OUT: No space ..."
        return str(error.strerror)
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def check_resumable_file(path: Path) -> None:
    """UsageError naming `path` when --resume would start from a checkpoint it cannot read.

    Without this, the output check would call a truncated checkpoint one calspike did not write.
    """
    from calspike._io import UsageError
    from calspike.training import load_checkpoint

    try:
        load_checkpoint(path)
    except ValueError as error:
        raise UsageError(f"--resume: {error}; delete it to start again") from None
