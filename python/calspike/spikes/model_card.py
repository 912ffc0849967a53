"""The rate model's card: what it was trained on and the ranges of input it knows.

A checkpoint keeps the card as a plain dict (its ``extra``: `train_rate_model` writes it,
`load_rate_model` returns it); `ModelCard.from_dict` is the one place its keys are read and
`ModelCard.to_dict` gives the same dict back, keys this version does not know included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

_RANGES = ("normalised_noise_range", "frame_rate_range_hz", "dff_spread_range")


@dataclass(frozen=True)
class ModelCard:
    """A typed view of a rate-model checkpoint's training metadata.

    Every field is None when the checkpoint does not record it (older or hand-made ones).

    Attributes
    ----------
    model_rate_hz : float or None
        The model's output rate in Hz.
    train_neurons : list of str or None
        The training neurons, "recording/neuron".
    train_datasets : dict or None
        Per training dataset: rows, hours, spikes, rates_hz and indicator (the card's table).
    normalised_noise_range : (low, high) or None
        Normalised noise levels seen in training, augmentation included (1 / sqrt(Hz)).
    frame_rate_range_hz : (low, high) or None
        Frame rates seen in training, augmentation included, in Hz.
    dff_spread_range : (low, high) or None
        Robust spreads of the training traces in dF/F (a ``dff_scale`` model's input),
        augmentation included.
    chunk : int or None
        Model frames per training chunk.
    augment_rates_hz : list of float or None
        Acquisition rates simulated in training, in Hz.
    balance : float or None
        How evenly the datasets were drawn (`balanced_draw`).
    time_warps : list of float or None
        Time-stretch factors of the training data.
    count_scale : float or None
        Spikes per predicted spike: inference multiplies the model's outputs by it. Fitted
        after training (`calspike.spikes.rate_calibration.count_scale`) so that the training
        neurons' predicted spikes match their true spikes in the median; None is 1.
    initialised_from : dict or None
        A fine-tuned model's start: ``{"model": ..., "train_datasets": [...]}``.
    other : dict
        Keys this version does not know, kept as they are.
    """

    model_rate_hz: float | None = None
    train_neurons: list[str] | None = None
    train_datasets: dict[str, dict[str, Any]] | None = None
    normalised_noise_range: tuple[float, float] | None = None
    frame_rate_range_hz: tuple[float, float] | None = None
    dff_spread_range: tuple[float, float] | None = None
    chunk: int | None = None
    augment_rates_hz: list[float] | None = None
    balance: float | None = None
    time_warps: list[float] | None = None
    count_scale: float | None = None
    initialised_from: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, extra: Mapping[str, Any] | None) -> ModelCard:
        """The card of a checkpoint's ``extra`` dict (None or {} for a checkpoint without one)."""
        known = {f.name for f in fields(cls)} - {"other"}
        extra = dict(extra or {})
        for key in _RANGES:  # a range that is not (low, high) is no range: kept, unread
            value = extra.get(key)
            if value is not None and not (isinstance(value, (list, tuple)) and len(value) == 2):
                known.discard(key)
        values = {key: value for key, value in extra.items() if key in known}
        for key in _RANGES:
            if values.get(key) is not None:
                values[key] = (values[key][0], values[key][1])
        rest = {key: value for key, value in extra.items() if key not in known}
        return cls(**values, other=rest)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``extra`` dict: the recorded fields in order, ranges as lists."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "other" or value is None:
                continue
            out[f.name] = list(value) if f.name in _RANGES else value
        return {**out, **self.other}

    @property
    def trained_on(self) -> dict[str, dict[str, Any]] | list[str] | None:
        """What the sidecar names as the training data: the datasets' table, else the neurons."""
        return self.train_datasets or self.train_neurons

    def fine_tuned_from(self, base: ModelCard, init: str) -> ModelCard:
        """The card of a model fine-tuned from `base`'s model (`init` names it), this one's data.

        Its ranges widened to the starting model's (it keeps much of what that one learned),
        and where it started.
        """
        widened: dict[str, Any] = {}
        for key in _RANGES:
            mine, theirs = getattr(self, key), getattr(base, key)
            if mine is not None and theirs is not None:
                low, high = (float(v) for v in theirs)
                widened[key] = (min(mine[0], low), max(mine[1], high))
        started = {"model": init, "train_datasets": sorted(base.train_datasets or {})}
        return replace(self, **widened, initialised_from=started)


def as_range(values: Sequence[float] | None) -> list[float] | None:
    """A card's (low, high) as the JSON list the sidecar records, or None."""
    return None if values is None else list(values)
