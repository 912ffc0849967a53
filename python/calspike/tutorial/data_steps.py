"""The first two steps of `calspike run`: the recordings, and their windows split by neuron."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from calspike.data import Recording, default_recordings, load_recordings
from calspike.tutorial import plots
from calspike.tutorial.context import RunContext, labels
from calspike.windows import WINDOW_SETTINGS, Windows, partition, sampling

TUTORIAL_FRESH_WINDOWS = 1_000  # the tutorial's PCA and SVM windows (`--tutorial`)
SVM_TRAIN_WINDOWS = 20_000  # calspike's probe: the first of the (shuffled) training windows
PARTS = ("train", "vae_train", "val", "test", "svm_train", "fresh")


@dataclass(frozen=True)
class LoadedRecordings:
    """The recordings of a run.

    Attributes
    ----------
    recordings : list of Recording
        Each with ground-truth spikes.
    frame_rate : float
        The rate in Hz the figures' time axes use: the recordings' own, or 100 Hz when their
        rates differ.
    frames : int
        Frames of all neurons together (the partition's work).
    """

    recordings: list[Recording]
    frame_rate: float
    frames: int


def read_recordings(
    context: RunContext, data: str | os.PathLike[str] | None, rate: float | None, source: str
) -> LoadedRecordings:
    """The recordings at `data` (None: the built-in simulated ones); draws figures/traces.png.

    ValueError (naming `source`) when a recording has no ground-truth spikes.
    """
    recordings: list[Recording] = (
        default_recordings(context.params["seed"]) if data is None else load_recordings(data, rate)
    )
    if any(r.spikes is None for r in recordings):
        raise ValueError(f"{source}: calspike run needs ground-truth spikes for every recording")
    rates = {r.rate for r in recordings}
    common = recordings[0].rate if len(rates) == 1 else float("nan")
    context.figure("traces", plots.sample_traces(recordings))
    return LoadedRecordings(
        recordings,
        common if np.isfinite(common) else 100.0,
        sum(int(np.asarray(r.calcium).size) for r in recordings),
    )


@dataclass(frozen=True)
class Split:
    """The windows of each part of a run, drawn balanced from the neurons of its part.

    Attributes
    ----------
    train : Windows
        The classifier's training windows (training neurons, at most max_windows, shuffled).
    test : Windows
        The held-out neurons' windows: every score is on these.
    svm_train : Windows
        calspike's probe's training windows: the first 20,000 of `train`.
    val : Windows or None
        The validation neurons' windows, for early stopping; None in tutorial mode.
    vae_draw : Windows or None
        The VAEs' own draw of training windows (vae_windows > 0); None: they train on `train`.
    fresh : Windows or None
        Tutorial mode's fresh 1,000 windows of the training neurons, for its PCA and SVM.
    metrics : dict
        The report's "data" (one row per recording), "split" (neuron names per part) and
        "windows" (counts per part).
    """

    train: Windows
    test: Windows
    svm_train: Windows
    val: Windows | None
    vae_draw: Windows | None
    fresh: Windows | None
    metrics: dict[str, Any]

    @property
    def vae_train(self) -> Windows:
        """The VAEs' training windows."""
        return self.train if self.vae_draw is None else self.vae_draw

    def canonical(self, part: str) -> str:
        """The name of the part whose windows `part` is ("vae_train" may be "train")."""
        if part not in PARTS:
            raise ValueError(f"no part {part!r}: one of {', '.join(PARTS)}")
        return "train" if part == "vae_train" and self.vae_draw is None else part

    def windows(self, part: str) -> Windows:
        """The windows of `part` (one of PARTS); ValueError for a part this run has not."""
        found: Windows | None = getattr(self, self.canonical(part))
        if found is None:
            raise ValueError(f"this run has no {part} windows")
        return found


def split_windows(context: RunContext, loaded: LoadedRecordings) -> Split:
    """Partition the recordings and split the windows by neuron; draws figures/windows.png."""
    p, recordings = context.params, loaded.recordings
    window_params = {k: p[k] for k in WINDOW_SETTINGS}
    train_skip = max(1, p["train_skip"])
    held_out = partition(recordings, threads=p["threads"], **window_params)
    training = (
        held_out
        if train_skip == p["skip"]
        else partition(recordings, threads=p["threads"], **{**window_params, "skip": train_skip})
    )
    split = sampling.neuron_split(held_out, p["seed"])
    context.figure(
        "windows",
        plots.example_windows(
            held_out.windows, labels(held_out), p["len_pre"], loaded.frame_rate, seed=p["seed"]
        ),
    )

    def draw(windows: Windows, part: str, most: int | None, seed: int) -> Windows:
        return windows.subset(
            sampling.labelled_subset(windows, split[part], max_windows=most, seed=seed)
        )

    train = draw(training, "train", p["max_windows"], p["seed"])
    vae_draw = (
        draw(training, "train", p["vae_windows"], p["seed"] + 1) if p["vae_windows"] else None
    )
    # the tutorial stops nothing early: its validation neurons go unused
    val = None if context.tutorial else draw(held_out, "val", None, p["seed"])
    test = draw(held_out, "test", None, p["seed"])
    svm_train = train.subset(np.arange(min(len(train), SVM_TRAIN_WINDOWS)))  # train is shuffled
    # the tutorial's PCA and SVM: a fresh balanced draw of 1,000 windows of the training neurons
    fresh = (
        draw(training, "train", TUTORIAL_FRESH_WINDOWS, p["seed"] + 2) if context.tutorial else None
    )
    counts = {
        "train": len(train),
        "vae_train": len(train if vae_draw is None else vae_draw),
        "val": 0 if val is None else len(val),
        "test": len(test),
        "train_skip": train_skip,
        "balanced": True,
        **({"fresh": len(fresh)} if fresh is not None else {}),
    }
    metrics = {
        "data": data_table(recordings, held_out),
        "split": {
            part: [held_out.neuron_names[n] for n in neurons] for part, neurons in split.items()
        },
        "windows": counts,
    }
    return Split(train, test, svm_train, val, vae_draw, fresh, metrics)


def data_table(recordings: list[Recording], windows: Windows) -> list[dict[str, Any]]:
    """One row per recording.

    Its name, neurons, rate (Hz), valid frames, windows (of `windows`) and spike fraction.
    """
    rows: list[dict[str, Any]] = []
    start = 0  # the first neuron of the recording, in the windows' numbering
    for recording in recordings:
        mine = (windows.neuron >= start) & (windows.neuron < start + recording.neurons)
        start += recording.neurons
        spiked = windows.did_spike[mine] if windows.did_spike is not None else np.zeros(0, bool)
        rows.append(
            {
                "recording": recording.name,
                "neurons": recording.neurons,
                "rate_hz": recording.rate,
                "frames": recording.valid_frames,
                "windows": int(mine.sum()),
                "spike_fraction": float(spiked.mean()) if spiked.size else float("nan"),
            }
        )
    return rows
