"""The `calspike` command's parser and handlers: each handler parses, checks and calls one function.

Exit codes: 0 success, 2 usage errors, 1 data or runtime errors (one line; --debug for a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TRAIN_FIT_SETTINGS = ("features", "epochs", "batch_size", "lr", "patience", "hidden", "latent", "beta",
                      "max_windows", "device")


def _rate(text: str) -> float:
    """argparse type of every --rate: a frame rate in the range calspike accepts."""
    from calspike.config import check_rate

    try:
        return check_rate(float(text), "--rate")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="a SpikeFinder folder or file, or a .npy/.npz/.csv array (default: simulated data)")
    parser.add_argument("--fetch", action="store_true", help="download and use the official SpikeFinder training data")
    parser.add_argument("--rate", type=_rate, default=None, help="frame rate in Hz, for array files that lack one")


def _settings(
    parser: argparse.ArgumentParser, names: Sequence[str], shown_defaults: dict[str, Any] | None = None
) -> None:
    from calspike import config

    config.add_arguments(parser, names, only_given=True, shown_defaults=shown_defaults)
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help="read settings from a TOML file (name = value); options given here win")
    parser.set_defaults(setting_names=tuple(names))


def _integer_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def _number_in(low: float, high: float, low_open: bool = False) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (low < value if low_open else low <= value) or not value < high:
            raise argparse.ArgumentTypeError(f"must lie in {'(' if low_open else '['}{low:g}, {high:g}), got {value:g}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    from calspike import __version__, config
    from calspike.report import QUICK, RUN_DEFAULTS, RUN_SETTINGS
    from calspike.windows import WINDOW_SETTINGS

    parser = argparse.ArgumentParser(
        prog="calspike", description="Deep learning on calcium imaging: windows, models and spike inference."
    )
    parser.add_argument("--version", action="version", version=f"calspike {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="the tutorial end to end: train the models and write a report",
        description="Load recordings (the built-in simulated data by default), partition them, train the "
        "LSTM classifier, the toy VAE and the calcium VAE, analyse the latent space and write a report "
        "folder (index.html, figures, metrics.json, config.json, models).",
    )
    _data_arguments(run)
    run.add_argument("-o", "--out", type=Path, default=Path("calspike-report"),
                     help="report folder (default: calspike-report); replaced atomically")
    run.add_argument("--quick", action="store_true", help="small models, few epochs (under 2 minutes on 2 CPU "
                     f"cores): {', '.join(f'{k}={v}' for k, v in QUICK.items())}, unless given")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    _settings(run, RUN_SETTINGS, RUN_DEFAULTS)

    prepare = commands.add_parser(
        "prepare", help="partition recordings into labelled windows, saved as .npz",
        description="Cut recordings into labelled, normalised windows and save them (with their neuron "
        "names, centre frames and settings) for `calspike train` and `calspike evaluate`.",
    )
    _data_arguments(prepare)
    prepare.add_argument("-o", "--output", type=Path, required=True, help="the .npz file to write")
    _settings(prepare, (*WINDOW_SETTINGS, "threads"))

    train = commands.add_parser(
        "train", help="train the classifier or the calcium VAE on prepared windows",
        description="Split the prepared windows by neuron (train/validation/test, seeded), train on the "
        "balanced training windows with early stopping, and write a checkpoint. Runs under torchrun "
        "(DistributedDataParallel) unchanged.",
    )
    train.add_argument("windows", type=Path, help="a .npz written by `calspike prepare`")
    train.add_argument("--model", choices=("classifier", "vae"), default="classifier", help="which model")
    train.add_argument("-o", "--output", type=Path, required=True, help="the checkpoint (.pt) to write")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint at --output")
    train.add_argument("--history", type=Path, default=None, help="also write the history (.json or .csv)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    _settings(train, ("seed", *TRAIN_FIT_SETTINGS))

    evaluate = commands.add_parser(
        "evaluate", help="score a checkpoint on prepared windows",
        description="Score a classifier checkpoint (accuracy, balanced accuracy, ROC AUC, confusion matrix) "
        "or a VAE checkpoint (explained variance) on the windows of neurons it was not trained on.",
    )
    evaluate.add_argument("checkpoint", type=Path, help="a checkpoint written by `calspike train`")
    evaluate.add_argument("windows", type=Path, help="a .npz written by `calspike prepare`")
    evaluate.add_argument("--all-neurons", action="store_true",
                          help="also score neurons the model was trained or validated on")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the scores to this JSON file")
    _settings(evaluate, ("device",))

    infer = commands.add_parser(
        "infer", help="infer spikes for every frame of every neuron",
        description="Read calcium traces at any frame rate (NaN frames are dropped frames), infer expected "
        "spikes per frame with the spike-rate model (or OASIS) and write them in the input's layout "
        "(SpikeFinder CSV for CSV input, .npy otherwise) with a JSON sidecar of the settings, the model "
        "and per-neuron noise levels.",
    )
    infer.add_argument("input", type=Path, help="a SpikeFinder folder or N.*.calcium.csv, a .npy/.npz/.csv "
                       "array (neurons x frames), or a suite2p plane folder (F.npy, Fneu.npy, iscell.npy, ops.npy; "
                       "ops.npy is a pickle, read with only plain data admitted: no code in it can run)")
    infer.add_argument("-o", "--output", type=Path, required=True,
                       help="a new folder (for a SpikeFinder folder), a .csv (for a CSV input) or a .npy path; "
                       "never an input, never a file or folder that calspike did not write")
    infer.add_argument("--method", choices=("model", "oasis"), default="model",
                       help="the spike-rate model (default) or OASIS deconvolution")
    infer.add_argument("--model", type=Path, default=None,
                       help="a rate-model checkpoint from `calspike train-rate` (default: the shipped model)")
    infer.add_argument("--p", type=int, choices=(1, 2), default=1, help="OASIS's autoregressive order (default: 1)")
    infer.add_argument("--rate", type=_rate, default=None,
                       help="frame rate in Hz, for array files that lack one (and instead of suite2p's ops.npy)")
    infer.add_argument("--chunk-neurons", type=_integer_at_least(1), default=256,
                       help="neurons processed at once; bounds the memory (default: 256)")
    infer.add_argument("--neuropil", type=_number_in(0, 2.0001), default=0.7,
                       help="suite2p: F - NEUROPIL * Fneu (default: 0.7; 0 turns it off)")
    infer.add_argument("--baseline", choices=("running-percentile", "none"), default="running-percentile",
                       help="suite2p: dF/F against the 8th percentile over 60 s (default), or none")
    infer.add_argument("--all-rois", action="store_true", help="suite2p: also ROIs that iscell.npy rejects")
    infer.add_argument("--no-progress", action="store_true", help="no progress bar")
    config.add_arguments(infer, ("threads", "device"))
    infer.set_defaults(setting_names=("threads", "device"))

    train_rate = commands.add_parser(
        "train-rate", help="train the spike-rate model on recordings with ground truth",
        description="Train the convolutional spike-rate model on recordings with spike counts (SpikeFinder "
        "training data, arrays with spikes): chunks at the model's rate, augmented in noise, amplitude "
        "and acquisition rate, early stopping on held-out neurons. Writes a resumable checkpoint that "
        "`calspike infer --model` reads.",
    )
    train_rate.add_argument("data", type=Path, help="a SpikeFinder folder or file, or an .npz with calcium, "
                            "spikes and rate")
    train_rate.add_argument("-o", "--output", type=Path, required=True, help="the checkpoint (.pt) to write")
    train_rate.add_argument("--rate", type=_rate, default=None, help="frame rate in Hz, for files that lack one")
    train_rate.add_argument("--epochs", type=_integer_at_least(1), default=10, help="most passes over the chunks (default: 10)")
    train_rate.add_argument("--batch-size", type=_integer_at_least(1), default=64, help="chunks per step (default: 64)")
    train_rate.add_argument("--lr", type=_number_in(0, 10, low_open=True), default=3e-3, help="AdamW learning rate (default: 3e-3)")
    train_rate.add_argument("--patience", type=_integer_at_least(1), default=3,
                            help="epochs without a better validation loss before stopping (default: 3)")
    train_rate.add_argument("--validation", type=_number_in(0, 1), default=0.15,
                            help="fraction of neurons held out for early stopping (default: 0.15; 0: none)")
    train_rate.add_argument("--channels", type=_integer_at_least(1), default=32, help="convolution channels (default: 32)")
    train_rate.add_argument("--simulated", type=_integer_at_least(0), default=0,
                            help="add this many simulated neurons per indicator to the training set (default: 0)")
    train_rate.add_argument("--resume", action="store_true", help="continue from the checkpoint at --output")
    train_rate.add_argument("--export", type=Path, default=None,
                            help="also write a small inference-only copy of the model here")
    train_rate.add_argument("--no-progress", action="store_true", help="no progress bars")
    config.add_arguments(train_rate, ("seed", "device"))
    train_rate.set_defaults(setting_names=("seed", "device"))

    score = commands.add_parser(
        "score", help="score predictions against ground truth, the SpikeFinder way",
        description="Per dataset and overall: the official SpikeFinder correlation (NaN frames dropped, "
        "4 bins summed, Pearson r per neuron, mean over neurons), Spearman r, ROC AUC and the Poisson "
        "information gain (bits/s).",
    )
    score.add_argument("truth", type=Path, help="ground truth: a folder of N.*spikes.csv, a CSV or a .npy")
    score.add_argument("predictions", type=Path, nargs="+", help="prediction folders or files, one row set each")
    score.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    score.add_argument("--rate", type=_rate, default=100.0,
                       help="frame rate of the files in Hz, for the information gain in bits/s (default: 100)")

    fetch = commands.add_parser("fetch", help="download the official SpikeFinder data into the cache")
    fetch.add_argument("--split", choices=("train", "test", "both"), default="both", help="which archive(s)")
    fetch.add_argument("--url", default=None, help="a mirror URL of the archive (with one --split)")
    fetch.add_argument("--cache", type=Path, default=None, help="cache folder (default: ~/.cache/calspike)")
    return parser


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line or in the --config file."""
    return {name: getattr(args, name) for name in args.setting_names if hasattr(args, name)}


def _chosen(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting of the command: given ones, else their defaults."""
    from calspike import config

    return {**config.defaults(args.setting_names), **_given(args)}


def _recordings(args: argparse.Namespace) -> list[object]:
    from calspike.data import default_recordings, fetch_spikefinder, load_recordings

    if args.fetch:
        return list(load_recordings(fetch_spikefinder("train"), args.rate))
    if args.data is None:
        return list(default_recordings(getattr(args, "seed", 0)))
    return list(load_recordings(args.data, args.rate))


def _run(args: argparse.Namespace) -> None:
    from calspike.report import run

    start = time.perf_counter()
    result = run(args.data, out=args.out, fetch=args.fetch, quick=args.quick, rate=args.rate,
                 progress=not args.no_progress, **_given(args))
    c, svm = result.metrics["classifier"], result.metrics["svm"]
    print(f"held-out neurons: classifier balanced accuracy {c['balanced_accuracy']:.3f} "
          f"(logistic regression {result.metrics['logistic_regression']['balanced_accuracy']:.3f}, "
          f"SVM on VAE latents {svm['test_balanced_accuracy']:.3f}); VAE explains "
          f"{100 * result.metrics['vae']['explained_variance']:.1f}% of the variance")
    print(f"done in {time.perf_counter() - start:.1f} s")


def _prepare(args: argparse.Namespace) -> None:
    from calspike.windows import partition, save_windows

    settings = _chosen(args)
    threads = settings.pop("threads")
    windows = partition(_recordings(args), threads=threads, **settings)  # type: ignore[arg-type]
    path = save_windows(windows, args.output)
    print(f"{windows}\nwrote {path}")


def _train(args: argparse.Namespace) -> None:
    from calspike import tasks
    from calspike.train import write_history
    from calspike.windows import load_windows

    settings = _chosen(args)
    windows = load_windows(args.windows)
    split = tasks.neuron_split(windows, settings["seed"])
    train = windows.subset(tasks.labelled_subset(windows, split["train"], max_windows=settings["max_windows"],
                                                 seed=settings["seed"]))
    val = windows.subset(tasks.labelled_subset(windows, split["val"], seed=settings["seed"]))
    extra = {"windows": windows.params, "neurons": {part: [windows.neuron_names[n] for n in ids]
                                                    for part, ids in split.items()}}
    common = {"batch_size": settings["batch_size"], "lr": settings["lr"], "patience": settings["patience"],
              "device": settings["device"], "seed": settings["seed"], "checkpoint": args.output,
              "progress": not args.no_progress, "extra": extra}
    if args.model == "classifier":
        result = tasks.train_classifier(train, val, kinds=tasks.parse_features(settings["features"]),
                                        hidden=settings["hidden"], epochs=settings["epochs"],
                                        resume=args.resume, **common)
    else:
        result = tasks.train_vae(train, val, hidden=settings["hidden"], latent=settings["latent"],
                                 beta=settings["beta"], epochs=settings["epochs"], resume=args.resume, **common)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return
    if args.history is not None:
        write_history(result.history, args.history)
    last = result.history[-1]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "val_")))
    print(f"{len(result.history)} epochs ({result.best_epoch} best), {shown}; wrote {args.output}")


def _evaluate(args: argparse.Namespace) -> None:
    import json

    import numpy as np

    from calspike import tasks
    from calspike._io import atomic_path
    from calspike.train import load_checkpoint, load_model
    from calspike.windows import load_windows

    state = load_checkpoint(args.checkpoint)
    model = load_model(args.checkpoint)
    windows = load_windows(args.windows)
    used = set(state.get("extra", {}).get("neurons", {}).get("train", [])) | set(
        state.get("extra", {}).get("neurons", {}).get("val", []))
    keep = np.ones(len(windows), bool) if args.all_neurons else np.array(
        [windows.neuron_names[n] not in used for n in windows.neuron])
    if not keep.any():
        raise ValueError(f"{args.windows}: every neuron was used in training; --all-neurons scores them anyway")
    scored = windows.subset(np.flatnonzero(keep))
    if state["kind"] == "SpikeClassifier":
        kinds = list(state.get("extra", {}).get("features", ["raw"]))
        scores = tasks.score_classifier(model, scored, kinds, device=_chosen(args)["device"])  # type: ignore[arg-type]
    elif state["kind"] == "CalciumVAE":
        scores = {"windows": len(scored), "explained_variance":
                  tasks.explained_variance(model, scored.windows, device=_chosen(args)["device"])}  # type: ignore[arg-type]
    else:
        raise ValueError(f"{args.checkpoint}: cannot evaluate a {state['kind']} on windows")
    print(f"{state['kind']} on {len(scored):,} windows of {len(np.unique(scored.neuron))} neurons"
          f"{' (all)' if args.all_neurons else ' not used in training'}:")
    for key, value in scores.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    if args.json is not None:
        with atomic_path(args.json) as temporary:
            temporary.write_text(json.dumps(scores, indent=2))


def _fetch(args: argparse.Namespace) -> None:
    from calspike.data import fetch_spikefinder

    splits = ("train", "test") if args.split == "both" else (args.split,)
    for split in splits:
        folder = fetch_spikefinder(split, url=args.url, cache=args.cache)
        print(f"{split}: {folder}")


def _infer(args: argparse.Namespace) -> None:
    from calspike.infer import infer

    start = time.perf_counter()
    written = infer(args.input, args.output, method=args.method, rate=args.rate, model=args.model, p=args.p,
                    device=args.device, threads=args.threads, chunk_neurons=args.chunk_neurons,
                    neuropil=args.neuropil, baseline=args.baseline, cells_only=not args.all_rois,
                    progress=not args.no_progress)
    for path in written:
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.2f} s")


def _train_rate(args: argparse.Namespace) -> None:
    from calspike.data import load_recordings
    from calspike.models import SpikeRateModel
    from calspike.spikerate import export_rate_model, train_rate_model

    recordings = load_recordings(args.data, args.rate)
    import torch

    torch.manual_seed(args.seed)
    result = train_rate_model(
        recordings, validation=args.validation or None, model=SpikeRateModel(channels=args.channels),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience, seed=args.seed,
        device=args.device, checkpoint=args.output, resume=args.resume, progress=not args.no_progress,
        simulated=args.simulated)
    last = result.history[-1]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.endswith(("_loss", "_correlation")))
    print(f"{len(result.history)} epochs ({result.best_epoch} best), {shown}; wrote {args.output}")
    if args.export is not None:
        print(f"wrote {export_rate_model(args.output, args.export)}")


def _score(args: argparse.Namespace) -> None:
    import json

    from calspike._io import atomic_path
    from calspike.score import format_rows, rows_as_dicts, score_files

    rows = score_files(args.truth, list(args.predictions), rate=args.rate)
    print(format_rows(rows))
    if args.json is not None:
        with atomic_path(args.json) as temporary:
            temporary.write_text(json.dumps(rows_as_dicts(rows), indent=2))


def _with_config_file(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, args: argparse.Namespace
) -> argparse.Namespace:
    """Parse again with the TOML file's settings as defaults, so options given on the command line win."""
    from calspike import config

    try:
        from_file = config.read_toml(args.config, args.setting_names)
    except (OSError, ValueError) as error:
        parser.error(str(error) if not isinstance(error, OSError) else f"--config {args.config}: {error.strerror}")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparsers.choices[args.command].set_defaults(**from_file)
    return parser.parse_args(argv)


def _check_usage(args: argparse.Namespace) -> None:
    """UsageError for arguments that cannot work together, and for unusable output paths: found
    before any data is read, so a mistake costs nothing."""
    from calspike import config
    from calspike._io import (
        UsageError,
        check_file_target,
        check_not_input,
        json_written_by_calspike,
    )

    if hasattr(args, "setting_names"):
        chosen = _chosen(args)
        config.check(chosen)
        if "spike_n" in chosen and chosen["spike_n"] > min(chosen["len_pre"], chosen["len_post"]):
            raise UsageError(f"--spike-n ({chosen['spike_n']}) must be at most min(--len-pre, --len-post) = "
                             f"{min(chosen['len_pre'], chosen['len_post'])}")
    inputs = [path for path in (getattr(args, "data", None),) if isinstance(path, Path)]
    if args.command == "run":
        from calspike.report import check_report_target

        check_report_target(args.out, args.data)
    elif args.command == "prepare":
        from calspike.windows import is_windows_file

        if args.output.suffix != ".npz":
            raise UsageError(f"-o/--output: prepared windows are saved as .npz, got {args.output}")
        check_file_target(args.output, "-o/--output", is_windows_file)
        check_not_input([args.output], inputs, "-o/--output", inside_allowed=True)
    elif args.command in ("train", "train-rate"):
        from calspike.train import is_checkpoint

        if args.resume and not args.output.is_file():
            raise UsageError(f"--resume: no checkpoint at {args.output}")
        check_file_target(args.output, "-o/--output", is_checkpoint)
        source = args.windows if args.command == "train" else args.data
        check_not_input([args.output], [source], "-o/--output", inside_allowed=True)
        history = getattr(args, "history", None)
        if history is not None:
            if history.suffix not in (".json", ".csv"):
                raise UsageError(f"--history must end in .json or .csv, got {history}")
            check_file_target(history, "--history", _is_history)
        export = getattr(args, "export", None)
        if export is not None:
            check_file_target(export, "--export", is_checkpoint)
            check_not_input([export], [args.output, source], "--export", inside_allowed=True)
    elif args.command == "evaluate" and args.json is not None:
        check_file_target(args.json, "--json", json_written_by_calspike({"windows"}))
        check_not_input([args.json], [args.checkpoint, args.windows], "--json", inside_allowed=True)
    elif args.command == "score" and args.json is not None:
        check_file_target(args.json, "--json", json_written_by_calspike({"prediction", "dataset", "neurons"}))
        check_not_input([args.json], [args.truth, *args.predictions], "--json", inside_allowed=True)
    elif args.command == "infer":
        from calspike.infer import check_outputs

        check_outputs(args.input, args.output)
    elif args.command == "fetch" and args.url is not None and args.split == "both":
        raise UsageError("--url needs --split train or --split test")


def _is_history(path: Path) -> bool:
    """A history file `calspike train --history` writes: JSON records or CSV columns from 'epoch'."""
    from calspike._io import json_written_by_calspike

    if path.suffix == ".json":
        return json_written_by_calspike({"epoch"})(path)
    with open(path, encoding="utf-8") as stream:
        return stream.readline().startswith("epoch,")


def _failure(error: BaseException) -> str:
    """One line naming what failed: the file of an OSError, else the error's first line."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def run_command(argv: Sequence[str] | None) -> int:
    """Parse `argv`, check it, run the command; the exit code (0 done, 1 data error, 2 usage)."""
    from calspike._io import UsageError

    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is not None:
        args = _with_config_file(parser, argv, args)
    try:
        _check_usage(args)
    except (UsageError, ValueError) as error:
        parser.error(_failure(error))
    except OSError as error:  # an input that is missing or unreadable: a data error
        print(f"calspike: error: {_failure(error)}", file=sys.stderr)
        return 1
    try:
        handlers = {"run": _run, "prepare": _prepare, "train": _train, "evaluate": _evaluate, "fetch": _fetch,
                    "infer": _infer, "train-rate": _train_rate, "score": _score}
        handlers[args.command](args)
    except UsageError as error:  # found late (an output changed while calspike worked)
        if args.debug:
            raise
        print(f"calspike: error: {_failure(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # one line for users; --debug shows where
        if args.debug:
            raise
        print(f"calspike: error: {_failure(error)}", file=sys.stderr)
        return 1
    return 0
