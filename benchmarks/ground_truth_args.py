"""The ground-truth folders every ground-truth benchmark reads: --cascade and --spikefinder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--cascade and --spikefinder: the ground-truth folders.

    Their defaults come from the tests' environment variables.
    """
    parser.add_argument("--cascade", type=Path, default=os.environ.get("CALSPIKE_CASCADE_GT_DIR"))
    parser.add_argument(
        "--spikefinder", type=Path, default=os.environ.get("CALSPIKE_SPIKEFINDER_DIR")
    )


def parse_with_data(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments; a usage error when either ground-truth folder is missing."""
    args = parser.parse_args()
    if args.cascade is None or args.spikefinder is None:
        parser.error(
            "pass --cascade and --spikefinder "
            "(or set CALSPIKE_CASCADE_GT_DIR, CALSPIKE_SPIKEFINDER_DIR)"
        )
    return args
