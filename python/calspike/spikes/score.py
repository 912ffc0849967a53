"""Scoring spike prediction files against ground truth files, the SpikeFinder way.

One row per prediction and dataset: the means over neurons of the per-neuron metrics
(`calspike.spikes.metrics`, re-exported here); predictions `calspike infer` wrote are checked
against their sidecar first.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from calspike.data import DataError, read_spikefinder_csv
from calspike.data.arrays import load_npy
from calspike.data.recording import check_numeric_dtype
from calspike.errors import NoGroundTruthWarning
from calspike.spikes.metrics import (
    SPIKEFINDER_BINS,
    poisson_information_gain,
    score_neurons,
    spearman_correlation,
    spikefinder_auc,
    spikefinder_correlation,
)

__all__ = [  # the metrics are re-exported: scoring imports them from here too
    "SPIKEFINDER_BINS",
    "NoGroundTruthWarning",
    "ScoreRow",
    "format_rows",
    "poisson_information_gain",
    "rows_as_dicts",
    "score_files",
    "score_neurons",
    "spearman_correlation",
    "spikefinder_auc",
    "spikefinder_correlation",
    "verify_against_sidecar",
]

_DATASET = re.compile(r"^(\d+)\.")


@dataclass(frozen=True)
class ScoreRow:
    """Mean scores over the neurons of one dataset (or 'all') for one prediction source."""

    prediction: str
    dataset: str
    neurons: int
    correlation: float  # SpikeFinder's official score
    spearman: float
    auc: float
    info_gain: float  # Poisson information gain, bits/s


def score_files(
    truth: str | os.PathLike[str], predictions: list[str | os.PathLike[str]], rate: float = 100.0
) -> list[ScoreRow]:
    """Score spike predictions against ground truth the SpikeFinder way.

    Per neuron: Pearson r of the counts in 40 ms bins (SpikeFinder's official score),
    Spearman r, ROC AUC and the Poisson information gain; averaged per dataset and, for
    several datasets, over all of them. Folders are matched by dataset number:
    ``N.*spikes.csv`` in the prediction folder against ``N.*spikes.csv`` in the truth
    folder. A prediction that `infer` wrote is checked against its sidecar's SHA-256 first.

    Parameters
    ----------
    truth : path-like
        A folder of ``N.*spikes.csv`` files, or one file: a SpikeFinder CSV or a ``.npy``
        array of spike counts, shape (neurons, frames).
    predictions : list of path-like
        Prediction folders or files laid out as `truth`, with the truth's shapes.
    rate : float
        Frame rate in Hz (SpikeFinder's 100 by default); converts the information gain to
        bits/s.

    Returns
    -------
    list of ScoreRow
        One row per prediction and dataset (and a row "all" per prediction of several
        datasets): prediction, dataset, neurons, correlation, spearman, auc and info_gain
        (bits/s), means over the neurons with ground truth.

    Raises
    ------
    FileNotFoundError
        For a missing file or folder, a folder without spike files, or a dataset of the
        truth without a prediction.
    DataError
        For malformed files, shapes that differ from the truth's, neurons with ground truth
        but no finite prediction, or a prediction that no longer matches its sidecar.

    Warns
    -----
    NoGroundTruthWarning
        Naming neurons without ground truth: they score NaN and are left out of the means.
    """
    truth_files = _spike_files(Path(truth))
    truth_values: dict[
        Path, np.ndarray
    ] = {}  # each truth file is parsed once, whatever the predictions
    rows = []
    for prediction in predictions:
        prediction_files = _spike_files(Path(prediction))
        for file in prediction_files.values():
            verify_against_sidecar(file)
        if len(truth_files) == 1 and len(prediction_files) == 1:
            pairs = [
                (
                    next(iter(truth_files)),
                    next(iter(truth_files.values())),
                    next(iter(prediction_files.values())),
                )
            ]
        else:
            missing = sorted(set(truth_files) - set(prediction_files))
            if missing:
                raise FileNotFoundError(
                    f"{prediction}: no prediction for dataset(s) {', '.join(missing)}"
                )
            pairs = [
                (key, truth_files[key], prediction_files[key])
                for key in sorted(truth_files, key=_order)
            ]
        per_neuron: dict[str, list[float]] = {
            "correlation": [],
            "spearman": [],
            "auc": [],
            "info_gain": [],
        }
        for dataset, truth_path, prediction_path in pairs:
            if truth_path not in truth_values:
                truth_values[truth_path] = _load(truth_path)
            expected, prediction_values = truth_values[truth_path], _load(prediction_path)
            if expected.shape != prediction_values.shape:
                raise DataError(
                    f"{prediction_path}: shape {prediction_values.shape} differs from the truth's "
                    f"{expected.shape} ({truth_path})"
                )
            _check_neurons(expected, prediction_values, truth_path, prediction_path)
            try:
                scores = score_neurons(expected, prediction_values, rate=rate)
            except ValueError as error:  # "truth is infinite at neuron 0, frame 9": which file
                message = str(error)
                where = truth_path if message.startswith("truth") else prediction_path
                raise DataError(f"{where}: {message}") from None
            rows.append(_row(str(prediction), dataset, scores))
            for name, values in scores.items():
                per_neuron[name].extend(values.tolist())
        if len(pairs) > 1:
            rows.append(
                _row(str(prediction), "all", {k: np.array(v) for k, v in per_neuron.items()})
            )
    return rows


def _check_neurons(
    truth: np.ndarray, prediction: np.ndarray, truth_path: Path, prediction_path: Path
) -> None:
    """DataError for neurons with ground truth but no finite prediction on its frames.

    (They would silently drop out of the mean.) NoGroundTruthWarning naming neurons without
    ground truth.
    """
    has_truth = np.isfinite(truth)
    no_truth = np.flatnonzero(~has_truth.any(axis=1))
    missing = np.flatnonzero(
        has_truth.any(axis=1) & ~(has_truth & np.isfinite(prediction)).any(axis=1)
    )
    if missing.size:
        raise DataError(
            f"{prediction_path}: neuron(s) {_listed(missing)} have no finite prediction where "
            f"{truth_path} has ground truth; score refuses to leave them out of the mean silently"
        )
    if no_truth.size:
        warnings.warn(
            f"{truth_path}: neuron(s) {_listed(no_truth)} have no ground truth (all NaN): they "
            "score NaN and are left out of the means",
            NoGroundTruthWarning,
            stacklevel=3,
        )


def _listed(neurons: np.ndarray) -> str:
    return ", ".join(str(int(n)) for n in neurons[:10]) + (" ..." if neurons.size > 10 else "")


def verify_against_sidecar(path: Path) -> None:
    """DataError when `calspike infer` wrote `path` and its sidecar's SHA-256 no longer matches it.

    That is an interrupted run, or a file changed since. Files without a sidecar are taken as
    they are.
    """
    from calspike._io import file_digest
    from calspike.spikes.outputs import SIDECAR

    for sidecar in (path.with_name(path.name + ".json"), path.parent / SIDECAR):
        if not sidecar.is_file():
            continue
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:  # nested past the stack
            raise DataError(f"{sidecar}: not a readable calspike sidecar ({error})") from None
        files = record.get("files") if isinstance(record, dict) else None
        if not isinstance(files, dict):
            continue  # not written by calspike infer
        if record.get("pending"):
            raise DataError(
                f"{path}: {sidecar} says the `calspike infer` that wrote it did not finish: "
                "run infer again"
            )
        if path.name not in files:
            raise DataError(
                f"{path}: not listed in {sidecar}: the folder mixes files of different runs"
            )
        if files[path.name] != file_digest(path):
            raise DataError(
                f"{path}: its contents differ from what {sidecar} records (an interrupted "
                "`calspike infer`, or a file changed since): run infer again"
            )
        return


def format_rows(rows: list[ScoreRow]) -> str:
    """A plain-text table of score rows."""
    header = (
        f"{'prediction':<40}{'dataset':>9}{'neurons':>9}{'corr':>8}{'spearman':>10}{'auc':>8}"
        f"{'bits/s':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.prediction[-40:]:<40}{row.dataset:>9}{row.neurons:>9}{row.correlation:>8.3f}"
            f"{row.spearman:>10.3f}{row.auc:>8.3f}{row.info_gain:>9.3f}"
        )
    return "\n".join(lines)


def rows_as_dicts(rows: list[ScoreRow]) -> list[dict[str, object]]:
    """Score rows as plain dicts for JSON (NaN as None)."""
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(row).items()}
        for row in rows
    ]


def _row(prediction: str, dataset: str, scores: dict[str, np.ndarray]) -> ScoreRow:
    def mean(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")

    return ScoreRow(
        prediction,
        dataset,
        len(scores["correlation"]),
        mean(scores["correlation"]),
        mean(scores["spearman"]),
        mean(scores["auc"]),
        mean(scores["info_gain"]),
    )


def _order(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (1 << 30, key)


def _spike_files(path: Path) -> dict[str, Path]:
    if path.is_dir():
        found = {}
        for file in sorted(path.glob("*spikes.csv")):
            match = _DATASET.match(file.name)
            if match:
                found[match.group(1)] = file
        if not found:
            raise FileNotFoundError(f"no N.*spikes.csv files in {path}")
        return found
    if not path.exists():
        raise FileNotFoundError(f"not found: {path}")
    match = _DATASET.match(path.name)
    return {match.group(1) if match else path.stem: path}


def _load(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        values = load_npy(path)  # names the file: an object array, a damaged header ...
        check_numeric_dtype(values.dtype, str(path))
        if values.ndim not in (1, 2):
            raise DataError(f"{path}: expected (neurons, frames), got shape {values.shape}")
        if values.size == 0:  # scores of nothing would be a row of NaN
            raise DataError(f"{path}: holds no values to score (shape {values.shape})")
        return np.atleast_2d(values.astype(np.float64))
    values, lengths = read_spikefinder_csv(path, gaps=True)
    values[np.arange(values.shape[1]) >= lengths[:, None]] = np.nan
    return values
