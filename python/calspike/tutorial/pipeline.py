"""The job behind `calspike run`: the tutorial end to end, written as one report folder.

Steps, each a function given what the earlier ones returned: the recordings and the
neuron-wise split (`data_steps`); the LSTM classifier with a logistic-regression baseline
(`classifier_step`); the toy VAE, the calcium VAE and the PCA of its latent means
(`vae_steps`); a linear SVM on the latent means scored on held-out neurons, and the decoder
fed along its weight vector (`svm_step`); the label-conditioned VAE, its traces per class and
the latent traversals (`conditional_step`). `tutorial=True` runs the tutorial's exact
settings instead. The folder (index.html, figures/*.png, metrics.json, config.json,
models/*.pt) is built under a temporary name and renamed into place at the end, so an
interrupted run never leaves a report that looks complete.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from calspike import config
from calspike._io import atomic_folder
from calspike._version import __version__
from calspike.data import fetch_spikefinder
from calspike.feature_stacks import parse_features
from calspike.training import choose_device
from calspike.tutorial import classifier_step, conditional_step, data_steps, svm_step, vae_steps
from calspike.tutorial.context import RunContext
from calspike.tutorial.departures import reproduction_rows
from calspike.tutorial.report_folder import check_report_target, write_report
from calspike.tutorial.stacks import FeatureStacks
from calspike.tutorial.timing import SIMULATED_FRAMES, StepClock, bytes_in, say_duration

# rate is run's own argument
RUN_SETTINGS = tuple(name for name in config.COMMANDS["run"] if name != "rate")
STEPS = 8
T = TypeVar("T")


@dataclass(frozen=True)
class RunResult:
    """What `run` returns.

    Attributes
    ----------
    metrics : dict
        The numbers of the report's metrics.json.
    path : pathlib.Path
        The report folder.
    """

    metrics: dict[str, Any]
    path: Path


def run(
    data: str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] = "calspike-report",
    fetch: bool = False,
    quick: bool = False,
    tutorial: bool = False,
    rate: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    **settings: Any,
) -> RunResult:
    """Run the tutorial pipeline end to end and write its report folder (``calspike run``).

    The report (index.html, figures/*.png, metrics.json, config.json, models/*.pt) is
    built under a temporary name and renamed into place at the end, so an interrupted run
    never leaves a report that looks complete.

    Parameters
    ----------
    data : path-like, optional
        A SpikeFinder folder or file, or an array file (see `load_recordings`); None: the
        built-in simulated recordings (or, with `fetch`, the official SpikeFinder training
        data, downloaded once into the cache).
    out : path-like
        The report folder: new, empty, or an earlier report (replaced).
    fetch : bool
        With `data` None, download the SpikeFinder training data (`fetch_spikefinder`).
    quick : bool
        Small models and few epochs (under 2 minutes on 2 CPU cores); explicit settings
        still win.
    tutorial : bool
        The tutorial's exact settings (``calspike.config.PROFILES["tutorial"]``: per-window
        z-score, raw + tutorial_delta + quad, its window counts, batch 32, constant Adam
        1e-3, 5 + 100 epochs without early stopping, its SVM and its weight-vector
        decoding), with the tutorial's printed numbers beside this run's on the page.
    rate : float, optional
        Frame rate in Hz of `data`, for files that do not store one.
    progress : bool
        Show progress bars.
    log : callable, optional
        Called with each progress message (`print` by default); None: silent.
    **settings
        Any of `calspike.config.SETTINGS` used by the run (window, training, seed, threads,
        device).

    Returns
    -------
    RunResult
        The metrics (as in metrics.json) and the report folder.

    Raises
    ------
    ValueError
        For unknown or bad settings (naming them).
    UsageError
        (A ValueError) When `out` cannot take the report: a folder calspike did not
        write, or `data` itself.

    Examples
    --------
    >>> import calspike
    >>> result = calspike.run(out="report", quick=True, log=None)  # doctest: +SKIP
    >>> result.path  # doctest: +SKIP
    PosixPath('report')
    """
    unknown = sorted(set(settings) - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    profiles = (
        "run",
        *(("tutorial",) if tutorial else ()),
        *((("quick-tutorial",) if tutorial else ("quick",)) if quick else ()),
    )
    chosen = {**config.defaults(RUN_SETTINGS, *profiles), **settings}
    params = config.check(chosen)
    kinds = parse_features(params["features"], tutorial=tutorial)
    vae_kinds = parse_features(params["vae_features"], tutorial=tutorial, name="vae_features")
    if vae_kinds[0] != "raw":
        raise ValueError(
            f"vae_features must start with raw (the channel the VAEs reconstruct), got "
            f"{params['vae_features']!r}"
        )
    say = log or (lambda message: None)
    target = Path(out)
    check_report_target(target, data)
    with atomic_folder(target, "report folder", {"kind": "report"}) as folder:
        context = RunContext(
            folder,
            params,
            kinds,
            vae_kinds,
            tutorial,
            progress,
            str(choose_device(params["device"])),
        )
        metrics = run_steps(context, data, fetch=fetch, rate=rate, quick=quick, say=say)
    say(f"report written to {target}/index.html")
    return RunResult(metrics, target)


def run_steps(
    context: RunContext,
    data: str | os.PathLike[str] | None,
    *,
    fetch: bool,
    rate: float | None,
    quick: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Run the steps in order, each given what the earlier ones returned; write the report.

    Each step is announced with its expected duration (`timing.StepClock`, rescaled by the
    classifier's real speed once it has trained) and timed. Writes metrics.json,
    config.json and index.html into `context.folder` and returns the metrics.
    """
    started = time.perf_counter()
    for sub in ("figures", "models"):
        (context.folder / sub).mkdir()
    p, clock = context.params, StepClock()
    timings: dict[str, float] = {}  # seconds of each step, in order
    source = "simulated" if data is None and not fetch else str(data or "SpikeFinder (fetched)")

    def timed(name: str, expected_s: float, work: Callable[[], T]) -> T:
        say(f"[{len(timings) + 1}/{STEPS}] {name} (expected: {say_duration(expected_s)})")
        start = time.perf_counter()
        result = work()
        timings[name] = round(time.perf_counter() - start, 3)
        return result

    reading_s = (
        float("nan")  # a download's speed is unknown
        if fetch and data is None
        else clock.expect("read", bytes_in(data))
        if data is not None
        else clock.expect("simulation", SIMULATED_FRAMES)
    )
    loaded = timed(
        "recordings",
        reading_s,
        lambda: data_steps.read_recordings(
            context, fetch_spikefinder("train") if fetch and data is None else data, rate, source
        ),
    )
    frame_rate = loaded.frame_rate
    split = timed(
        "partition and split",
        clock.expect("partition", loaded.frames),
        lambda: data_steps.split_windows(context, loaded),
    )
    stacks = FeatureStacks(split)
    expected_s = clock.expect("classifier", len(split.train) * p["epochs"])
    classifier = timed(
        "LSTM classifier",
        expected_s,
        lambda: classifier_step.lstm_classifier(context, stacks, frame_rate),
    )
    # its real speed (per epoch run) rescales the later steps' estimates
    clock.calibrate(expected_s * classifier.epochs_run / p["epochs"], timings["LSTM classifier"])
    toy = timed(
        "toy VAE",
        clock.expect("toy", vae_steps.TOY_DIGITS * p["toy_epochs"]),
        lambda: vae_steps.toy_vae(context),
    )
    vae_work = len(split.vae_train) * p["vae_epochs"]
    vae = timed(
        "calcium VAE",
        clock.expect("vae", vae_work),
        lambda: vae_steps.calcium_vae(context, stacks, frame_rate),
    )
    svm = timed(
        "linear SVM on latent means",
        clock.expect("svm", len(split.svm_train if split.fresh is None else split.fresh)),
        lambda: svm_step.latent_svm(context, stacks, vae, classifier),
    )
    timed(
        "decoding the SVM's direction",
        clock.expect("decoding", 1),
        lambda: svm_step.decode_svm_direction(context, vae, svm, frame_rate),
    )
    conditional = timed(
        "conditional VAE",
        clock.expect("conditional", vae_work),
        lambda: conditional_step.conditional_vae(context, stacks, vae, frame_rate),
    )
    step_metrics = (split, classifier, toy, vae, svm, conditional)
    timings["total"] = round(time.perf_counter() - started, 3)
    metrics = report_metrics(context, [r.metrics for r in step_metrics], timings, source)
    settings = {**p, "rate": rate, "quick": quick, "tutorial": context.tutorial, "data": source}
    write_report(context.folder, metrics, settings)
    return metrics


def report_metrics(
    context: RunContext, entries: list[dict[str, Any]], timings: dict[str, float], source: str
) -> dict[str, Any]:
    """metrics.json's content.

    The mode, each step's `entries` in order (with tutorial mode, the tutorial's printed
    numbers beside them), the seconds of each step, the device, the versions and where the
    data came from.
    """
    metrics: dict[str, Any] = {"mode": "tutorial" if context.tutorial else "calspike"}
    for entry in entries:
        metrics.update(entry)
    if context.tutorial:
        metrics["reproduction"] = reproduction_rows(metrics)
    metrics["timings_s"] = timings
    metrics["device"] = context.device
    metrics["versions"] = {
        "calspike": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    metrics["source"] = source
    return metrics
