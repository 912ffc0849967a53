"""The models: the tutorial's window models and the spike-rate model, on one base class.

`build_model(kind, config)` rebuilds any of them from a checkpoint's kind and config.
"""

from __future__ import annotations

from typing import Any

import torch

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


# Each size has its range in the schema, but together they could still ask for billions of
# weights (hidden 4096 x 16 bidirectional layers: 26 GB): a config is first built on PyTorch's
# meta device, which allocates nothing, and refused above this many parameters (400 MB).
MAX_PARAMETERS = 100_000_000


def build_model(kind: str, config: dict[str, Any]) -> CalspikeModel:
    """A model of class `kind` (a key of MODELS, e.g. "SpikeClassifier") built from its `config`.

    ValueError for an unknown kind, a bad setting, or more than MAX_PARAMETERS weights in all
    (counted before any is allocated).
    """
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}: choose from {', '.join(MODELS)}")
    with torch.device("meta"):
        weights = sum(p.numel() for p in MODELS[kind](**config).parameters())
    if weights > MAX_PARAMETERS:
        raise ValueError(
            f"a {kind} of {weights:,} weights is larger than calspike builds "
            f"(at most {MAX_PARAMETERS:,}); its config: {config}"
        )
    return MODELS[kind](**config)
