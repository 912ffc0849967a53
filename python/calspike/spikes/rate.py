"""Spike-rate inference for every frame of every neuron with the convolutional rate model.

The pipeline for a trace at any frame rate: fill dropped (NaN) frames by interpolation,
resample (C++, anti-aliased) to the model's rate, normalise per neuron (median and MAD
of the whole trace, in C++), pad the edges with the edge values, run the model in tiles
(memory grows with frames, never frames x window), map the expected spikes back to the
input's frames conserving counts, and put NaN back on the dropped frames.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike import config
from calspike.config import check_rate
from calspike.data.recording import (
    DataError,
    Recording,
    check_float32_range,
    check_lengths,
    check_numeric_dtype,
    warn_empty_neurons,
)
from calspike.errors import FrameRateWarning as FrameRateWarning  # noqa: PLC0414 - re-exported
from calspike.errors import NoiseWarning as NoiseWarning  # noqa: PLC0414 - re-exported
from calspike.models import SpikeRateModel
from calspike.preprocess import (
    fill_gaps,
    noise_levels,
    rebin_counts,
    resample,
    resampled_length,
    robust_normalise,
    robust_scales,
)
from calspike.spikes.budget import neurons_per_chunk
from calspike.spikes.model_card import ModelCard
from calspike.training import choose_device, load_checkpoint, load_model

DEFAULT_MODEL = "spike_rate_default.pt"
DFF_SPREAD_UNIT = 0.05  # dF/F: ln(spread / unit) is near 0 for typical recordings


def dff_scale_values(spreads: np.ndarray) -> np.ndarray:
    """ln(spread / 0.05): what a ``dff_scale`` rate model reads before each trace (float32).

    `spreads` (neurons,) in dF/F: `calspike.preprocess.robust_scales` of the traces.
    """
    values: np.ndarray = np.log(np.maximum(spreads, 1e-12) / DFF_SPREAD_UNIT).astype(np.float32)
    return values


def default_model_path() -> Path:
    """The shipped default spike-rate model (trained by benchmarks/train_default_rate_model.py)."""
    return Path(str(resources.files("calspike.spikes") / "weights" / DEFAULT_MODEL))


def load_rate_model(
    path: str | os.PathLike[str] | None = None,
) -> tuple[SpikeRateModel, dict[str, Any]]:
    """Load a spike-rate model and its training metadata from a checkpoint.

    Parameters
    ----------
    path : path-like, optional
        A rate-model checkpoint (`train_rate_model`, ``calspike train-rate``); the shipped
        default model when None.

    Returns
    -------
    model : SpikeRateModel
        The model, in eval mode on the CPU.
    metadata : dict
        Its checkpoint's ``extra``: training neurons and datasets, the ranges of normalised
        noise level and frame rate seen in training (`infer_spike_rates` warns outside them).

    Raises
    ------
    FileNotFoundError
        When there is no file at `path`.
    ValueError
        When the file is not a calspike checkpoint or holds another kind of model.
    """
    source = default_model_path() if path is None else Path(path)
    if not source.exists():
        raise FileNotFoundError(f"no spike-rate model at {source}")
    model = load_model(source)
    if not isinstance(model, SpikeRateModel):
        raise ValueError(f"{source}: holds a {model.kind}, not a SpikeRateModel")
    metadata = dict(load_checkpoint(source).get("extra", {}))
    try:  # found now, naming the file, not when inference starts
        _check_count_scale(ModelCard.from_dict(metadata).count_scale)
    except (TypeError, ValueError) as error:
        raise DataError(f"{source}: {error}") from None
    return model, metadata


def _check_count_scale(scale: Any) -> None:
    """ValueError unless a card's count calibration is None or a number in (0, 1000]."""
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1000
    ):
        raise ValueError(
            f"the model's count_scale must be a number in (0, 1000], got {config.shown(scale)}"
        )


def _to_model_rate(
    traces: np.ndarray, lengths: np.ndarray, rate: float, model: SpikeRateModel, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Traces prepared for the model.

    (normalised traces at the model's input rate, their lengths, the lengths of the model's
    output at its rate, the dropped-frame mask at the input's rate, the traces' spreads at
    the input rate in their units).
    """
    filled, dropped = fill_gaps(traces, lengths)
    fine, fine_lengths = resample(filled, rate, model.input_rate, lengths, threads)
    model_lengths = np.array(
        [resampled_length(int(n), rate, model.rate) for n in lengths], dtype=np.int64
    )
    spreads = np.full(len(lengths), np.nan)  # an empty neuron has no spread
    if model.dff_scale:
        spreads = np.where(lengths > 0, robust_scales(fine, fine_lengths, threads), np.nan)
    normalised = robust_normalise(fine, fine_lengths)
    return normalised, fine_lengths, model_lengths, dropped, spreads


def model_input(normalised: np.ndarray, frames: int, radius: int, subframes: int) -> np.ndarray:
    """One normalised trace at the model's input rate -> the input for `frames` output frames.

    ``subframes * (frames + 2 radius)`` values, the trace cut or extended with its edge values
    to ``subframes * frames`` and padded with them by ``subframes * radius`` on each side
    (a ``dff_scale`` model reads its spread value before them).
    """
    body = normalised[: subframes * frames]
    pad = subframes * radius
    return np.pad(body, (pad, pad + subframes * frames - body.size), mode="edge")


@torch.inference_mode()
def _rates_at_model_rate(
    model: SpikeRateModel,
    normalised: np.ndarray,
    fine_lengths: np.ndarray,
    lengths: np.ndarray,
    device: torch.device,
    tile: int,
    frames_per_batch: int,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """Expected spikes per model frame (neurons, max length) float32, 0 beyond each length.

    Of `normalised` traces at the model's input rate (lengths `fine_lengths`); a
    ``dff_scale`` model reads `scales` (`dff_scale_values`, (neurons,)) before each tile.
    """
    radius, s, lead = model.radius, model.subframes, model.leading
    if lead and scales is None:
        raise ValueError("this rate model reads each trace's dF/F spread: give scales")
    out = np.zeros((normalised.shape[0], int(lengths.max(initial=0))), dtype=np.float32)
    pieces: list[tuple[int, int, int, np.ndarray]] = []  # (row, start, stop, input)
    for row, n in enumerate(lengths):
        if n == 0:
            continue
        padded = model_input(normalised[row, : int(fine_lengths[row])], int(n), radius, s)
        for start in range(0, int(n), tile):
            stop = min(start + tile, int(n))
            pieces.append((row, start, stop, padded[s * start : s * (stop + 2 * radius)]))
    per_batch = max(1, frames_per_batch // (tile + 2 * radius))
    for first in range(0, len(pieces), per_batch):
        batch = pieces[first : first + per_batch]
        width = max(p[3].size for p in batch)
        inputs = np.empty((len(batch), lead + width), dtype=np.float32)
        for i, (row, _, _, values) in enumerate(batch):
            if lead:
                inputs[i, 0] = scales[row]  # type: ignore[index]
            inputs[i, lead : lead + values.size] = values
            # a short last tile: extend with its edge, outputs unused
            inputs[i, lead + values.size :] = values[-1]
        predicted = model(torch.from_numpy(inputs).to(device)).float().cpu().numpy()
        for i, (row, start, stop, _) in enumerate(batch):
            out[row, start:stop] = predicted[i, : stop - start]
    return out


def infer_spike_rates(
    traces: np.ndarray | Recording,
    rate: float | None = None,
    *,
    lengths: Sequence[int] | np.ndarray | None = None,
    model: SpikeRateModel | None = None,
    metadata: dict[str, Any] | None = None,
    device: str | torch.device = "auto",
    chunk_neurons: int = 256,
    tile: int = 4096,
    threads: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Infer the expected spikes in every frame of every neuron with the spike-rate model.

    Parameters
    ----------
    traces : Recording or array_like, shape (neurons, frames)
        Calcium (dF/F or as recorded), NaN for dropped frames and tail padding; or a
        Recording (its rate and lengths are used).
    rate : float, optional
        The traces' frame rate in Hz (any rate: resampled to the model's and back); required
        for an array.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each trace; for an array, the frames before its NaN tail when None.
    model : SpikeRateModel, optional
        The model (`load_rate_model`); the shipped default model when None.
    metadata : dict, optional
        The model's training metadata (`load_rate_model`): its count calibration
        (``count_scale``) and the ranges for the warnings below.
    device : str or torch.device
        "auto", "cpu", "cuda" or "cuda:i".
    chunk_neurons : int
        Most neurons processed together (fewer for long traces: about 256 MiB of working
        memory a chunk, `calspike.spikes.budget`); memory is bounded by the chunk, not by
        the recording.
    tile : int
        Model frames per tile. The model runs on batches of about 32,768 frames: small
        enough to stay in the CPU's caches (3-4x faster than 1M-frame batches).
    threads : int
        C++ threads; 0 uses all cores.
    progress : bool
        Show a progress bar over the chunks of neurons.

    Returns
    -------
    spikes : ndarray, shape (neurons, frames), float32
        Expected spike counts per input frame, NaN on dropped frames and padding.
    info : dict
        Per-neuron ``noise_level`` (standard definition, the traces' units / sqrt(Hz)) and
        ``normalised_noise_level`` (the same on the model's normalised input), the
        ``lengths`` used and the model's rate (``model_rate_hz``); for a ``dff_scale`` model,
        each trace's robust spread (``dff_spread``, NaN for an empty neuron).

    Raises
    ------
    ValueError
        For traces that are not 2-D or hold infinite values, a missing or bad `rate`, bad
        `lengths`, `chunk_neurons`, `tile` or `threads`, or a card's count_scale that is not
        a number in (0, 1000].
    DataError
        For non-numeric traces or values beyond float32's range.

    Warns
    -----
    NoiseWarning
        For neurons whose normalised noise level lies outside the model's training range,
        and, for a ``dff_scale`` model, whose spread lies outside the dF/F spreads it was
        trained on (traces that are not dF/F as a fraction).
    FrameRateWarning
        When `rate` lies outside the frame rates the model was trained on.
    EmptyNeuronWarning
        For neurons without a valid frame: their outputs are NaN.

    Examples
    --------
    >>> import calspike
    >>> recording = calspike.simulate(neurons=2, frames=3_000, rate=30.0, seed=0)
    >>> spikes, info = calspike.infer_spike_rates(recording, device="cpu")
    >>> spikes.shape, info["noise_level"].shape
    ((2, 3000), (2,))
    """
    if isinstance(traces, Recording):
        rate, lengths, values = traces.rate, traces.lengths, traces.calcium
    else:
        values = np.atleast_2d(np.asarray(traces))
        if values.ndim != 2:
            raise ValueError(f"traces must be (neurons, frames), got shape {np.shape(traces)}")
        check_numeric_dtype(values.dtype, "traces")
        check_float32_range(values, "traces")
    rate = check_rate(rate, "rate")
    checked = config.check({"threads": threads, "chunk_neurons": chunk_neurons, "tile": tile})
    chunk_neurons, tile = checked["chunk_neurons"], checked["tile"]
    if np.isinf(values).any():
        row, frame = (int(v) for v in np.argwhere(np.isinf(values))[0])
        raise ValueError(f"traces are infinite at neuron {row}, frame {frame}")
    if lengths is None:
        lengths = np.array([_valid_length(row) for row in values], dtype=np.int64)
    lengths = check_lengths(lengths, values.shape[0], values.shape[1])
    warn_empty_neurons(lengths == 0, "traces" if not isinstance(traces, Recording) else traces.name)
    if model is None:
        model, metadata = load_rate_model()
    card = ModelCard.from_dict(metadata)
    _check_count_scale(card.count_scale)
    target = choose_device(device) if not isinstance(device, torch.device) else device
    model = model.to(target).eval()
    neurons, frames = values.shape
    spikes = np.full((neurons, frames), np.nan, dtype=np.float32)
    levels, normalised_levels = np.full(neurons, np.nan), np.full(neurons, np.nan)
    spreads = np.full(neurons, np.nan)
    step = neurons_per_chunk(frames, rate, model.input_rate, chunk_neurons)
    chunks = range(0, neurons, step)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="neurons", unit="chunk", total=math.ceil(neurons / step))
    for start in chunks:
        stop = min(start + step, neurons)
        chunk, chunk_lengths = values[start:stop], lengths[start:stop]
        levels[start:stop] = noise_levels(chunk, rate, chunk_lengths)
        normalised, fine_lengths, model_lengths, dropped, chunk_spreads = _to_model_rate(
            chunk, chunk_lengths, rate, model, threads
        )
        spreads[start:stop] = chunk_spreads
        normalised_levels[start:stop] = noise_levels(normalised, model.input_rate, fine_lengths)
        model_counts = _rates_at_model_rate(
            model,
            normalised,
            fine_lengths,
            model_lengths,
            target,
            tile,
            1 << 15,
            dff_scale_values(chunk_spreads) if model.dff_scale else None,
        )
        if card.count_scale is not None:  # the calibration fitted after training
            model_counts *= np.float32(card.count_scale)
        counts = rebin_counts(model_counts, model.rate, rate, chunk_lengths, model_lengths, threads)
        counts[dropped[:, : counts.shape[1]]] = np.nan
        spikes[start:stop, : counts.shape[1]] = counts
    info = {
        "model_rate_hz": model.rate,
        "noise_level": levels,
        "normalised_noise_level": normalised_levels,
        "lengths": lengths,
    }
    _warn_outside_training(
        normalised_levels,
        card.normalised_noise_range,
        "normalised noise levels outside the model's training range",
        "their spike rates may be less reliable",
    )
    if model.dff_scale:
        info["dff_spread"] = spreads
        _warn_outside_training(
            spreads,
            card.dff_spread_range,
            "trace spreads outside the dF/F spreads the model was trained on",
            "its spike counts follow the size of dF/F transients, so give dF/F as a fraction "
            "(0.1 = 10 %), not raw fluorescence or percent; their counts may be off by a "
            "constant factor",
        )
    trained_rates = card.frame_rate_range_hz
    if trained_rates and not float(trained_rates[0]) <= rate <= float(trained_rates[1]):
        warnings.warn(
            f"the frame rate {rate:g} Hz of all {neurons} neuron(s) lies outside the rates the "
            f"model was trained on [{trained_rates[0]:g}, {trained_rates[1]:g}] Hz: their spike "
            "rates may be less reliable",
            FrameRateWarning,
            stacklevel=2,
        )
    return spikes, info


def _valid_length(row: np.ndarray) -> int:
    finite = np.flatnonzero(~np.isnan(row))
    return int(finite[-1]) + 1 if finite.size else 0


def _warn_outside_training(
    values: np.ndarray, trained: Sequence[float] | None, what: str, consequence: str
) -> None:
    """NoiseWarning naming the neurons whose `values` lie outside the `trained` (low, high).

    The message reads "N neuron(s) (rows) have `what` ... [low, high]: `consequence`".
    """
    if not trained:
        return
    low, high = float(trained[0]), float(trained[1])
    outside = np.flatnonzero((values < low) | (values > high))
    if outside.size:
        shown = ", ".join(str(int(v)) for v in outside[:10]) + (" ..." if outside.size > 10 else "")
        warnings.warn(
            f"{outside.size} neuron(s) ({shown}) have {what} [{low:.3g}, {high:.3g}]: "
            + consequence,
            NoiseWarning,
            stacklevel=3,
        )
