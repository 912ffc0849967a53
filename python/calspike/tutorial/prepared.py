"""`calspike train` and `calspike evaluate`: a model trained and scored on prepared windows.

The windows `calspike prepare` wrote: an .npz, loaded whole, or a .zarr windows store, read a
batch at a time (`calspike.tutorial.stored`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from calspike.data.recording import DataError
from calspike.feature_stacks import FEATURES, parse_features
from calspike.models import CalciumVAE, SpikeClassifier
from calspike.training import FitResult, load_checkpoint, load_model
from calspike.tutorial import stored
from calspike.tutorial.workflows import (
    explained_variance,
    score_classifier,
    train_classifier,
    train_vae,
    vae_feature_kinds,
)
from calspike.windows import Windows, sampling
from calspike.windows.store import load_windows
from calspike.windows.zarr_store import StoredWindows


def train_on_prepared(
    windows_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    model: str,
    settings: dict[str, Any],
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train the classifier or the calcium VAE on prepared windows (`calspike train`).

    An .npz, loaded whole, or a .zarr windows store, read a batch at a time
    (`calspike.tutorial.stored`).

    The windows are split by neuron (seeded); the training neurons' windows are balanced
    and capped at max_windows; the validation neurons' (balanced, capped the same way)
    decide early stopping. The split and the window settings are stored in the checkpoint
    for `evaluate_on_prepared`.
    """
    if model not in ("classifier", "vae"):
        raise ValueError(f"model must be 'classifier' or 'vae', got {model!r}")
    windows: Windows | StoredWindows = (
        StoredWindows(windows_path)
        if stored.is_store_path(windows_path)
        else load_windows(windows_path)
    )
    seed = settings["seed"]
    split = sampling.neuron_split(windows, seed)
    train_index = sampling.labelled_subset(
        windows, split["train"], max_windows=settings["max_windows"], seed=seed
    )
    val_index = sampling.labelled_subset(
        windows, split["val"], max_windows=settings["max_windows"], seed=seed
    )
    extra = {
        "windows": windows.params,
        "neurons": {part: [windows.neuron_names[n] for n in ids] for part, ids in split.items()},
    }
    kinds = (
        parse_features(settings["features"])
        if model == "classifier"
        else parse_features(settings["vae_features"], name="vae_features")
    )
    if isinstance(windows, StoredWindows):
        return stored.train_from_store(
            windows,
            train_index,
            val_index,
            model=model,
            kinds=kinds if model == "classifier" else vae_feature_kinds(kinds),
            settings=settings,
            output=output,
            extra=extra,
            resume=resume,
            progress=progress,
        )
    train, val = windows.subset(train_index), windows.subset(val_index)
    common: dict[str, Any] = {
        "batch_size": settings["batch_size"],
        "lr": settings["lr"],
        "patience": settings["patience"],
        "device": settings["device"],
        "seed": seed,
        "checkpoint": output,
        "progress": progress,
        "extra": extra,
        "resume": resume,
    }
    if model == "classifier":
        return train_classifier(
            train, val, kinds=kinds, hidden=settings["hidden"], epochs=settings["epochs"], **common
        )
    return train_vae(
        train,
        val,
        kinds=kinds,
        hidden=settings["hidden"],
        latent=settings["latent"],
        beta=settings["beta"],
        epochs=settings["epochs"],
        **common,
    )


def evaluate_on_prepared(
    checkpoint: str | os.PathLike[str],
    windows_path: str | os.PathLike[str],
    *,
    all_neurons: bool = False,
    device: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """(model kind, scores) of a `train_on_prepared` checkpoint on the neurons it never saw.

    All neurons with `all_neurons`. Scores: a classifier's accuracy, balanced accuracy, ROC AUC
    and confusion matrix, or a VAE's explained variance.
    """
    state = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    windows: Windows | StoredWindows = (
        StoredWindows(windows_path)
        if stored.is_store_path(windows_path)
        else load_windows(windows_path)
    )
    trained_on, used, kinds = _training_record(state, checkpoint)
    if trained_on is not None and trained_on != windows.params:
        differ = ", ".join(
            f"{k} {windows.params.get(k)} (trained: {trained_on.get(k)})"
            for k in sorted(set(trained_on) | set(windows.params))
            if trained_on.get(k) != windows.params.get(k)
        )
        raise ValueError(
            f"{windows_path}: cut with other window settings than {checkpoint} was trained on: "
            f"{differ}; prepare them with the same settings"
        )
    unused = np.array([name not in used for name in windows.neuron_names], dtype=bool)
    keep = np.ones(len(windows), bool) if all_neurons else unused[windows.neuron]
    if not keep.any():
        raise ValueError(
            f"{windows_path}: every neuron was used in training; --all-neurons scores them anyway"
        )
    _check_fits(model.config, kinds, windows.params, checkpoint, windows_path)
    if isinstance(windows, StoredWindows):
        if not isinstance(model, (SpikeClassifier, CalciumVAE)):
            raise ValueError(f"{checkpoint}: cannot evaluate a {state['kind']} on windows")
        return state["kind"], stored.score_from_store(
            model, windows, np.flatnonzero(keep), kinds, device
        )
    scored = windows.subset(np.flatnonzero(keep))
    if isinstance(model, SpikeClassifier):
        return state["kind"], score_classifier(model, scored, kinds, device=device)
    if isinstance(model, CalciumVAE):
        return state["kind"], {
            "windows": len(scored),
            "neurons": len(np.unique(scored.neuron)),
            "explained_variance": explained_variance(model, scored, kinds, device=device),
        }
    raise ValueError(f"{checkpoint}: cannot evaluate a {state['kind']} on windows")


def _training_record(
    state: dict[str, Any], checkpoint: str | os.PathLike[str]
) -> tuple[dict[str, Any] | None, set[str], list[str]]:
    """(window settings trained on, neurons used in training, features) of a checkpoint.

    DataError naming `checkpoint` when its ``extra`` holds them in another shape than
    `train_on_prepared` writes.
    """
    extra = state.get("extra", {})
    trained_on, neurons = extra.get("windows"), extra.get("neurons", {})
    kinds = extra.get("features", ["raw"])
    names = (
        [neurons.get(split, []) for split in ("train", "val")] if isinstance(neurons, dict) else []
    )
    if not (
        (trained_on is None or isinstance(trained_on, dict))
        and isinstance(neurons, dict)
        and all(isinstance(n, list) and all(isinstance(x, str) for x in n) for n in names)
        and isinstance(kinds, list)
        and kinds
        and all(isinstance(k, str) and k in FEATURES for k in kinds)
    ):
        raise DataError(
            f"{checkpoint}: its record of training (the windows, neurons and features in "
            "'extra') is not what calspike writes"
        )
    return trained_on, {x for n in names for x in n}, list(kinds)


def _check_fits(
    config: dict[str, Any],
    kinds: list[str],
    params: dict[str, Any],
    checkpoint: str | os.PathLike[str],
    windows_path: str | os.PathLike[str],
) -> None:
    """ValueError naming both files when the model does not take these windows' stacks."""
    channels = config.get("channels")
    if channels is not None and channels != len(kinds):
        raise ValueError(
            f"{checkpoint}: the model takes {channels} feature channel(s), but its checkpoint "
            f"names {len(kinds)} ({','.join(kinds)}): not a checkpoint `calspike train` wrote"
        )
    length, frames = config.get("length"), params.get("len_pre", 0) + params.get("len_post", 0)
    if length is not None and length != frames:
        raise ValueError(
            f"{checkpoint}: the model takes windows of {length} frames, {windows_path} holds "
            f"windows of {frames}; prepare them with the window settings it was trained on"
        )
