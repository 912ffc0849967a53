"""The tutorial's commands: run, prepare, train and evaluate.

run: the whole pipeline and its report; prepare: windows; train: a model on prepared
windows; evaluate: a checkpoint on held-out neurons.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from calspike.cli._common import add_settings, check_resumable_file, chosen, given


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a SpikeFinder folder or file, or a .npy/.npz/.csv array (default: simulated data)",
    )
    parser.add_argument(
        "--fetch",
        action="store_true",
        help="download and use the official SpikeFinder training data",
    )


def add_commands(commands: Any) -> None:
    from calspike import config

    run = commands.add_parser(
        "run",
        help="the tutorial end to end: train the models and write a report",
        description=(
            "Load recordings (the built-in simulated data by default), partition them, train the "
            "LSTM classifier, the toy VAE and the calcium VAE, analyse the latent space and write "
            "a report folder (index.html, figures, metrics.json, config.json, models)."
        ),
    )
    _data_arguments(run)
    run.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("calspike-report"),
        help="report folder (default: calspike-report): new, empty or an earlier report; replaced "
        "atomically",
    )
    run.add_argument(
        "--quick",
        action="store_true",
        help="small models, few epochs (under 2 minutes on 2 CPU cores): "
        f"{', '.join(f'{k}={v}' for k, v in config.PROFILES['quick'].items())}, unless given",
    )
    run.add_argument(
        "--tutorial",
        action="store_true",
        help="the tutorial's exact settings, its SVM and decoding, "
        "and its printed numbers beside this run's: "
        f"{', '.join(f'{k}={v}' for k, v in config.PROFILES['tutorial'].items())}, unless given "
        "(with --quick: "
        + ", ".join(f"{k}={v}" for k, v in config.PROFILES["quick-tutorial"].items())
        + ")",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_settings(run, "run", "run")
    run.set_defaults(handler=_run, check=_check_run)

    prepare = commands.add_parser(
        "prepare",
        help="partition recordings into labelled windows, saved as .npz or a .zarr store",
        description=(
            "Cut recordings into labelled, normalised windows and save them (with their neuron "
            "names, centre frames and settings) for `calspike train` and `calspike evaluate`. A "
            ".zarr output is written a block of neurons at a time, so the windows need not fit in "
            "memory; a .npy, .zarr or HDF5 FILE.h5:/PATH input is then read a block at a time too "
            "(windows without labels)."
        ),
    )
    _data_arguments(prepare)
    prepare.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="the .npz file, or the .zarr windows store (a folder; needs calspike[zarr]), to write",
    )
    add_settings(prepare, "prepare")
    prepare.set_defaults(handler=_prepare, check=_check_prepare)

    train = commands.add_parser(
        "train",
        help="train the classifier or the calcium VAE on prepared windows",
        description=(
            "Split the prepared windows by neuron (train/validation/test, seeded), train on the "
            "balanced training windows with early stopping, and write a checkpoint. Runs under "
            "torchrun (DistributedDataParallel) unchanged."
        ),
    )
    train.add_argument(
        "windows",
        type=Path,
        help="a .npz or .zarr written by `calspike prepare` (a .zarr is read a batch at a time)",
    )
    train.add_argument(
        "--model", choices=("classifier", "vae"), default="classifier", help="which model"
    )
    train.add_argument(
        "-o", "--output", type=Path, required=True, help="the checkpoint (.pt) to write"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint at --output"
    )
    train.add_argument(
        "--history", type=Path, default=None, help="also write the history (.json or .csv)"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_settings(train, "train")
    train.set_defaults(handler=_train, check=_check_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a checkpoint on prepared windows",
        description=(
            "Score a classifier checkpoint (accuracy, balanced accuracy, ROC AUC, confusion "
            "matrix) or a VAE checkpoint (explained variance) on the windows of neurons it was "
            "not trained on."
        ),
    )
    evaluate.add_argument("checkpoint", type=Path, help="a checkpoint written by `calspike train`")
    evaluate.add_argument(
        "windows", type=Path, help="a .npz or .zarr written by `calspike prepare`"
    )
    evaluate.add_argument(
        "--all-neurons",
        action="store_true",
        help="also score neurons the model was trained or validated on",
    )
    evaluate.add_argument(
        "--json", type=Path, default=None, help="also write the scores to this JSON file"
    )
    add_settings(evaluate, "evaluate")
    evaluate.set_defaults(handler=_evaluate, check=_check_evaluate)


def _check_windows(settings: dict[str, Any]) -> None:
    from calspike._io import UsageError

    if settings["spike_n"] > min(settings["len_pre"], settings["len_post"]):
        raise UsageError(
            f"--spike-n ({settings['spike_n']}) must be at most min(--len-pre, --len-post) = "
            f"{min(settings['len_pre'], settings['len_post'])}"
        )


def _check_features(settings: dict[str, Any], tutorial: bool) -> None:
    """Usage errors for feature lists, before any data is read (the run would find them late)."""
    from calspike._io import UsageError
    from calspike.feature_stacks import parse_features

    try:
        parse_features(settings["features"], tutorial=tutorial, name="--features")
        vae = parse_features(settings["vae_features"], tutorial=tutorial, name="--vae-features")
    except ValueError as error:
        raise UsageError(str(error)) from None
    if vae[0] != "raw":
        raise UsageError(
            "--vae-features must start with raw (the channel the VAEs reconstruct), got "
            f"{settings['vae_features']!r}"
        )


def _check_run(args: argparse.Namespace) -> None:
    from calspike.tutorial.report_folder import check_report_target

    settings = chosen(args, *(("tutorial",) if args.tutorial else ()))
    _check_windows(settings)
    _check_features(settings, args.tutorial)
    check_report_target(args.out, args.data)


def _check_prepare(args: argparse.Namespace) -> None:
    from calspike._io import UsageError
    from calspike._targets import check_folder_target, check_not_input, check_recorded_target
    from calspike.data.chunked import split_hdf5

    _check_windows(chosen(args))
    hdf5 = None if args.data is None else split_hdf5(args.data)
    inputs = [hdf5[0] if hdf5 is not None else args.data] if args.data is not None else []
    if args.output.suffix == ".zarr":
        check_folder_target(args.output, "-o/--output windows store", "windows")
        check_not_input([args.output], inputs, "-o/--output")  # a folder: never inside an input
        return
    if args.output.suffix != ".npz":
        raise UsageError(
            f"-o/--output: prepared windows are saved as .npz or a .zarr store, got {args.output}"
        )
    if args.data is not None and (hdf5 is not None or Path(args.data).suffix == ".zarr"):
        raise UsageError(
            f"--data {args.data}: a zarr or HDF5 array is read a chunk at a time into a windows "
            "store: give -o STORE.zarr"
        )
    check_not_input([args.output], inputs, "-o/--output", inside_allowed=True)
    check_recorded_target(args.output, "-o/--output")


def _check_train(args: argparse.Namespace) -> None:
    from calspike._io import UsageError
    from calspike._targets import check_not_input, check_recorded_target

    _check_features(chosen(args), tutorial=False)
    if args.resume and not args.output.exists():
        raise UsageError(f"--resume: no checkpoint at {args.output}")
    if args.resume:  # calspike's but unreadable (a run killed while the disk filled ...)
        check_resumable_file(args.output)
    check_not_input([args.output], [args.windows], "-o/--output", inside_allowed=True)
    others = [] if args.history is None else [args.history]
    check_recorded_target(args.output, "-o/--output", others=others)
    if args.history is not None:
        if args.history.suffix not in (".json", ".csv"):
            raise UsageError(f"--history must end in .json or .csv, got {args.history}")
        check_not_input([args.history], [args.windows], "--history", inside_allowed=True)
        check_recorded_target(args.history, "--history", others=[args.output])


def _check_evaluate(args: argparse.Namespace) -> None:
    from calspike._targets import check_not_input, check_recorded_target

    if args.json is not None:
        check_not_input([args.json], [args.checkpoint, args.windows], "--json", inside_allowed=True)
        check_recorded_target(args.json, "--json")


def _recordings(args: argparse.Namespace, settings: dict[str, Any]) -> list[Any]:
    from calspike.data import default_recordings, fetch_spikefinder, load_recordings

    if args.fetch:
        return list(load_recordings(fetch_spikefinder("train"), settings["rate"]))
    if args.data is None:
        return list(default_recordings(settings["seed"]))
    return list(load_recordings(args.data, settings["rate"]))


def _run(args: argparse.Namespace) -> None:
    from calspike.tutorial.pipeline import run

    start = time.perf_counter()
    settings = given(args)
    rate = settings.pop("rate", None)
    result = run(
        args.data,
        out=args.out,
        fetch=args.fetch,
        quick=args.quick,
        tutorial=args.tutorial,
        rate=rate,
        progress=not args.no_progress,
        **settings,
    )
    c, svm = result.metrics["classifier"], result.metrics["svm"]
    print(
        f"held-out neurons: classifier balanced accuracy {c['balanced_accuracy']:.3f} "
        f"(logistic regression {result.metrics['logistic_regression']['balanced_accuracy']:.3f}, "
        f"SVM on VAE latents {svm['test_balanced_accuracy']:.3f}); VAE explains "
        f"{100 * result.metrics['vae']['explained_variance']:.1f}% of the variance"
    )
    print(f"done in {time.perf_counter() - start:.1f} s")


def _prepare(args: argparse.Namespace) -> None:
    from calspike import config
    from calspike.windows import partition
    from calspike.windows.store import save_windows

    settings = chosen(args)
    window_settings = {name: settings[name] for name in config.WINDOW_SETTINGS}
    if args.output.suffix == ".zarr":
        _prepare_store(args, settings, window_settings)
        return
    windows = partition(_recordings(args, settings), threads=settings["threads"], **window_settings)
    print(f"{windows}\nwrote {save_windows(windows, args.output)}")


def _prepare_store(
    args: argparse.Namespace, settings: dict[str, Any], window_settings: dict[str, Any]
) -> None:
    from calspike._io import atomic_folder
    from calspike._optional import require
    from calspike.data.chunked import is_chunked_source
    from calspike.windows.zarr_store import array_blocks, recording_blocks, write_windows_store

    require("zarr", f"writing {args.output}")
    if args.data is not None and not args.fetch and is_chunked_source(args.data):
        blocks = array_blocks(args.data, threads=settings["threads"], **window_settings)
    else:
        blocks = recording_blocks(
            _recordings(args, settings), threads=settings["threads"], **window_settings
        )
    with atomic_folder(args.output, "-o/--output windows store", {"kind": "windows"}) as folder:
        summary = write_windows_store(blocks, folder)
    spikes = (
        "" if summary["spike_windows"] is None else f", {summary['spike_windows']:,} with a spike"
    )
    print(
        f"{summary['windows']:,} windows of {summary['neurons']:,} neurons{spikes}; "
        f"wrote {args.output}"
    )


def _train(args: argparse.Namespace) -> None:
    from calspike._io import write_recorded
    from calspike.training.progress import history_text
    from calspike.tutorial.prepared import train_on_prepared

    result = train_on_prepared(
        args.windows,
        args.output,
        model=args.model,
        settings=chosen(args),
        resume=args.resume,
        progress=not args.no_progress,
    )
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return
    if args.history is not None:
        write_recorded(args.history, history_text(result.history, args.history.suffix))
    last = result.history[-1]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "val_")))
    print(f"{len(result.history)} epochs ({result.best_epoch} best), {shown}; wrote {args.output}")


def _evaluate(args: argparse.Namespace) -> None:
    from calspike._io import write_recorded
    from calspike.tutorial.prepared import evaluate_on_prepared

    kind, scores = evaluate_on_prepared(
        args.checkpoint, args.windows, all_neurons=args.all_neurons, device=chosen(args)["device"]
    )
    which = " (all neurons)" if args.all_neurons else " of neurons not used in training"
    print(f"{kind} on {scores['windows']:,} windows{which}:")
    for key, value in scores.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    if args.json is not None:
        write_recorded(args.json, json.dumps(scores, indent=2))
