"""The `calspike` command.

This module and the package face import nothing but `sys` (loaded before any code runs):
the console script imports them before `main` runs, so a Ctrl-C at any moment of start-up
lands inside `main` and ends in one line, not a traceback.
"""

import sys


def main(argv: "list[str] | None" = None) -> int:
    """Entry point of the `calspike` command: 0 done, 1 data error, 2 usage error, 130 interrupted."""
    try:
        from calspike.cli._common import run_command

        return run_command(argv)
    except KeyboardInterrupt:  # at any moment, start-up included: one line, no traceback
        print("calspike: interrupted", file=sys.stderr)
        return 130
