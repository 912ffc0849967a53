"""The spike-rate model's training set: chunks of ground truth at the model's rate.

Each neuron is cut as recorded, as slower acquisitions would have given it and time-warped;
the chunks are grouped by dataset, and drawn with a balance between datasets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from calspike import config
from calspike.config import WARP_RANGE
from calspike.data.recording import Recording
from calspike.preprocess import (
    fill_gaps,
    noise_levels,
    rebin_counts,
    resample,
    resampled_length,
    robust_normalise,
    robust_scales,
)
from calspike.spikes.rate import dff_scale_values, model_input
from calspike.spikes.rate_datasets import dataset_of

AUGMENT_RATES_HZ = (
    60.0,
    30.0,
    15.0,
    7.5,
)  # acquisition rates simulated in training (besides the data's own)


@dataclass
class RateTrainingSet:
    """Chunks for the rate model, and where they come from.

    Inputs (N, leading + subframes x (chunk + 2 radius)), counts (N, chunk); with a
    ``dff_scale`` model's chunks, each input row starts with its trace's spread value.
    """

    inputs: np.ndarray
    counts: np.ndarray
    neuron: np.ndarray  # index into `names`
    version: (
        np.ndarray
    )  # 0: as recorded; then one per slower acquisition rate, then one per time warp
    names: list[str] = field(default_factory=list)
    normalised_noise: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # per neuron and rate version
    group: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int64)
    )  # index into `groups`, per chunk
    groups: list[str] = field(default_factory=list)  # datasets

    def joined(self, other: RateTrainingSet) -> RateTrainingSet:
        """Both sets' chunks; `other`'s neurons and datasets are renumbered after this set's."""
        return RateTrainingSet(
            np.concatenate([self.inputs, other.inputs]),
            np.concatenate([self.counts, other.counts]),
            np.concatenate([self.neuron, other.neuron + len(self.names)]),
            np.concatenate([self.version, other.version]),
            self.names + other.names,
            np.concatenate([self.normalised_noise, other.normalised_noise]),
            np.concatenate([self.group, other.group + len(self.groups)]),
            self.groups + other.groups,
        )

    def subset(self, keep: np.ndarray) -> RateTrainingSet:
        """The chunks selected by `keep`, a bool mask or indices (names, groups, noise kept)."""
        return RateTrainingSet(
            self.inputs[keep],
            self.counts[keep],
            self.neuron[keep],
            self.version[keep],
            self.names,
            self.normalised_noise,
            self.group[keep],
            self.groups,
        )


def rate_training_set(
    recordings: Iterable[Recording],
    model_rate: float,
    radius: int,
    *,
    chunk: int = 256,
    stride: int = 64,
    augment_rates: Sequence[float] = AUGMENT_RATES_HZ,
    threads: int = 0,
    subframes: int = 1,
    warps: Sequence[float] = (),
    dff_scale: bool = False,
) -> RateTrainingSet:
    """Cut every neuron with ground truth into overlapping chunks at the model's rate.

    Inputs (N, subframes x (chunk + 2 radius)) at the model's input rate, counts (N, chunk).

    Each neuron appears once as recorded and once per rate in `augment_rates` below its
    own (the trace resampled to that rate and back: what a slower acquisition would
    have given). Spike counts are rebinned to the model's rate, conserving counts.
    With `warps`, each neuron also appears once per factor w with its time axis stretched: read
    as if recorded at w x its rate, so that the indicator's rise and decay and the firing are
    w times faster (w < 1: slower), an indicator with other kinetics than any in the data.
    Dropped (NaN) frames are filled for resampling, and chunks that touch one are left out.
    Chunks are grouped by dataset (`dataset_of`). With `dff_scale`, each input row starts
    with ln(spread / 0.05) of its trace at the input rate (`dff_scale_values`).
    """
    for w in warps:
        if (
            isinstance(w, bool)
            or not isinstance(w, (int, float))
            or not WARP_RANGE[0] <= w <= WARP_RANGE[1]
        ):
            raise ValueError(f"warps must be time-stretch factors in {list(WARP_RANGE)}, got {w!r}")
    inputs, counts, neuron, version, names, noise, group = [], [], [], [], [], [], []
    groups: dict[str, int] = {}
    for recording in recordings:
        if recording.spikes is None:
            raise ValueError(
                f"{recording.name}: training the rate model needs spike counts (ground truth)"
            )
        dataset = groups.setdefault(dataset_of(recording), len(groups))
        for row in range(recording.neurons):
            n = int(recording.lengths[row])
            if n == 0:
                continue
            names.append(
                f"{recording.name}/{recording.neuron_name(row)}"
                if recording.neuron_names
                else recording.neuron_name(row)
            )
            trace, dropped = fill_gaps(recording.calcium[row : row + 1, :n])
            # (the rate the trace is read at, the acquisition rate it is resampled through)
            views = [(recording.rate, recording.rate)]
            views += [(recording.rate, r) for r in augment_rates if r < recording.rate]
            views += [(recording.rate * w, recording.rate * w) for w in warps if w != 1]
            at_rate: dict[
                float, tuple[np.ndarray, int, np.ndarray]
            ] = {}  # per read rate: counts, length, unusable
            for kind, (read_rate, acquisition) in enumerate(views):
                if read_rate not in at_rate:
                    truth, truth_length = _counts_at(
                        recording.spikes[row : row + 1, :n], read_rate, model_rate, threads
                    )
                    # a model frame is unusable when any input frame it overlaps was dropped
                    at_rate[read_rate] = (
                        truth,
                        truth_length,
                        rebin_counts(
                            dropped.astype(np.float32),
                            read_rate,
                            model_rate,
                            [truth_length],
                            threads=threads,
                        )[0]
                        > 0,
                    )
                truth, truth_length, unusable = at_rate[read_rate]
                slow = (
                    trace
                    if acquisition == read_rate
                    else resample(trace, read_rate, acquisition, threads=threads)[0]
                )
                fine, fine_lengths = resample(
                    slow, acquisition, model_rate * subframes, threads=threads
                )
                length = min(int(fine_lengths[0]) // subframes, truth_length)
                normalised = robust_normalise(fine[:, : subframes * length], [subframes * length])[
                    0
                ]
                noise.append(noise_levels(normalised, model_rate * subframes)[0])
                padded = model_input(normalised, length, radius, subframes)
                if dff_scale:
                    spread = robust_scales(fine, [subframes * length], threads)
                    padded = np.concatenate([dff_scale_values(spread), padded])
                lead = int(dff_scale)
                # a dropped frame spoils the chunks whose context (radius frames) reaches it
                spoiled = np.concatenate(
                    [[0], np.cumsum(model_input(unusable[:length], length, radius, 1))]
                )
                for start in range(0, length - chunk + 1, stride):
                    if spoiled[start + chunk + 2 * radius] - spoiled[start] > 0:
                        continue
                    window = padded[
                        lead + subframes * start : lead + subframes * (start + chunk + 2 * radius)
                    ]
                    inputs.append(np.concatenate([padded[:lead], window]) if lead else window)
                    counts.append(truth[start : start + chunk])
                    neuron.append(len(names) - 1)
                    version.append(kind)
                    group.append(dataset)
    if not inputs:
        raise ValueError(
            f"no neuron is long enough for one chunk of {chunk} frames at {model_rate:g} Hz"
        )
    return RateTrainingSet(
        np.stack(inputs).astype(np.float32),
        np.stack(counts).astype(np.float32),
        np.array(neuron, dtype=np.int64),
        np.array(version, dtype=np.int64),
        names,
        np.array(noise),
        np.array(group, dtype=np.int64),
        list(groups),
    )


def balanced_draw(chunks: RateTrainingSet, samples: int, balance: float, seed: int) -> np.ndarray:
    """`samples` chunk indices drawn with replacement, dataset d's share ~ n_d ** (1 - balance).

    n_d its chunks: 0 keeps the data's proportions, 1 gives every dataset the same share
    (small datasets are not drowned by the large jGCaMP8 ones).
    """
    balance = config.check({"balance": balance})["balance"]
    sizes = np.bincount(chunks.group, minlength=len(chunks.groups)).astype(np.float64)
    share = np.where(sizes > 0, sizes ** (1 - balance), 0.0)
    weights = (share / share.sum() / np.maximum(sizes, 1))[chunks.group]
    return np.random.default_rng([seed, 11]).choice(
        len(chunks.group), size=samples, p=weights / weights.sum()
    )


def simulated_neurons(per_indicator: int, seed: int = 0) -> list[Recording]:
    """`per_indicator` simulated neurons of each indicator (GCaMP6s, GCaMP6f, OGB-1), seeded.

    200 s at 100 Hz each, single-spike SNR drawn from 1 to 10 and noise correlated over 0 to 80 ms.
    """
    from calspike.data import INDICATORS, simulate

    rng = np.random.default_rng([seed, 7])
    neurons = [
        simulate(
            1,
            20_000,
            100.0,
            indicator,
            snr=float(rng.uniform(1, 10)),
            noise_correlation_s=float(rng.uniform(0, 0.08)),
            seed=rng,
            name=f"sim-{indicator}-{k}",
        )
        for indicator in INDICATORS
        for k in range(per_indicator)
    ]
    return [
        replace(n, metadata={"dataset": "simulated", "source": "calspike simulator"})
        for n in neurons
    ]


def _counts_at(
    spikes: np.ndarray, rate: float, model_rate: float, threads: int
) -> tuple[np.ndarray, int]:
    length = resampled_length(spikes.shape[1], rate, model_rate)
    return rebin_counts(spikes, rate, model_rate, [length], threads=threads)[0], length
