"""Regression against saved outputs (tests/golden, written by tests/golden/regenerate.py): a
seeded quick run's metrics and the shipped rate model's predictions on a fixed input. A
change of results fails here until the golden files are regenerated on purpose."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "golden"
_spec = importlib.util.spec_from_file_location("regenerate", GOLDEN / "regenerate.py")
assert _spec is not None and _spec.loader is not None
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)


def _compare(got, expected, path="metrics"):
    """Equal structure; numbers within a tolerance that allows other CPUs' rounding, not other
    results."""
    if isinstance(expected, dict):
        assert set(got) == set(expected), f"{path}: keys {sorted(set(got) ^ set(expected))} differ"
        for key in expected:
            _compare(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), f"{path}: length {len(got)} != {len(expected)}"
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _compare(a, b, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, abs=0.02, rel=0.02, nan_ok=True), path
    else:
        assert got == expected, path


def test_the_shipped_rate_model_predicts_what_it_did():
    saved = np.load(GOLDEN / "rate_model_predictions.npz")
    calcium, spikes = regenerate.rate_model_predictions()
    np.testing.assert_array_equal(
        calcium, saved["calcium"]
    )  # the fixed input itself did not change
    np.testing.assert_allclose(spikes, saved["spikes"], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_a_seeded_quick_run_scores_what_it_did():
    expected = json.loads((GOLDEN / "quick_run_metrics.json").read_text())
    _compare(json.loads(json.dumps(regenerate.quick_run_metrics())), expected)
