"""The job behind `calspike run`: the tutorial end to end, written as one report folder.

Steps (`calspike.tutorial.steps`): sample traces; partition and a neuron-wise split; the
LSTM classifier (with a logistic-regression baseline); the toy VAE; the calcium VAE and the
PCA of its latent means; a linear SVM on the latent means scored on held-out neurons; the
decoder fed along the SVM's weight vector; the label-conditioned VAE, its traces per class
and the latent traversals. `tutorial=True` runs the tutorial's exact settings instead. The
folder (index.html, figures/*.png, metrics.json, config.json, models/*.pt) is built under
a temporary name and renamed into place at the end, so an interrupted run never leaves a
report that looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calspike import config
from calspike._io import atomic_folder, check_folder_target, check_not_input
from calspike.tutorial.steps import Report

RUN_SETTINGS = tuple(
    name for name in config.COMMANDS["run"] if name != "rate"
)  # rate: its own argument


def check_report_target(target: Path, data: str | os.PathLike[str] | None) -> None:
    """UsageError unless `target` may take the report: new, empty or an earlier report, and apart from `data`."""
    check_folder_target(target, "report folder")
    if data is not None:
        check_not_input([target], [Path(data)], "report folder")


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
    from calspike.features import parse_features

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
        report = Report(folder, params, kinds, vae_kinds, tutorial, progress, say)
        report.execute(data, fetch, rate, quick)
    say(f"report written to {target}/index.html")
    return RunResult(report.metrics, target)
