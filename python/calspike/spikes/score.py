"""Scoring spike predictions the SpikeFinder way.

The per-neuron metrics (Pearson r of counts in 40 ms bins, Spearman r, ROC AUC, Poisson
information gain) and the scoring of prediction files against ground truth files, one row
per prediction and dataset.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from calspike.config import check_rate
from calspike.data import DataError, read_spikefinder_csv
from calspike.data.recording import check_numeric_dtype
from calspike.errors import NoGroundTruthWarning as NoGroundTruthWarning  # noqa: PLC0414 - re-exported

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
            scores = score_neurons(expected, prediction_values, rate=rate)
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
            f"{truth_path}: neuron(s) {_listed(no_truth)} have no ground truth (all NaN): they score "
            "NaN and are left out of the means",
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
    from calspike.spikes.files import SIDECAR

    for sidecar in (path.with_name(path.name + ".json"), path.parent / SIDECAR):
        if not sidecar.is_file():
            continue
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"{sidecar}: not a readable calspike sidecar ({error})") from None
        files = record.get("files") if isinstance(record, dict) else None
        if not isinstance(files, dict):
            continue  # not written by calspike infer
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
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    match = _DATASET.match(path.name)
    return {match.group(1) if match else path.stem: path}


def _load(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        with open(path, "rb") as stream:
            values = np.load(stream, allow_pickle=False)
        check_numeric_dtype(values.dtype, str(path))
        if values.ndim not in (1, 2):
            raise DataError(f"{path}: expected (neurons, frames), got shape {values.shape}")
        return np.atleast_2d(values.astype(np.float64))
    values, lengths = read_spikefinder_csv(path, gaps=True)
    values[np.arange(values.shape[1]) >= lengths[:, None]] = np.nan
    return values


# SpikeFinder's metrics, per neuron

SPIKEFINDER_BINS = 4  # 100 Hz summed in groups of 4: 25 Hz


def _unit_scaled(values: np.ndarray) -> np.ndarray:
    """`values` scaled by a power of two to a largest magnitude in [0.5, 1).

    So sums of squares cannot overflow. A power of two scales exactly: equal sums stay equal
    (ranks and ties are kept).
    """
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if not (largest > 0 and np.isfinite(largest)):
        return values
    scaled: np.ndarray = np.ldexp(values, -np.frexp(largest)[1])
    return scaled


def _paired_bins(
    truth: np.ndarray, prediction: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frames where both are defined, summed in consecutive groups of `bins` (a partial last group dropped)."""
    truth = np.asarray(truth, dtype=np.float64).ravel()
    prediction = np.asarray(prediction, dtype=np.float64).ravel()
    if truth.shape != prediction.shape:
        raise ValueError(
            f"truth and prediction must have the same length, got {truth.size} and {prediction.size}"
        )
    keep = ~(np.isnan(truth) | np.isnan(prediction))
    # Every score here ignores the prediction's scale: scaling it first keeps bin sums finite.
    truth, prediction = truth[keep], _unit_scaled(prediction[keep])
    usable = truth.size // bins * bins
    return (
        truth[:usable].reshape(-1, bins).sum(axis=1),
        prediction[:usable].reshape(-1, bins).sum(axis=1),
    )


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    # r does not change with scale; scaling first keeps 1e300-sized predictions finite.
    x, y = _unit_scaled(x), _unit_scaled(y)
    x, y = _unit_scaled(x - x.mean()), _unit_scaled(y - y.mean())
    norm = np.sqrt(np.dot(x, x)) * np.sqrt(np.dot(y, y))
    return (
        float(np.dot(x, y) / norm) if norm > 0 else 0.0
    )  # a constant prediction carries no information


def spikefinder_correlation(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS
) -> float:
    """SpikeFinder's official score for one neuron: Pearson r of spike counts summed over `bins` frames.

    Frames where either side is NaN are dropped first. A constant prediction scores 0; fewer
    than two bins give NaN.
    """
    return _pearson(*_paired_bins(truth, prediction, bins))


def spearman_correlation(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS
) -> float:
    """Rank correlation (average ranks for ties) of the binned counts, as `spikefinder_correlation`."""
    x, y = _paired_bins(truth, prediction, bins)
    return _pearson(pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy())


def spikefinder_auc(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS
) -> float:
    """ROC AUC separating bins with spikes from bins without, by the binned prediction (NaN: one class)."""
    x, y = _paired_bins(truth, prediction, bins)
    return _roc_auc(x > 0, y)


def poisson_information_gain(
    truth: np.ndarray,
    prediction: np.ndarray,
    rate: float = 100.0,
    bins: int = SPIKEFINDER_BINS,
    floor: float = 0.01,
) -> float:
    """Information the prediction carries about the spike counts, in bits per second.

    On the counts binned as `spikefinder_correlation` does: the Poisson log-likelihood of the
    true counts under the predicted rate minus that under a constant rate (the true mean),
    per second of recording (`rate` is the frames' rate in Hz). Predictions are in arbitrary
    units, so they are scaled to the true mean count (the maximum-likelihood gain) and mixed
    with `floor` x the constant rate, so that a zero prediction where a spike fell costs a
    finite penalty. 0: no better than a constant rate; negative: worse. NaN without spikes.
    """
    counts, predicted = _paired_bins(truth, prediction, bins)
    if counts.size == 0 or counts.sum() <= 0:
        return float("nan")
    predicted = _unit_scaled(
        np.maximum(predicted, 0.0)
    )  # only its shape matters: it is rescaled below
    mean = counts.mean()
    scaled = (
        predicted * (mean / predicted.mean()) if predicted.sum() > 0 else np.full_like(counts, mean)
    )
    expected = (1 - floor) * scaled + floor * mean
    gain_nats = np.sum(counts * np.log(expected / mean) - (expected - mean))
    seconds = counts.size * bins / rate
    return float(gain_nats / np.log(2) / seconds)


def score_neurons(
    truth: np.ndarray, prediction: np.ndarray, bins: int = SPIKEFINDER_BINS, rate: float = 100.0
) -> dict[str, np.ndarray]:
    """Per-neuron correlation, spearman, auc and info_gain (bits/s; `rate` in Hz).

    Of (neurons, frames) arrays (NaN padding allowed).
    """
    truth, prediction = np.atleast_2d(truth), np.atleast_2d(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(
            f"truth {truth.shape} and prediction {prediction.shape} must have the same shape"
        )
    if truth.ndim != 2:
        raise ValueError(f"truth and prediction must be (neurons, frames), got shape {truth.shape}")
    check_rate(rate, "rate")
    for name, values in (("truth", truth), ("prediction", prediction)):
        check_numeric_dtype(values.dtype, name)
        bad = np.isinf(values) | ((values < 0) if name == "truth" else False)
        if bad.any():
            row, frame = (int(v) for v in np.argwhere(bad)[0])
            kind = "infinite" if np.isinf(values[row, frame]) else "a negative spike count"
            raise ValueError(f"{name} is {kind} at neuron {row}, frame {frame}")
    scores = {
        name: np.array([function(t, p, bins) for t, p in zip(truth, prediction, strict=True)])
        for name, function in (
            ("correlation", spikefinder_correlation),
            ("spearman", spearman_correlation),
            ("auc", spikefinder_auc),
        )
    }
    scores["info_gain"] = np.array(
        [poisson_information_gain(t, p, rate, bins) for t, p in zip(truth, prediction, strict=True)]
    )
    return scores


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (ties counted half); NaN when a class is empty."""
    from sklearn.metrics import roc_auc_score

    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))
