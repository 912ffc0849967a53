"""The `calspike` command's dispatch: parse, check, run, and turn errors into exit codes.

Exit codes: 0 success, 2 usage errors (found before any data is read), 1 data or runtime
errors (one line; --debug for a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from calspike.cli._common import failure, with_config_file


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line.

    argparse prints the whole usage first: 5 to 13 lines for a command with many options.
    """

    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line naming the error and where the options are listed."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def calspike_parser() -> argparse.ArgumentParser:
    """The `calspike` parser with every command's options."""
    from calspike._version import __version__
    from calspike.cli import data, spikes, tutorial

    top = OneLineParser(
        prog="calspike",
        description="Deep learning on calcium imaging: windows, models and spike inference.",
    )
    top.add_argument("--version", action="version", version=f"calspike {__version__}")
    top.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (tutorial, spikes, data):
        group.add_commands(commands)
    return top


def run_command(argv: Sequence[str] | None, interrupts: list[int]) -> int:
    """Parse `argv`, check it, run the command; the exit code (0 done, 1 data error, 2 usage).

    `interrupts` holds the SIGINTs `calspike.cli.main` received: after one, the command stops.
    Warnings print as one line each ("calspike: warning: ..."), not as a source path and the
    line of calspike's code that raised them.
    """
    import warnings

    previous = warnings.formatwarning
    warnings.formatwarning = _one_line
    try:
        return _run_command(argv, interrupts)
    finally:
        warnings.formatwarning = previous


def _one_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"calspike: warning: {message}\n"


def _run_command(argv: Sequence[str] | None, interrupts: list[int]) -> int:
    from calspike._io import UsageError
    from calspike._optional import MissingExtra
    from calspike.errors import DataError

    parser = calspike_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is not None:
        args = with_config_file(parser, argv, args)
    try:  # each setting was checked as it was parsed (options and --config alike)
        args.check(args)
    except DataError as error:  # a bad input found before the work: still a data error
        _raise_if_interrupted(interrupts)
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 1
    except (
        UsageError,
        ValueError,
        ImportError,
    ) as error:  # ImportError: an optional extra is missing
        _raise_if_interrupted(interrupts)
        parser.error(failure(error))
    except OSError as error:  # an input that is missing or unreadable: a data error
        _raise_if_interrupted(interrupts)
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 1
    _raise_if_interrupted(interrupts)  # one that start-up lost
    try:
        args.handler(args)
    except (
        UsageError,
        MissingExtra,
    ) as error:  # found late (an output changed; an extra is missing)
        _raise_if_interrupted(interrupts)
        if args.debug:
            raise
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # one line for users; --debug shows where
        _raise_if_interrupted(interrupts)
        if args.debug:
            raise
        print(f"calspike: error: {failure(error)}", file=sys.stderr)
        return 1
    return 0


def _raise_if_interrupted(interrupts: list[int]) -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came while the command ran (`calspike.cli.main`).

    Start-up may have lost it, or a library turned it into another error: it still ends as one.
    """
    if interrupts:
        raise KeyboardInterrupt
