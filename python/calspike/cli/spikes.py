"""The inference commands: infer, train-rate and score.

infer: spikes for every frame of every neuron; train-rate: the spike-rate model on ground
truth; score: predictions against ground truth.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calspike.cli._common import add_settings, check_resumable_file, chosen, given

if TYPE_CHECKING:
    from calspike.data.recording import Recording


def add_commands(commands: Any) -> None:
    _add_infer(commands)
    _add_train_rate(commands)
    _add_score(commands)


def _add_infer(commands: Any) -> None:
    infer = commands.add_parser(
        "infer",
        help="infer spikes for every frame of every neuron",
        description="Read calcium traces at any frame rate (NaN frames are dropped frames), infer "
        "expected spikes per frame with the spike-rate model (or OASIS) and write them in the "
        "input's layout (SpikeFinder CSV for CSV input, .npy otherwise) with a JSON sidecar of "
        "the settings, the model, per-neuron noise levels and the files' SHA-256.",
    )
    infer.add_argument(
        "input",
        type=Path,
        help="a SpikeFinder folder or N.*.calcium.csv, a .npy/.npz/.csv array (neurons x frames), "
        "a .zarr array or an HDF5 dataset FILE.h5:/PATH (neurons x frames, read a chunk at a "
        "time), an NWB file (its ophys DfOverF or Fluorescence series), or a suite2p plane folder "
        "(F.npy, Fneu.npy, iscell.npy, ops.npy; ops.npy is a pickle, read with only plain data "
        "admitted: no code in it can run)",
    )
    infer.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="a new folder (for a SpikeFinder folder), a .csv (for a CSV input), a .nwb (for an "
        "NWB input: the input plus the spikes), a .zarr or .npy path; never an input, never a "
        "file or folder that calspike did not write",
    )
    cluster = infer.add_mutually_exclusive_group()
    cluster.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster at ADDRESS (e.g. tcp://10.0.0.5:8786); .npy, .zarr and "
        "HDF5 inputs; needs calspike[dask]",
    )
    infer.add_argument(
        "--series",
        default=None,
        help="NWB: the RoiResponseSeries to read (default: DfOverF's, else Fluorescence's)",
    )
    infer.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a rate-model checkpoint from `calspike train-rate` (default: the shipped model)",
    )
    infer.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_settings(infer, "infer")
    infer.set_defaults(handler=_infer, check=_check_infer)


def _add_train_rate(commands: Any) -> None:
    train_rate = commands.add_parser(
        "train-rate",
        help="train the spike-rate model on recordings with ground truth",
        description="Train the convolutional spike-rate model on recordings with spike counts "
        "(CASCADE ground truth, SpikeFinder training data, arrays with spikes; any mix): chunks "
        "at the model's rate, drawn so that small datasets are not drowned by large ones, "
        "augmented in noise, amplitude and acquisition rate, early stopping on held-out neurons. "
        "Writes a resumable checkpoint that `calspike infer --model` reads.",
    )
    sources = (
        "CASCADE ground truth (a folder of DSxx-... folders, one of them or a CAttached_*.mat), "
        "SpikeFinder folders or files, or .npz files with calcium, spikes and rate"
    )
    train_rate.add_argument("data", type=Path, nargs="*", help=sources)
    train_rate.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        dest="more_data",
        metavar="DATA",
        help="another source (repeatable); the same kinds as the positional ones",
    )
    train_rate.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="DATASET",
        help="leave these datasets out (a CASCADE id such as DS06, SF4 for SpikeFinder "
        "dataset 4, or a recording's name)",
    )
    train_rate.add_argument(
        "-o", "--output", type=Path, required=True, help="the checkpoint (.pt) to write"
    )
    train_rate.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint at --output"
    )
    train_rate.add_argument(
        "--export",
        type=Path,
        default=None,
        help="also write a small inference-only copy of the model here",
    )
    train_rate.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="fine-tune: start from this rate model (a checkpoint, or 'default' for the "
        "shipped one) and keep its architecture, e.g. to teach it your indicator and "
        "timing from a few neurons with ground truth (a lower --lr, such as 0.001, keeps "
        "more of what it knew)",
    )
    train_rate.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_settings(train_rate, "train-rate", "train-rate")
    train_rate.set_defaults(handler=_train_rate, check=_check_train_rate)


def _add_score(commands: Any) -> None:
    score = commands.add_parser(
        "score",
        help="score predictions against ground truth, the SpikeFinder way",
        description="Per dataset and overall: the official SpikeFinder correlation (NaN frames "
        "dropped, 4 bins summed, Pearson r per neuron, mean over neurons), Spearman r, ROC AUC "
        "and the Poisson information gain (bits/s). Predictions written by `calspike infer` are "
        "checked against their sidecar's SHA-256.",
    )
    score.add_argument(
        "truth", type=Path, help="ground truth: a folder of N.*spikes.csv, a CSV or a .npy"
    )
    score.add_argument(
        "predictions", type=Path, nargs="+", help="prediction folders or files, one row set each"
    )
    score.add_argument(
        "--json", type=Path, default=None, help="also write the rows to this JSON file"
    )
    add_settings(score, "score", "score")
    score.set_defaults(handler=_score, check=_check_score)


def _check_infer(args: argparse.Namespace) -> None:
    from calspike._io import UsageError
    from calspike.spikes.budget import check_cluster
    from calspike.spikes.outputs import check_outputs

    layout = check_outputs(args.input, args.output)
    if args.series is not None and layout != "nwb":
        raise UsageError(f"--series names a series of an NWB input; {args.input} is not one")
    workers = chosen(args)["workers"]  # the option or --config's (ranges: the schema's, then
    # the machine's ceiling in spikes.budget.check_workers, as for the Python API)
    if (args.scheduler is not None or workers is not None) and layout not in ("npy", "zarr"):
        raise UsageError("--scheduler/--workers need a .npy, .zarr or HDF5 input")
    try:
        check_cluster(args.scheduler, workers)
    except UsageError as error:  # name the option the user gave
        message = str(error)
        raise UsageError("--" + message if message.startswith("workers ") else message) from None
    if args.scheduler is not None or workers is not None:
        from calspike._optional import require

        require("distributed", "--scheduler/--workers")


def _check_train_rate(args: argparse.Namespace) -> None:
    from calspike._io import UsageError
    from calspike._targets import check_not_input, check_recorded_target

    args.data = [*args.data, *args.more_data]
    if not args.data:
        raise UsageError("give at least one source of ground truth (positional or --data)")

    if args.resume and not args.output.exists():
        raise UsageError(f"--resume: no checkpoint at {args.output}")
    if args.resume:  # calspike's but unreadable (a run killed while the disk filled ...)
        check_resumable_file(args.output)
    if args.init is not None:
        fixed = sorted(
            f"--{name.replace('_', '-')}"
            for name in ("channels", "subframes", "members", "dff_scale")
            if name in given(args)
        )
        if fixed:
            raise UsageError(
                "--init keeps the architecture of the model it starts from; drop "
                f"{', '.join(fixed)}"
            )
    starts_from = [] if args.init in (None, "default") else [Path(args.init)]  # never written over
    check_not_input([args.output], [*args.data, *starts_from], "-o/--output", inside_allowed=True)
    others = [] if args.export is None else [args.export]
    check_recorded_target(args.output, "-o/--output", others=others)
    if args.export is not None:
        check_not_input(
            [args.export], [args.output, *args.data, *starts_from], "--export", inside_allowed=True
        )
        check_recorded_target(args.export, "--export", others=[args.output])


def _check_score(args: argparse.Namespace) -> None:
    from calspike._targets import check_not_input, check_recorded_target

    if args.json is not None:
        check_not_input([args.json], [args.truth, *args.predictions], "--json", inside_allowed=True)
        check_recorded_target(args.json, "--json")


def _infer(args: argparse.Namespace) -> None:
    from calspike.spikes.files import infer

    start = time.perf_counter()
    settings = chosen(args)
    all_rois = settings.pop("all_rois")
    if args.scheduler is not None or settings["workers"] is not None:
        _quiet_dask_logs()
    for path in infer(
        args.input,
        args.output,
        model=args.model,
        cells_only=not all_rois,
        series=args.series,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        **settings,
    ):
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.2f} s")


def _quiet_dask_logs() -> None:
    """Silence Dask's own log lines in this process, CRITICAL ones excepted.

    A lost scheduler or worker is reported once, by calspike's error naming the address;
    the client's log would add a traceback of its reconnection before it.
    """
    import logging

    import distributed  # noqa: F401 - its import sets its loggers' levels, which come next

    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _train_rate(args: argparse.Namespace) -> None:
    from calspike.spikes.rate_datasets import ground_truth_recordings
    from calspike.spikes.rate_training import export_rate_model, train_rate_from_settings

    settings = chosen(args)
    recordings = _excluding(ground_truth_recordings(args.data, settings["rate"]), args.exclude)
    result = train_rate_from_settings(
        recordings,
        args.output,
        settings=settings,
        resume=args.resume,
        progress=not args.no_progress,
        init=args.init,
    )
    last = result.history[-1]
    shown = ", ".join(
        f"{k} {v:.4g}" for k, v in last.items() if k.endswith(("_loss", "_correlation"))
    )
    print(f"{len(result.history)} epochs ({result.best_epoch} best), {shown}; wrote {args.output}")
    if args.export is not None:
        print(f"wrote {export_rate_model(args.output, args.export)}")


def _excluding(recordings: list[Recording], exclude: list[str]) -> list[Recording]:
    """The recordings less the --exclude datasets; UsageError for a name that chooses none."""
    from calspike._io import UsageError
    from calspike.spikes.rate_datasets import dataset_of, unknown_datasets, without_datasets

    unknown = unknown_datasets(recordings, exclude)
    if unknown:
        known = sorted({dataset_of(r) for r in recordings})
        raise UsageError(
            f"--exclude: no dataset named {', '.join(unknown)} (the data holds {', '.join(known)})"
        )
    kept = without_datasets(recordings, exclude)
    if not kept:
        raise UsageError("--exclude leaves no recording to train on")
    return kept


def _score(args: argparse.Namespace) -> None:
    from calspike._io import write_recorded
    from calspike.spikes.score import format_rows, rows_as_dicts, score_files

    rows = score_files(args.truth, list(args.predictions), rate=chosen(args)["rate"])
    print(format_rows(rows))
    if args.json is not None:
        write_recorded(args.json, json.dumps(rows_as_dicts(rows), indent=2))
