"""The rate model's training data by dataset: loaded from files, chosen, summarised for its card.

A recording's dataset is its metadata's ``dataset`` (CASCADE's DSxx, SpikeFinder's SFn), else
its name; `calspike train-rate --exclude` names datasets this way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from calspike.data import load_recordings
from calspike.data.recording import Recording


def dataset_of(recording: Recording) -> str:
    """The dataset a recording belongs to: its metadata's ``dataset``, else its name."""
    return str(recording.metadata.get("dataset", recording.name))


def ground_truth_recordings(
    sources: Sequence[str | os.PathLike[str]], rate: float | None
) -> list[Recording]:
    """Every recording of `sources` (CASCADE, SpikeFinder, arrays), in order; `rate` in Hz.

    `rate` is for files that do not store one.
    """
    return [recording for source in sources for recording in load_recordings(source, rate)]


def dataset_names(recording: Recording) -> set[str]:
    """The names that choose a recording: its dataset, its CASCADE folder and its own name."""
    return {dataset_of(recording), str(recording.metadata.get("folder", "")), recording.name}


def unknown_datasets(recordings: Sequence[Recording], names: Sequence[str]) -> list[str]:
    """The `names` that choose none of `recordings` (`dataset_names`), in order."""
    return [name for name in names if not any(name in dataset_names(r) for r in recordings)]


def without_datasets(recordings: Sequence[Recording], exclude: Sequence[str]) -> list[Recording]:
    """`recordings` less those that a name in `exclude` chooses (`dataset_names`)."""
    return [r for r in recordings if not dataset_names(r) & set(exclude)]


def datasets_summary(recordings: Sequence[Recording], kept: set[str]) -> dict[str, dict[str, Any]]:
    """Per training dataset in `kept`: rows, hours, spikes, indicator and rates (Hz).

    The model card's table (`ModelCard.train_datasets`).
    """
    summary: dict[str, dict[str, Any]] = {}
    for recording in recordings:
        name = dataset_of(recording)
        if name not in kept:
            continue
        entry = summary.setdefault(
            name,
            {
                "rows": 0,
                "hours": 0.0,
                "spikes": 0.0,
                "rates_hz": [],
                "indicator": recording.metadata.get("indicator", "unknown"),
            },
        )
        assert recording.spikes is not None  # training data: spike counts
        entry["rows"] += recording.neurons
        entry["hours"] += float(recording.lengths.sum()) / recording.rate / 3600
        entry["spikes"] += float(np.nansum(recording.spikes))
        entry["rates_hz"] = sorted({*entry["rates_hz"], round(recording.rate, 1)})
    return summary
