"""Shared fixtures and the plain-Python reference of the tutorial's windowing loop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def tutorial_windows(calcium, spikes=None, len_pre=10, len_post=10, skip=10, spike_n=2):
    """The tutorial's loop, verbatim in spirit: per neuron, drop the NaN tail, slide, z-score.

    Returns (windows float32 (N, L), did_spike bool (N,), neuron (N,), frame (N,)).
    """
    windows, labels, neurons, frames = [], [], [], []
    for n in range(calcium.shape[0]):
        trace = np.asarray(calcium[n], dtype=np.float64)
        valid = len(trace)
        while valid > 0 and np.isnan(trace[valid - 1]):
            valid -= 1
        trace = trace[:valid]
        counts = None if spikes is None else np.asarray(spikes[n], dtype=np.float64)[:valid]
        for i in range(len_pre, valid - len_post, skip):
            window = trace[i - len_pre : i + len_post]
            windows.append(
                ((window - np.mean(window)) / (np.std(window) + 1e-7)).astype(np.float32)
            )
            if counts is not None:
                labels.append(bool(np.any(counts[i - spike_n : i + spike_n] > 0)))
            neurons.append(n)
            frames.append(i)
    length = len_pre + len_post
    return (
        np.array(windows, dtype=np.float32).reshape(-1, length),
        np.array(labels, dtype=bool),
        np.array(neurons, dtype=np.int32),
        np.array(frames, dtype=np.int64),
    )


def robust_reference(trace: np.ndarray) -> np.ndarray:
    """Per-neuron median/MAD normalisation of one valid trace, in NumPy."""
    trace = np.asarray(trace, dtype=np.float64)
    centre = np.median(trace)
    scale = 1.482602218505602 * np.median(np.abs(trace - centre))
    if not scale > 0:
        scale = np.std(trace)
    if not scale > 0:
        scale = 1.0
    with np.errstate(over="ignore"):  # a MAD near float32's least normal: values beyond its
        return ((trace - centre) / scale).astype(np.float32)  # range are inf, as calspike's


def _data_dir(variable: str) -> Path:
    """The real-data folder named by environment `variable`; skips the test when it is unset."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set: real-data tests skipped")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"{variable}={value} is not a folder")
    return path


@pytest.fixture(scope="session")
def spikefinder_dir() -> Path:
    """The real SpikeFinder folder named by CALSPIKE_SPIKEFINDER_DIR; skips when unset."""
    return _data_dir("CALSPIKE_SPIKEFINDER_DIR")


@pytest.fixture(scope="session")
def cascade_dir() -> Path:
    """The CASCADE ground-truth folder named by CALSPIKE_CASCADE_GT_DIR; skips when unset."""
    return _data_dir("CALSPIKE_CASCADE_GT_DIR")


@pytest.fixture(scope="session")
def real_recordings(spikefinder_dir):
    import calspike

    return calspike.read_spikefinder(spikefinder_dir)


@pytest.fixture()
def small_recording():
    import calspike

    return calspike.simulate(neurons=4, frames=3_000, seed=7)
