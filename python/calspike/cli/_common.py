"""What every command shares, and the dispatch of `calspike COMMAND`.

Options built from calspike.config, --config files, the usage checks' helpers and one-line
errors.

Exit codes: 0 success, 2 usage errors (found before any data is read), 1 data or runtime
errors (one line; --debug for a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], None]


def add_settings(parser: argparse.ArgumentParser, command: str, *profiles: str) -> None:
    """The command's settings as options (from calspike.config), and --config FILE.toml.

    Options left out stay absent from the namespace, so --config and the profiles can fill them.
    """
    from calspike import config

    names = config.COMMANDS[command]
    config.add_arguments(
        parser, names, only_given=True, shown_defaults=config.defaults(names, *profiles)
    )
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
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _parser() -> argparse.ArgumentParser:
    from calspike._version import __version__
    from calspike.cli import data, spikes, tutorial

    parser = argparse.ArgumentParser(
        prog="calspike",
        description="Deep learning on calcium imaging: windows, models and spike inference.",
    )
    parser.add_argument("--version", action="version", version=f"calspike {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (tutorial, spikes, data):
        group.add_commands(commands)
    return parser


def run_command(argv: Sequence[str] | None) -> int:
    """Parse `argv`, check it, run the command; the exit code (0 done, 1 data error, 2 usage)."""
    from calspike._io import UsageError
    from calspike._optional import MissingExtra

    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is not None:
        args = with_config_file(parser, argv, args)
    try:  # each setting was checked as it was parsed (options and --config alike)
        args.check(args)
    except (
        UsageError,
        ValueError,
        ImportError,
    ) as error:  # ImportError: an optional extra is missing
        _raise_if_interrupted()
        parser.error(failure(error))
    except OSError as error:  # an input that is missing or unreadable: a data error
        _raise_if_interrupted()
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 1
    _raise_if_interrupted()  # one that start-up lost
    try:
        args.handler(args)
    except (
        UsageError,
        MissingExtra,
    ) as error:  # found late (an output changed; an extra is missing)
        _raise_if_interrupted()
        if args.debug:
            raise
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # one line for users; --debug shows where
        _raise_if_interrupted()
        if args.debug:
            raise
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 1
    return 0


def _raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came while the command ran (`calspike.cli.main`).

    Start-up may have lost it, or a library turned it into another error: it still ends as one.
    """
    from calspike.cli import INTERRUPTS

    if INTERRUPTS:
        raise KeyboardInterrupt
