"""The run's feature stacks: one per part, found by the part's name, whatever object asks."""

from __future__ import annotations

import numpy as np
import pytest

import calspike
from calspike.tutorial.data_steps import Split
from calspike.tutorial.stacks import FeatureStacks

KINDS = ["raw", "delta"]


def _split(vae_draw: bool) -> Split:
    windows = calspike.partition(
        calspike.simulate(4, 2_000, 30.0, seed=3), normalize="neuron", threads=1
    )
    train = windows.subset(np.arange(0, 200))
    return Split(
        train=train,
        test=windows.subset(np.arange(200, 300)),
        svm_train=train.subset(np.arange(100)),
        val=None,
        vae_draw=windows.subset(np.arange(300, 350)) if vae_draw else None,
        fresh=None,
        metrics={},
    )


def test_each_stack_is_computed_once_and_the_vaes_share_the_training_stack(monkeypatch):
    from calspike import _core

    calls = []
    real = _core.features

    def counting(windows, kinds, threads):
        calls.append((windows.shape, tuple(kinds)))
        return real(windows, kinds, threads)

    monkeypatch.setattr(_core, "features", counting)
    stacks = FeatureStacks(_split(vae_draw=False))
    train = stacks.stack("train", KINDS)
    assert stacks.stack("vae_train", KINDS) is train  # no draw of their own: the same windows
    assert stacks.stack("train", tuple(KINDS)) is train
    assert train.shape == (200, 20, 2)
    centred = stacks.stack("vae_train", KINDS, centred=True)
    assert stacks.stack("train", KINDS, centred=True) is centred
    assert np.abs(train[..., 0].mean(axis=1)).max() > 0.1  # windows at their own levels
    np.testing.assert_allclose(centred[..., 0].mean(axis=1), 0.0, atol=1e-5)
    assert stacks.windows("train", centred=True) is stacks.windows("vae_train", centred=True)
    assert len(calls) == 2, calls


def test_the_vaes_own_draw_has_its_own_stack():
    stacks = FeatureStacks(_split(vae_draw=True))
    assert stacks.stack("vae_train", KINDS).shape == (50, 20, 2)
    assert stacks.stack("train", KINDS).shape == (200, 20, 2)


def test_a_part_the_run_has_not_is_named():
    stacks = FeatureStacks(_split(vae_draw=False))
    with pytest.raises(ValueError, match="this run has no val windows"):
        stacks.stack("val", KINDS)
    with pytest.raises(ValueError, match="no part 'validation'"):
        stacks.windows("validation")
