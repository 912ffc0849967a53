"""The rate model's count calibration, and training on chunks cut once (cross-validation).

`count_scale` compares a trained model's predicted spikes with the true spikes of its
training neurons; the factor goes in the checkpoint's card and `infer_spike_rates`
multiplies the outputs by it. `fit_rate_chunks` trains as `train_rate_model` does without
validation, on some of a set of chunks cut once for every fold of a benchmark.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from calspike.models import SpikeRateModel
from calspike.spikes.rate_chunks import RateTrainingSet, balanced_draw
from calspike.training import fit


def fit_rate_chunks(
    model: SpikeRateModel,
    chunks: RateTrainingSet,
    keep: np.ndarray,
    *,
    samples: int,
    balance: float,
    epochs: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> SpikeRateModel:
    """Train `model` on the chunks `keep` (indices) of a set cut once, no validation.

    As `train_rate_model` trains without validation (`samples` drawn with `balance`, then
    `fit`), for cross-validation that cuts every dataset once and trains one model per fold.
    A set cut with ``dff_scale`` trains a model without it on its inputs less the first value.
    """
    drawn = keep[balanced_draw(replace(chunks, group=chunks.group[keep]), samples, balance, seed)]
    inputs = chunks.inputs[drawn]
    if model.leading < inputs.shape[1] - model.subframes * (
        chunks.counts.shape[1] + 2 * model.radius
    ):
        inputs = np.ascontiguousarray(inputs[:, 1:])
    counts = chunks.counts[drawn]
    fit(
        model,
        inputs,
        counts,
        validation=None,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=None,
        seed=seed,
        device=device,
        progress=False,
    )
    return model


@torch.inference_mode()
def count_scale(model: SpikeRateModel, chunks: RateTrainingSet, keep: np.ndarray) -> float:
    """Spikes per predicted spike of `model` on the chunks `keep` as recorded (no augmentation).

    Each neuron's true and predicted spikes are summed over its chunks; the scale is the
    median over datasets of each dataset's median true / predicted ratio over its neurons
    with spikes (datasets weigh alike, as families do in the model card). 1.0 when no
    neuron has spikes. `infer_spike_rates` multiplies the outputs by it (``count_scale`` of
    the card).
    """
    chosen = keep[chunks.version[keep] == 0]
    model = model.eval()
    device = next(model.parameters()).device
    predicted = np.zeros(len(chunks.names))
    true = np.zeros(len(chunks.names))
    drop = int(
        chunks.inputs.shape[1] - model.subframes * (chunks.counts.shape[1] + 2 * model.radius)
    )
    for first in range(0, chosen.size, 512):
        batch = chosen[first : first + 512]
        inputs = torch.from_numpy(
            np.ascontiguousarray(chunks.inputs[batch][:, drop - model.leading :])
        )
        out = model(inputs.to(device)).float().cpu().numpy()
        np.add.at(predicted, chunks.neuron[batch], out.sum(axis=1))
        np.add.at(true, chunks.neuron[batch], chunks.counts[batch].sum(axis=1))
    dataset = np.zeros(len(chunks.names), np.int64)
    dataset[chunks.neuron[chosen]] = chunks.group[chosen]
    usable = (true > 0) & (predicted > 0)
    medians = [
        float(np.median(true[usable & (dataset == d)] / predicted[usable & (dataset == d)]))
        for d in np.unique(dataset[usable])
    ]
    return float(np.median(medians)) if medians else 1.0
