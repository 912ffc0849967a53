"""Training sets from Windows (calspike.windows.sampling).

Neuron splits, balanced subsets; feature lists.
"""

import numpy as np
import pytest

import calspike
from calspike.feature_stacks import parse_features
from calspike.windows import sampling


def test_labelled_subset_is_balanced_capped_and_names_impossible_requests():
    windows = calspike.partition(calspike.simulate(6, 5_000, 100.0, seed=1))
    split = sampling.neuron_split(windows, seed=3)
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(6))
    index = sampling.labelled_subset(windows, split["train"], max_windows=100, seed=0)
    assert index.size == 100 and windows.did_spike[index].sum() == 50
    assert set(windows.neuron[index].tolist()) <= set(split["train"].tolist())
    quiet = calspike.Windows(
        windows.windows,
        np.zeros(len(windows), bool),
        windows.neuron,
        windows.frame,
        windows.neuron_names,
        windows.skipped,
        windows.params,
    )
    with pytest.raises(ValueError, match=r"cannot balance the windows of 2 neuron\(s\): 0 spike"):
        sampling.labelled_subset(quiet, np.array([0, 1]))
    with pytest.raises(ValueError, match="no windows belong to the chosen neurons"):
        sampling.labelled_subset(windows, np.array([99]))


def test_parse_features():
    assert parse_features("raw, delta") == ["raw", "delta"]
    with pytest.raises(ValueError, match="features must be a comma-separated list"):
        parse_features("raw,wavelet")
