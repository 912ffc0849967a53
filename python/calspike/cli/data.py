"""`calspike fetch`: the official SpikeFinder data, downloaded once into the cache."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_commands(commands: Any) -> None:
    fetch = commands.add_parser(
        "fetch", help="download the official SpikeFinder data into the cache"
    )
    fetch.add_argument(
        "--split", choices=("train", "test", "both"), default="both", help="which archive(s)"
    )
    fetch.add_argument("--url", default=None, help="a mirror URL of the archive (with one --split)")
    fetch.add_argument(
        "--cache", type=Path, default=None, help="cache folder (default: ~/.cache/calspike)"
    )
    fetch.set_defaults(handler=_fetch, check=_check)


def _check(args: argparse.Namespace) -> None:
    """Usage errors naming the option, before any download: --url and --cache must work."""
    from calspike._io import UsageError
    from calspike.data.download import archive_name, blocked_cache, check_cache_place

    if args.url is not None and args.split == "both":
        raise UsageError("--url needs --split train or --split test")
    if args.url is not None:
        try:
            archive_name(args.split, args.url)
        except UsageError as error:  # "url must name a .zip file ...": name the option
            raise UsageError(f"--{error}") from None
    blocked = blocked_cache(args.cache)
    if blocked is not None:
        raise UsageError(f"--cache: {blocked} is not a folder; give a folder (or leave it out)")
    if args.cache is not None:
        check_cache_place(Path(args.cache), "--cache")


def _fetch(args: argparse.Namespace) -> None:
    from calspike.data import fetch_spikefinder

    for split in ("train", "test") if args.split == "both" else (args.split,):
        print(f"{split}: {fetch_spikefinder(split, url=args.url, cache=args.cache)}")
