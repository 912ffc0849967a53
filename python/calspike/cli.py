"""The `calspike` command: argument parsing only; the work is done by the package's functions.

Exit codes: 0 success, 2 usage errors, 1 data or runtime errors (one line; --debug for a traceback).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from calspike import config


def _parser() -> argparse.ArgumentParser:
    from calspike import __version__

    parser = argparse.ArgumentParser(
        prog="calspike", description="Deep learning on calcium imaging: windows, models and spike inference."
    )
    parser.add_argument("--version", action="version", version=f"calspike {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="partition recordings and print a summary table",
        description="Load recordings (the built-in simulated data by default), cut them into "
        "labelled windows and print a summary per recording.",
    )
    run.add_argument("--data", type=Path, default=None,
                     help="a SpikeFinder folder or file, or a .npy/.npz/.csv array (default: simulated data)")
    run.add_argument("--fetch", action="store_true", help="download and use the official SpikeFinder training data")
    run.add_argument("--rate", type=float, default=None, help="frame rate in Hz, for array files that lack one")
    config.add_arguments(run, ("len_pre", "len_post", "skip", "spike_n", "normalize", "threads", "seed"))

    infer = commands.add_parser(
        "infer", help="infer spikes for every frame of every neuron",
        description="Read calcium traces, infer spikes per frame and write them in the input's layout "
        "(SpikeFinder CSV for CSV input, .npy otherwise) with a JSON sidecar of the settings.",
    )
    infer.add_argument("input", type=Path, help="a SpikeFinder folder or N.*.calcium.csv, or a .npy/.npz/.csv array")
    infer.add_argument("-o", "--output", type=Path, required=True,
                       help="a folder (for a folder input), a .csv (for a CSV input) or a .npy path")
    infer.add_argument("--method", choices=("oasis",), default="oasis", help="inference method (default: oasis)")
    infer.add_argument("--p", type=int, choices=(1, 2), default=1, help="OASIS's autoregressive order (default: 1)")
    infer.add_argument("--rate", type=float, default=None, help="frame rate in Hz, for array files that lack one")
    config.add_arguments(infer, ("threads",))

    score = commands.add_parser(
        "score", help="score predictions against ground truth, the SpikeFinder way",
        description="Per dataset and overall: the official SpikeFinder correlation (NaN frames dropped, "
        "4 bins summed, Pearson r per neuron, mean over neurons), Spearman r and ROC AUC.",
    )
    score.add_argument("truth", type=Path, help="ground truth: a folder of N.*spikes.csv, a CSV or a .npy")
    score.add_argument("predictions", type=Path, nargs="+", help="prediction folders or files, one row set each")
    score.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")

    fetch = commands.add_parser("fetch", help="download the official SpikeFinder data into the cache")
    fetch.add_argument("--split", choices=("train", "test", "both"), default="both", help="which archive(s)")
    fetch.add_argument("--url", default=None, help="a mirror URL of the archive (with one --split)")
    fetch.add_argument("--cache", type=Path, default=None, help="cache folder (default: ~/.cache/calspike)")
    return parser


def _run(args: argparse.Namespace) -> None:
    from calspike.data import fetch_spikefinder
    from calspike.report import format_table, run

    data = fetch_spikefinder("train") if args.fetch else args.data
    source = "the built-in simulated recordings" if data is None else str(data)
    print(f"calspike run: partitioning {source}")
    start = time.perf_counter()
    rows = run(
        data, rate=args.rate, seed=args.seed, threads=args.threads, len_pre=args.len_pre,
        len_post=args.len_post, skip=args.skip, spike_n=args.spike_n, normalize=args.normalize,
    )
    print(format_table(rows))
    print(f"done in {time.perf_counter() - start:.2f} s")


def _fetch(args: argparse.Namespace) -> None:
    from calspike.data import fetch_spikefinder

    splits = ("train", "test") if args.split == "both" else (args.split,)
    if args.url is not None and len(splits) > 1:
        raise ValueError("--url needs --split train or --split test")
    for split in splits:
        folder = fetch_spikefinder(split, url=args.url, cache=args.cache)
        print(f"{split}: {folder}")


def _infer(args: argparse.Namespace) -> None:
    from calspike.infer import infer

    start = time.perf_counter()
    written = infer(args.input, args.output, method=args.method, rate=args.rate, p=args.p, threads=args.threads)
    for path in written:
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.2f} s")


def _score(args: argparse.Namespace) -> None:
    import json

    from calspike.data._atomic import atomic_path
    from calspike.score import format_rows, rows_as_dicts, score_files

    rows = score_files(args.truth, list(args.predictions))
    print(format_rows(rows))
    if args.json is not None:
        with atomic_path(args.json) as temporary:
            temporary.write_text(json.dumps(rows_as_dicts(rows), indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `calspike` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        {"run": _run, "fetch": _fetch, "infer": _infer, "score": _score}[args.command](args)
    except KeyboardInterrupt:
        print("calspike: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for users; --debug shows where
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"calspike: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
