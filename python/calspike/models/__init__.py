"""The models: the tutorial's window models and the spike-rate model, on one base class.

`build_model(kind, config)` rebuilds any of them from a checkpoint's kind and config.
"""

from __future__ import annotations

from typing import Any

from calspike.models.base import CalspikeModel, gaussian_kl, reparameterise
from calspike.models.rate_model import SpikeRateModel
from calspike.models.toy_vae import ToyVAE, one_hot_digits
from calspike.models.window_models import CalciumVAE, SpikeClassifier

__all__ = [
    "CalciumVAE",
    "CalspikeModel",
    "SpikeClassifier",
    "SpikeRateModel",
    "ToyVAE",
    "build_model",
    "gaussian_kl",
    "one_hot_digits",
    "reparameterise",
]


MODELS: dict[str, type[CalspikeModel]] = {
    model.kind: model for model in (SpikeClassifier, CalciumVAE, ToyVAE, SpikeRateModel)
}


def build_model(kind: str, config: dict[str, Any]) -> CalspikeModel:
    """A model of class `kind` (a key of MODELS, e.g. "SpikeClassifier") built from its `config`."""
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}: choose from {', '.join(MODELS)}")
    return MODELS[kind](**config)
